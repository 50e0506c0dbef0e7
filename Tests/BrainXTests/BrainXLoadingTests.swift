import Foundation
import Testing
import Torch
@testable import BrainX

/// Weights that do not fit fail strict loading with the dotted reference key; wrapper prefixes load;
/// BrainXC takes the perceiver of a cross-subject checkpoint and nothing else.
@Suite struct BrainXLoadingTests {
    @Test func aWrongShapeNamesTheKeyAndBothShapes() throws {
        var weights = try Fixture.weights("brainx")
        weights["perceiver.perceiver.layers.1.0.to_kv.weight"] = Tensor.zeros([47, 32])
        let model = try makeBrainX(try Fixture.config("brainx"))
        let before = model.perceiver.llmProj.weight.toArray(Float.self)
        let error = #expect(throws: Module.LoadError.self) { try model.load(stateDict: weights) }
        #expect(error?.description.contains("perceiver.perceiver.layers.1.0.to_kv.weight: expected shape [48, 32], found [47, 32]") == true)
        #expect(model.perceiver.llmProj.weight.toArray(Float.self) == before)
    }

    @Test func aMissingKeyIsNamed() throws {
        var weights = try Fixture.weights("brainx")
        weights["token.fmri3"] = nil
        weights["lin2.fmri1.bias"] = nil
        let error = #expect(throws: Module.LoadError.self) { try makeBrainX(try Fixture.config("brainx")).load(stateDict: weights) }
        #expect(error?.report.missing == ["lin2.fmri1.bias", "token.fmri3"])
    }

    /// A subject built with another voxel count: that subject's lin2 is named.
    @Test func aSubjectsVoxelCountMismatchNamesItsTokenizer() throws {
        var config = try Fixture.config("brainx")
        config.numVoxels = [37, 54]
        let error = #expect(throws: Module.LoadError.self) { try makeBrainX(config).load(stateDict: try Fixture.weights("brainx")) }
        #expect(error?.description.contains("lin2.fmri3.weight: expected shape [32, 54], found [32, 53]") == true)
    }

    /// Accelerate/DDP's `module.` and a wrapper's `model.` load as if absent.
    @Test(arguments: ["module.", "model.", "module.model."]) func wrapperPrefixesLoad(prefix: String) throws {
        let weights = try Fixture.weights("brainxs")
        let model = try makeBrainX(try Fixture.config("brainxs"))
        let report = try model.load(stateDict: Dictionary(uniqueKeysWithValues: weights.map { (prefix + $0.key, $0.value) }))
        #expect(report.isClean)
        model.eval()
        let cases = try Fixture.cases()
        let out = Torch.noGrad { model(try! #require(cases["brainxs.subject0.voxels"]), subject: 0) }
        expectClose(out, try #require(cases["brainxs.subject0.output"]), "brainxs through \(prefix)")
    }

    /// The reference's adaptation: a BrainXC of a new subject takes a BrainX checkpoint's perceiver, its
    /// tokenizer stays as initialised, and the checkpoint's other keys (the `lin1.fmri{s}`, `lin2.fmri{s}`,
    /// `token.fmri{s}` the reference reports as unexpected) are returned.
    @Test func adaptationTransfersThePerceiverOnly() throws {
        var config = try Fixture.config("brainx")
        config.variant = .brainxc
        config.subjects = [7]
        config.numVoxels = [45]
        config.useToken = false
        let model = try #require(try makeBrainX(config) as? BrainXC)
        let lin2Before = model.lin2.weight.toArray(Float.self)
        let checkpoint = try Fixture.weights("brainx")
        let skipped = try model.loadPerceiver(from: Dictionary(uniqueKeysWithValues: checkpoint.map { ("module." + $0.key, $0.value) }))
        #expect(skipped.count == 10 && skipped.allSatisfy { !$0.hasPrefix("module.perceiver.") })
        for (name, tensor) in model.perceiver.namedParameters(prefix: "perceiver.") {
            let expected = try #require(checkpoint[name])
            #expect((tensor - expected).abs().max().item() == 0, "\(name)")
        }
        #expect(model.lin2.weight.toArray(Float.self) == lin2Before)
    }

    @Test func adaptationNamesAMissingPerceiverKey() throws {
        var config = try Fixture.config("brainxs")
        config.variant = .brainxc
        var checkpoint = try Fixture.weights("brainx")
        checkpoint["perceiver.perceiver.latents"] = nil
        let model = try #require(try makeBrainX(config) as? BrainXC)
        let error = #expect(throws: Module.LoadError.self) { try model.loadPerceiver(from: checkpoint) }
        #expect(error?.report.missing == ["perceiver.perceiver.latents"])
    }

    /// With `freeze_perceiver` only the tokenizer trains: at UMBRAE's sizes for subject 7 that is
    /// 12,987,904 of 102,422,016 parameters (the notes' counts; the model is built, about 410 MB).
    @Test func frozenPerceiverLeavesTheTokenizerTrainable() throws {
        var config = BrainXConfig.nsd(.brainxc, subjects: [7])
        config.freezePerceiver = true
        let model = try #require(try makeBrainX(config) as? BrainXC)
        #expect(model.parameterCount == 102_422_016)
        #expect(model.trainableParameters.map(\.name) == ["lin1.weight", "lin1.bias", "lin2.weight", "lin2.bias"])
        #expect(model.trainableParameters.reduce(0) { $0 + $1.tensor.count } == 12_987_904)
        config.freezePerceiver = false
        #expect(BrainXC(config).trainableParameters.count == model.namedParameters().count)
    }

    /// A training step of a frozen BrainXC: the loss reaches the tokenizer and no perceiver parameter.
    @Test func frozenPerceiverTakesNoGradient() throws {
        var config = try Fixture.config("brainxs")
        config.variant = .brainxc
        config.freezePerceiver = true
        let model = try makeBrainX(config)
        let voxels = try #require(try Fixture.cases()["brainxs.subject0.voxels"])
        ReconstructionLoss.mse(model(voxels, subject: 0), Tensor.zeros([3, 8, 24])).backward()
        for (name, p) in model.namedParameters() {
            if name.hasPrefix("perceiver.") {
                #expect(p.grad == nil, "\(name)")
            } else {
                #expect((p.grad?.abs().max().item() ?? 0) > 0, "\(name)")
            }
        }
    }

    @Test func configurationMistakesNameTheKey() throws {
        func message(_ edit: (inout BrainXConfig) -> Void) -> String? {
            var config = BrainXConfig()
            edit(&config)
            do { try config.validate(); return nil } catch { return "\(error)" }
        }
        #expect(message { _ in } == nil)
        #expect(message { $0.heads = 0 } == "model.heads: must be at least 1, got 0")
        #expect(message { $0.depth = -1 } == "model.depth: must be in 0...1024, got -1")
        #expect(message { $0.numVoxels = [1, 2, 3] } == "model.num_voxels: must give one count per subject (4), got 3")
        #expect(message { $0.numVoxels[2] = 0 } == "model.num_voxels: entry 2 must be at least 1, got 0")
        #expect(message { $0.subjects = [1, 1, 2, 3] } == "model.subjects: lists a subject twice: [1, 1, 2, 3]")
        #expect(message { $0.variant = .brainxs } == "model.subjects: brainxs is a single-subject model: list one subject, got 4")
        #expect(message { $0.useNorm = true }
            == "model.tokenizer: outer needs use_norm false (LayerNorm and GELU after lin1 are not linear in the voxels); use plain")
        #expect(message { $0.useToken = true; $0.numTokens = 0 } == "model.num_tokens: must be at least 1 with use_token, got 0")
        #expect(message { $0.freezePerceiver = true }
            == "model.freeze_perceiver: only the brainxc variant freezes its perceiver, got variant brainx")
    }

    @Test func defaultsAreUMBRAEsCrossSubjectModel() throws {
        let d = try JSONDecoder().decode(BrainXConfig.self, from: Data("{}".utf8))
        #expect(d == BrainXConfig())
        #expect(d.subjects == [1, 2, 5, 7] && d.numVoxels == [15724, 14278, 13039, 12682])
        #expect(d.hiddenDim == 1024 && d.outDim == 1024 && d.numLatents == 256)
        #expect(d.depth == 6 && d.heads == 16 && d.dimHead == 96 && d.ffMult == 4)
        #expect(!d.useToken && d.numTokens == 5 && !d.useNorm && d.tokenizer == .outer && d.variant == .brainx)
        #expect(BrainXConfig.nsd(subjects: [1, 2, 5, 7]) == d)
        let bad = #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(BrainXConfig.self, from: Data(#"{"tokenizer": "fast"}"#.utf8))
        }
        #expect("\(String(describing: bad))".contains("expected plain or outer, got 'fast'"))
    }
}
