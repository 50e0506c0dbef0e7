import Foundation
import Testing
import Torch
@testable import Encoding

/// `latent: pca` (LatentCFM.fitPrincipalComponents): facts that hold for the whitened principal components
/// and fail for any other map. Responses of rank 3 (a mean plus 3 directions with standard deviations 4, 2
/// and 0.5) in V 10 parcels, d 3:
/// - the latent of the responses has mean 0 and identity covariance (whitened, unit-variance channels);
/// - proj_out(proj_in(x)) gives x back (the d components span the responses);
/// - both projections are frozen, and the optimised parameters are the U-Net's alone.
@Suite struct LatentPCATests {
    static func model(latent: LatentProjection) -> LatentCFM {
        var config = FlowMatchingConfig()
        (config.latentDim, config.targetDim, config.latent) = (3, 10, latent)
        (config.decoder.channels, config.decoder.attentionHeadDim, config.decoder.numHeads) = ([8, 8], 4, 2)
        return LatentCFM(config)
    }

    @Test func whitensAndReconstructsLowRankResponses() throws {
        Torch.manualSeed(7)
        let n = 400
        let directions = Tensor.randn([3, 10])
        let codes = Tensor.randn([n, 3]) * Tensor([Float(4), 2, 0.5])
        let responses = codes.matmul(directions) + Tensor.randn([10])
        let model = Self.model(latent: .pca)
        model.fitPrincipalComponents(responses)

        let latent = model.projIn(responses)  // (N, d)
        let mean = latent.mean(0)
        #expect(mean.abs().max().item() < 1e-4)
        let centred = latent - mean
        let covariance = centred.transpose(0, 1).matmul(centred) / Double(n - 1)
        #expect((covariance - Tensor.eye(3)).abs().max().item() < 1e-3)

        let back = model.projOut(latent)
        let scale = responses.abs().max().item()
        #expect((back - responses).abs().max().item() / scale < 1e-4)
    }

    @Test func projectionsAreFrozenOnlyForPCA() {
        let pca = Self.model(latent: .pca), learned = Self.model(latent: .learned)
        #expect(pca.projIn.parameters().allSatisfy { !$0.requiresGrad })
        #expect(pca.projOut.parameters().allSatisfy { !$0.requiresGrad })
        #expect(pca.estimator.parameters().allSatisfy { $0.requiresGrad })
        #expect(learned.parameters().allSatisfy { $0.requiresGrad })
    }
}
