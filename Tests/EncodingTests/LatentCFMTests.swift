import Foundation
import Testing
import Torch
@testable import Encoding

/// Stage 2 against `Fixtures/generate_flow_matching.py`: V 12, d 8, the transformer estimator at
/// [16, 16], B 2, T 8, perturbed weights; the CFM loss for fixed t and noise, both auxiliary losses, and
/// the Euler sampler from fixed noise (25 steps, and 3 steps under a padding mask). Measured relative
/// errors: 0 for the losses, 1.6e-7 for 25 steps, 4.8e-7 for 3 padded steps.
@Suite struct LatentCFMTests {
    static func model() throws -> (LatentCFM, [String: Tensor]) {
        let config = try Fixture.decode(FlowMatchingConfig.self, "flow_configs.json", "cfm")
        try config.validate()
        let model = LatentCFM(config)
        let cases = try Fixture.tensors("flow_cfm_cases.safetensors").merging(try Fixture.tensors("flow_decoder_cases.safetensors")) { a, _ in a }
        try model.load(stateDict: Fixture.weights(cases, prefix: "cfm.weights"))
        model.eval()
        return (model, cases)
    }

    @Test func namesAndCount() throws {
        let (model, cases) = try Self.model()
        #expect(Set(model.namedParameters().map(\.name)) == Set(Fixture.weights(cases, prefix: "cfm.weights").keys))
        #expect(model.parameterCount == (try Fixture.decode(Int.self, "flow_configs.json", "cfm.parameter_count")))
        #expect(model.projIn.weight.shape == [8, 12] && model.projOut.weight.shape == [12, 8])
        // Full size: the d-128 estimator (11,217,792) plus proj_in 128,128 and proj_out 129,000 (notes A5).
        #expect(LatentCFM(FlowMatchingConfig()).parameterCount == 11_474_920)
    }

    @Test(arguments: [AuxiliaryLoss.autoencoder, .denoised])
    func lossMatchesPyTorch(aux: AuxiliaryLoss) throws {
        var (model, cases) = try Self.model()
        var config = model.config
        config.auxLoss = aux
        let weights = Fixture.weights(cases, prefix: "cfm.weights")
        model = LatentCFM(config)
        try model.load(stateDict: weights)
        model.eval()
        let loss = Torch.noGrad {
            model.loss(x1: cases["cfm.x1"]!, mu: cases["cfm.mu"]!, t: cases["cfm.t"]!.reshape([-1]), z: cases["cfm.z"]!)
        }
        expectClose(loss.cfm, try #require(cases["cfm.\(aux.rawValue).cfm"]), "CFM loss (\(aux))")
        expectClose(loss.aux, try #require(cases["cfm.\(aux.rawValue).aux"]), "auxiliary loss (\(aux))")
        expectClose(loss.total, try #require(cases["cfm.\(aux.rawValue).total"]), "total loss (\(aux))")
        #expect(abs(loss.total.item() - loss.cfm.item() - 0.1 * loss.aux.item()) < 1e-5)
    }

    /// Gradients of the denoised-form total loss reach every parameter as in PyTorch (relative error per
    /// parameter tensor; measured at most 1.3e-5, a SnakeBeta alpha, most below 6e-6).
    @Test func gradientsMatchPyTorch() throws {
        let (reference, cases) = try Self.model()
        var config = reference.config
        config.auxLoss = .denoised
        let model = LatentCFM(config)
        try model.load(stateDict: Fixture.weights(cases, prefix: "cfm.weights"))
        model.eval()
        model.loss(x1: cases["cfm.x1"]!, mu: cases["cfm.mu"]!, t: cases["cfm.t"]!.reshape([-1]), z: cases["cfm.z"]!).total.backward()
        var worst = 0.0
        for (name, p) in model.namedParameters() {
            let grad = try #require(p.grad, "\(name) has no gradient"), expected = try #require(cases["cfm.grad.\(name)"])
            expectClose(grad, expected, tolerance: 1e-4, "gradient of \(name)")
            worst = max(worst, relativeError(grad, expected))
        }
        #expect(worst < 1e-4, "largest relative error \(worst)")
    }

    @Test func eulerSamplerMatchesPyTorch() throws {
        let (model, cases) = try Self.model()
        let mu = try #require(cases["cfm.mu"]), z0 = try #require(cases["cfm.z0"])
        expectClose(model.sample(mu: mu, noise: z0), try #require(cases["cfm.sample.full"]), "25 Euler steps")
        let mask = try #require(cases["mask.padded"])
        let padded = model.sample(mu: mu, mask: mask, steps: 3, noise: z0)
        expectClose(padded, try #require(cases["cfm.sample.steps3"]), "3 Euler steps, padded")
        #expect(padded.slice(2, start: 6).select(0, 1).abs().max().item() == 0)
    }

    @Test func paddingReachesTheLengthMultiple() throws {
        var config = FlowMatchingConfig()
        (config.latentDim, config.targetDim, config.decoder.channels) = (8, 12, [16, 16, 16])
        let model = LatentCFM(config)
        let (x, mask) = model.padded(Tensor.ones([2, 12, 9]))
        #expect(x.shape == [2, 12, 12] && mask.shape == [2, 1, 12])
        #expect(mask.select(0, 0).reshape([-1]).toArray(Float.self) == [1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0])
        #expect(model.padded(Tensor.ones([1, 12, 8])).x.shape == [1, 12, 8])
    }

    @Test func configurationDecodesAndNamesMistakes() throws {
        let json = #"{"latent_dim": 32, "aux_loss": "denoised", "decoder": {"channels": [32, 32]}}"#
        let c = try JSONDecoder().decode(FlowMatchingConfig.self, from: Data(json.utf8))
        #expect(c.latentDim == 32 && c.auxLoss == .denoised && c.decoder.channels == [32, 32])
        #expect(c.sigmaMin == 1e-4 && c.nTimesteps == 25 && c.auxLossWeight == 0.1 && c.targetDim == 1000)
        func message(_ edit: (inout FlowMatchingConfig) -> Void) -> String? {
            var config = FlowMatchingConfig()
            edit(&config)
            do { try config.validate(); return nil } catch { return "\(error)" }
        }
        #expect(message { _ in } == nil)
        #expect(message { $0.sigmaMin = 1 } == "model.sigma_min: must be in [0, 1), got 1.0")
        #expect(message { $0.nTimesteps = 0 } == "model.n_timesteps: must be in 1...10000, got 0")
        #expect(message { $0.decoder.channels = [12] }
            == "model.decoder.channels: entry 0 must be a multiple of 8 (GroupNorm with 8 groups) in 8...65536, got 12")
    }
}
