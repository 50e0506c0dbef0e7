import Foundation
import Testing
import Torch
@testable import Training
@testable import VoxelFormer

/// The diffusion prior against `Fixtures/generate_prior.py`, a PyTorch re-implementation with the
/// reference's state-dict names: a small prior (dim 32, depth 2, 2 heads of 40 dims, so that the 32-dim
/// rotary embedding leaves channels untouched as at full size, 4 tokens) with seeded weights: its forward
/// pass, loss, schedule and DDIM sampling. Seeded tests use libtorch's process-wide generator, so the
/// suite runs serially (and `make test` runs tests one at a time).
@Suite(.serialized) struct PriorTests {
    static let small: PriorConfig = {
        var c = PriorConfig(dim: 32, depth: 2, dimHead: 40, numTokens: 4)
        c.heads = 2  // heads·dim_head need not equal dim
        return c
    }()

    struct Schedule: Decodable {
        struct Coefficients: Decodable { let alpha, alphaNext, c1, c2: [Double] }
        let betas, alphasCumprod: [Double]
        let ddimTimes, ddimNextTimes: [Int]
        let eta0, eta1: Coefficients
        let bucketOffsets, buckets: [Int]
    }

    static func cases() throws -> [String: Tensor] { try Safetensors.read(Fixture.url("prior_cases.safetensors")) }
    static func loadedPrior() throws -> DiffusionPrior {
        let prior = DiffusionPrior(small)
        let report = try prior.load(stateDict: try Safetensors.read(Fixture.url("prior_weights.safetensors")))
        #expect(report.isClean, "\(report)")
        return prior
    }

    // MARK: size and names

    @Test func referenceSizeHasTheReferenceParameterCount() {
        let prior = DiffusionPrior(PriorConfig())
        #expect(prior.config.heads == 32 && prior.config.rotaryDim == 32)
        #expect(prior.referenceParameterCount == 259_865_216)
        // The 16 rotary rates are a frozen parameter in PyTorch and a buffer here.
        #expect(prior.parameterCount == 259_865_200)
        let state = prior.stateDict()
        #expect(state["net.causal_transformer.layers.5.0.to_kv.weight"]?.shape == [104, 1664])
        #expect(state["net.causal_transformer.layers.5.0.to_q.weight"]?.shape == [1664, 1664])
        #expect(state["net.causal_transformer.layers.0.1.1.weight"]?.shape == [13312, 1664])
        #expect(state["net.causal_transformer.layers.0.1.5.weight"]?.shape == [1664, 6656])
        #expect(state["net.to_time_embeds.0.1.net.1.0.weight"]?.shape == [3328, 3328])
        #expect(state["net.causal_transformer.rel_pos_bias.relative_attention_bias.weight"]?.shape == [32, 32])
        #expect(state["net.null_brain_embeds"]?.shape == [256, 1664])
        #expect(state["net.causal_transformer.layers.3.0.rotary_emb.freqs"]?.shape == [16])
        #expect(state["noise_scheduler.alphas_cumprod"]?.shape == [100])
    }

    @Test func fixtureWeightsLoadStrictlyUnderTheReferenceNames() throws {
        let file = try Safetensors.read(Fixture.url("prior_weights.safetensors"))
        let prior = DiffusionPrior(Self.small)
        #expect(Set(prior.stateDict().keys) == Set(file.keys))
        #expect(file.count == 45)
        let report = try prior.load(stateDict: file)
        #expect(report.isClean)
        var broken = file
        broken["net.causal_transformer.layers.1.0.null_kv"] = Tensor.zeros([3, 40])
        let error = #expect(throws: Module.LoadError.self) { try DiffusionPrior(Self.small).load(stateDict: broken) }
        #expect(error?.description == "the weights do not fit the model:\nnet.causal_transformer.layers.1.0.null_kv: expected shape [2, 40], found [3, 40]")
    }

    /// MindEye2's layout (and ours inside a training checkpoint) keeps the prior under `diffusion_prior.`.
    @Test func checkpointPrefixesAreSanitized() throws {
        let file = try Safetensors.read(Fixture.url("prior_weights.safetensors"))
        for prefix in ["diffusion_prior.", "model.diffusion_prior.", "module.diffusion_prior."] {
            let prior = DiffusionPrior(Self.small)
            let report = try prior.load(stateDict: Dictionary(uniqueKeysWithValues: file.map { (prefix + $0.key, $0.value) }))
            #expect(report.isClean, "\(prefix): \(report)")
            #expect(prior.net.learnedQuery.toArray(Float.self) == file["net.learned_query"]!.toArray(Float.self))
        }
    }

    @Test func everyStoredTensorAndModuleIsInTheTree() {
        #expect(DiffusionPrior(Self.small).unreachableProperties() == [])
    }

    // MARK: forward pass and loss

    @Test func forwardMatchesPyTorch() throws {
        let prior = try Self.loadedPrior()
        prior.eval()
        let c = try Self.cases()
        let brain = try #require(c["brain"]), times = try #require(c["times"])
        let noisy = prior.noiseScheduler.qSample(try #require(c["target"]), times: times, noise: try #require(c["noise"]))
        expectClose(noisy, try #require(c["noisy"]), atol: 1e-6, rtol: 1e-6, "q_sample")
        let out = Torch.noGrad { prior.net(noisy, times: times, brain: brain) }
        #expect(out.shape == [2, 4, 32])
        expectClose(out, try #require(c["forward"]), atol: 1e-4, rtol: 1e-4, "forward")
        let null = Torch.noGrad { prior.net(noisy, times: times, brain: brain, brainDropProb: 1, imageDropProb: 1) }
        expectClose(null, try #require(c["forward_null"]), atol: 1e-4, rtol: 1e-4, "forward, both dropped")
        #expect((out - null).abs().max().item() > 1e-2)
    }

    @Test func lossForFixedTimesAndNoiseMatchesPyTorch() throws {
        let prior = try Self.loadedPrior()
        prior.eval()  // no condition dropout
        let c = try Self.cases()
        let (loss, prediction) = Torch.noGrad {
            prior.lossAndPrediction(backbone: try! #require(c["brain"]), target: try! #require(c["target"]),
                                    times: c["times"], noise: c["noise"])
        }
        #expect(loss.shape == [])
        expectClose(loss, try #require(c["loss"]).reshape([]), atol: 1e-5, rtol: 1e-5, "loss")
        expectClose(prediction, try #require(c["forward"]), atol: 1e-4, rtol: 1e-4, "prediction")
    }

    /// In training mode the loss draws times, noise and both dropout masks from the generator in the
    /// reference's order; this seed drops some conditions and some noisy targets (see the fixture).
    @Test func seededTrainingLossMatchesPyTorchIncludingDropout() throws {
        let prior = try Self.loadedPrior()
        let c = try Self.cases()
        let brain = try #require(c["seeded_brain"]), target = try #require(c["seeded_target"])
        #expect(try #require(c["seeded_keep_brain"]).toArray(Int.self) == [1, 1, 1, 0, 1, 1])
        #expect(try #require(c["seeded_keep_image"]).toArray(Int.self) == [0, 1, 0, 1, 1, 1])
        prior.train()
        Torch.manualSeed(2)
        let loss = Torch.noGrad { prior.loss(backbone: brain, target: target) }
        expectClose(loss, try #require(c["seeded_loss"]).reshape([]), atol: 1e-5, rtol: 1e-5, "seeded loss")
        // The same draws without dropout (evaluation mode) give another value.
        prior.eval()
        Torch.manualSeed(2)
        let undropped = Torch.noGrad { prior.loss(backbone: brain, target: target) }
        #expect(Swift.abs(undropped.item() - loss.item()) > 1e-3)
        Torch.manualSeed(2)
        #expect(Tensor.randint(0, 100, [6]).toArray(Int.self) == (try #require(c["seeded_times"])).toArray(Int.self))
    }

    @Test func lossGradientsReachTheConditionAndTheWeights() throws {
        let prior = try Self.loadedPrior()
        let c = try Self.cases()
        let brain = try #require(c["brain"]).clone().requiresGrad()
        let loss = prior.loss(backbone: brain, target: try #require(c["target"]))
        loss.backward()
        #expect((try #require(brain.grad)).abs().sum().item() > 0)
        #expect((try #require(prior.net.causalTransformer.projectOut.weight.grad)).abs().sum().item() > 0)
        #expect(prior.net.causalTransformer.rotary.freqs.grad == nil)
    }

    /// Every parameter's gradient of the fixed-draw loss, and the condition's, against PyTorch's autograd over
    /// the generator's prior (`prior_grads.safetensors`).
    @Test func lossGradientsMatchPyTorch() throws {
        let prior = try Self.loadedPrior()
        prior.eval()  // no condition dropout
        let c = try Self.cases()
        let expected = try Safetensors.read(Fixture.url("prior_grads.safetensors"))
        let brain = try #require(c["brain"]).clone().requiresGrad()
        prior.lossAndPrediction(backbone: brain, target: try #require(c["target"]), times: c["times"], noise: c["noise"])
            .loss.backward()
        expectClose(try #require(brain.grad), try #require(expected["brain"]), atol: 1e-6, rtol: 1e-4, "brain")
        var compared = 0
        for (name, parameter) in prior.namedParameters() {
            let want = try #require(expected[name], "\(name) has no PyTorch gradient")
            // The null embeddings get none when nothing is dropped; PyTorch leaves them at None.
            let got = parameter.grad ?? Tensor.zeros(parameter.shape)
            expectClose(got, want, atol: 1e-6, rtol: 1e-4, name)
            compared += 1
        }
        #expect(compared == 30)
    }

    /// The transformer's last layer computes only the positions whose outputs are read: the same values and
    /// the same gradients as slicing the full output, with and without the causal mask (and with no layer).
    @Test(arguments: [(false, 2), (true, 2), (false, 0)]) func keptOutputsMatchTheSlicedFullOutput(causal: Bool, depth: Int) throws {
        Torch.manualSeed(5)
        let transformer = PriorTransformer(dim: 32, depth: depth, dimHead: 40, heads: 2, causal: causal)
        let x = Tensor.randn([2, 9, 32]), weights = Tensor.randn([2, 4, 32])
        let full = transformer(x).slice(1, start: 5)
        (full * weights).sum().backward()
        // With no layer, the position bias is unused and has no gradient on either path.
        let fullGrads = transformer.namedParameters().map { ($0.name, $0.tensor.grad?.clone() ?? Tensor.zeros($0.tensor.shape)) }
        transformer.zeroGrad()
        let kept = transformer(x, outputsFrom: 5)
        #expect(kept.shape == [2, 4, 32])
        expectClose(kept, full, atol: 1e-6, rtol: 1e-6, "outputs")
        (kept * weights).sum().backward()
        for (name, grad) in fullGrads {
            let tensor = try #require(transformer.namedParameters().first { $0.name == name }).tensor
            expectClose(tensor.grad ?? Tensor.zeros(tensor.shape), grad, atol: 1e-6, rtol: 1e-5, name)
        }
    }

    // MARK: schedule

    @Test func cosineScheduleMatchesPyTorch() throws {
        let s = try Fixture.decode(Schedule.self, "prior_schedule.json")
        let schedule = DiffusionSchedule(timesteps: 100)
        expectClose(schedule.betas, s.betas, atol: 1e-7, rtol: 1e-6, "betas")
        expectClose(schedule.alphasCumprod, s.alphasCumprod, atol: 1e-8, rtol: 1e-6, "alphas_cumprod")
        #expect(schedule.betas.toArray(Double.self).last == Double(Float(0.999)))  // the clipped last step
        let file = try Safetensors.read(Fixture.url("prior_weights.safetensors"))
        for (name, buffer) in schedule.namedBuffers() {
            expectClose(buffer, try #require(file["noise_scheduler." + name]), atol: 1e-6, rtol: 1e-5, name)
        }
    }

    @Test func ddimStepsMatchPyTorch() throws {
        let s = try Fixture.decode(Schedule.self, "prior_schedule.json")
        let schedule = DiffusionSchedule(timesteps: 100)
        let pairs = schedule.ddimTimePairs(steps: 20)
        #expect(pairs.map(\.time) == s.ddimTimes)
        #expect(pairs.map(\.next) == s.ddimNextTimes)
        #expect(pairs.first! == (94, 89) && pairs.last! == (4, -1))
        for (eta, expected) in [(0.0, s.eta0), (1.0, s.eta1)] {
            let steps = schedule.ddimSteps(steps: 20, eta: eta).filter { $0.nextTime >= 0 }
            #expect(steps.count == 18)
            func close(_ a: [Float], _ b: [Double], _ what: String) {
                #expect(a.count == b.count)
                for (x, y) in zip(a, b) { #expect(Swift.abs(Double(x) - y) <= 1e-6 + 1e-6 * Swift.abs(y), "\(what) eta \(eta)") }
            }
            close(steps.map(\.alpha), expected.alpha, "alpha")
            close(steps.map(\.alphaNext), expected.alphaNext, "alpha_next")
            close(steps.map(\.c1), expected.c1, "c1")
            close(steps.map(\.c2), expected.c2, "c2")
        }
        #expect(schedule.ddimSteps(steps: 20, eta: 0).allSatisfy { $0.c1 == 0 })
    }

    @Test func relativePositionBucketsMatchPyTorch() throws {
        let s = try Fixture.decode(Schedule.self, "prior_schedule.json")
        let buckets = RelativePositionBias.bucket(Tensor(s.bucketOffsets))
        #expect(buckets.dtype == .int64)
        #expect(buckets.toArray(Int.self) == s.buckets)
        #expect(RelativePositionBias.bucket(Tensor([-15, -16, -17, -32, -64, -100, -127, -128, 2])).toArray(Int.self)
                == [15, 16, 16, 21, 26, 30, 31, 31, 0])  // 16 + floor(16·log2(n/16)/3), at most 31
    }

    // MARK: sampling

    @Test func seededSamplingIsDeterministic() throws {
        let prior = try Self.loadedPrior()
        prior.eval()
        let brain = try #require(try Self.cases()["brain"])
        let a = prior.sample(backbone: brain, steps: 20, eta: 1, seed: 7)
        // The config's defaults (20 steps, no guidance, eta 0) are the fixture's first case.
        expectClose(prior.sample(backbone: brain, seed: 7), try #require(try Self.cases()["sample_eta0"]),
                    atol: 1e-4, rtol: 1e-4, "sampling with the config's defaults")
        let b = prior.sample(backbone: brain, steps: 20, eta: 1, seed: 7)
        let other = prior.sample(backbone: brain, steps: 20, eta: 1, seed: 8)
        #expect(a.shape == [2, 4, 32])
        #expect(a.toArray(Float.self) == b.toArray(Float.self))
        #expect((a - other).abs().max().item() > 1e-3)
    }

    @Test func seededSamplingMatchesPyTorch() throws {
        let prior = try Self.loadedPrior()
        prior.eval()
        let c = try Self.cases()
        let brain = try #require(c["brain"])
        let plain = prior.sample(backbone: brain, steps: 20, guidanceScale: 1, eta: 0, seed: 7)
        expectClose(plain, try #require(c["sample_eta0"]), atol: 1e-4, rtol: 1e-4, "DDIM eta 0")
        let guided = prior.sample(backbone: brain, steps: 20, guidanceScale: 2, eta: 1, seed: 7)
        expectClose(guided, try #require(c["sample_eta1_guided"]), atol: 1e-4, rtol: 1e-4, "DDIM eta 1, guidance 2")
    }

    @Test func seededSamplingLeavesTheGeneratorAsItWas() throws {
        let prior = try Self.loadedPrior()
        let brain = try #require(try Self.cases()["brain"])
        Torch.manualSeed(11)
        let expected = Tensor.randn([5]).toArray(Float.self)
        Torch.manualSeed(11)
        _ = prior.sample(backbone: brain, steps: 5, seed: 3)
        #expect(Tensor.randn([5]).toArray(Float.self) == expected)
    }

    // MARK: configuration

    @Test func configDecodesSnakeCaseKeysWithPaperDefaults() throws {
        let json = #"{"dim": 64, "dim_head": 16, "heads": 4, "num_tokens": 8, "cond_drop_prob": 0.1, "sampling_steps": 10}"#
        let config = try JSONDecoder().decode(PriorConfig.self, from: Data(json.utf8))
        #expect(config.dim == 64 && config.dimHead == 16 && config.heads == 4 && config.numTokens == 8)
        #expect(config.condDropProb == 0.1 && config.samplingSteps == 10)
        #expect(config.depth == 6 && config.timesteps == 100 && config.learnedQueryMode == "pos_emb" && !config.causal)
        try config.validate()
        let paper = PriorConfig()
        #expect(paper.dim == 1664 && paper.heads == 32 && paper.dimHead == 52 && paper.numTokens == 256)
        #expect(paper.condDropProb == 0.2 && paper.samplingSteps == 20 && paper.eta == 0)
        try paper.validate()
        let encoded = try JSONEncoder().encode(paper)
        #expect(try JSONDecoder().decode(PriorConfig.self, from: encoded) == paper)
        #expect(String(decoding: encoded, as: UTF8.self).contains("\"learned_query_mode\":\"pos_emb\""))
    }

    @Test func configErrorsNameTheKey() {
        var c = PriorConfig()
        c.learnedQueryMode = "token"
        #expect(throws: ConfigError("prior.learned_query_mode: only \"pos_emb\" is supported, got \"token\"")) {
            try c.validate()
        }
        c = PriorConfig()
        c.samplingSteps = 100
        #expect(throws: ConfigError("prior.sampling_steps: must lie in 2..<timesteps (100), got 100")) { try c.validate() }
        c = PriorConfig()
        c.condDropProb = 1.5
        #expect(throws: ConfigError("prior.cond_drop_prob: must lie in [0, 1], got 1.5")) { try c.validate() }
    }
}
