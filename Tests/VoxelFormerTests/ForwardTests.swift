import Foundation
import Testing
import Torch
@testable import VoxelFormer

/// One evaluation-mode forward pass of a small model (C = H = 16, 2 heads, r = 3, Q = 4, E = 8, V = 20,
/// B = 2) with seeded random weights (LayerScale ~0.5), against the spec-faithful PyTorch model in
/// `Fixtures/generate_fixtures.py`. The weights use the reference state-dict names and load strictly.
@Suite struct ForwardTests {
    static let variants = ["full", "knn", "tome_sizes", "clip_head"]

    static func cases() throws -> [String: Tensor] { try Safetensors.read(Fixture.url("forward_cases.safetensors")) }
    static func config(_ variant: String) throws -> ModelConfig {
        let all = try JSONDecoder().decode([String: ModelConfig].self,
                                           from: Data(contentsOf: Fixture.url("forward_configs.json")))
        return try #require(all[variant])
    }

    @Test func variantConfigurationsDecodeFromTheReferenceKeys() throws {
        let full = try Self.config("full"), knn = try Self.config("knn")
        let sizes = try Self.config("tome_sizes"), head = try Self.config("clip_head")
        #expect(full.encoderHiddenDim == 16 && full.numHeads == 2 && full.tomeR == 3 && full.clipSeqDim == 4)
        #expect(full.fullAttention && !full.tomeCarrySizes && !full.clipThroughHead)
        #expect(!knn.fullAttention && knn.natNumNeighbors == 3 && knn.lastNFeatures == 4)
        #expect(sizes.tomeCarrySizes && sizes.tomeProportionalAttention)
        #expect(head.clipThroughHead)
    }

    @Test(arguments: variants) func forwardMatchesPyTorch(variant: String) throws {
        let config = try Self.config(variant)
        let cases = try Self.cases()
        let model = VoxelFormerModel(config)
        let report = try model.load(stateDict: try Safetensors.read(Fixture.url("forward_weights.safetensors")))
        #expect(report.isClean)
        model.eval()
        let voxels = try #require(cases["voxels"]), coords = try #require(cases["coords"])
        #expect(voxels.shape == [2, 1, 20] && coords.shape == [20, 3] && coords.dtype == .int64)
        #expect(model.brainEncoder.outputTokens(voxels: 20) == 14)
        let (backbone, clip) = Torch.noGrad { model(voxels, coords: coords) }
        #expect(backbone.shape == [2, 4, 8] && clip.shape == [2, 4, 8])
        expectClose(backbone, try #require(cases["\(variant).backbone"]), atol: 1e-4, rtol: 1e-4, "\(variant) backbone")
        expectClose(clip, try #require(cases["\(variant).clip_voxels"]), atol: 1e-4, rtol: 1e-4, "\(variant) clip_voxels")
    }

    /// Each option changes our output on these weights: a variant computed with the option ignored would
    /// land on the full model's PyTorch output, so it must be far from it. The clip head leaves the
    /// backbone path alone: our clip_head backbone equals PyTorch's full-model backbone.
    @Test func eachOptionChangesOurOutput() throws {
        let cases = try Self.cases()
        let weights = try Safetensors.read(Fixture.url("forward_weights.safetensors"))
        let voxels = try #require(cases["voxels"]), coords = try #require(cases["coords"])
        func ours(_ variant: String) throws -> (backbone: Tensor, clip: Tensor) {
            let model = VoxelFormerModel(try Self.config(variant))
            try model.load(stateDict: weights)
            model.eval()
            let out = Torch.noGrad { model(voxels, coords: coords) }
            return (out.backbone, out.clipVoxels)
        }
        let fullBackbone = try #require(cases["full.backbone"]), fullClip = try #require(cases["full.clip_voxels"])
        #expect((try ours("knn").backbone - fullBackbone).abs().max().item() > 1e-2)
        #expect((try ours("tome_sizes").backbone - fullBackbone).abs().max().item() > 1e-2)
        let head = try ours("clip_head")
        #expect((head.clip - fullClip).abs().max().item() > 1e-2)
        expectClose(head.backbone, fullBackbone, atol: 1e-4, rtol: 1e-4, "clip_head backbone")
    }

    @Test func evaluationIsDeterministicAndTrainingIsNot() throws {
        let config = try Self.config("full")
        let cases = try Self.cases()
        let model = VoxelFormerModel(config)
        try model.load(stateDict: try Safetensors.read(Fixture.url("forward_weights.safetensors")))
        let voxels = try #require(cases["voxels"]), coords = try #require(cases["coords"])
        model.eval()
        let a = Torch.noGrad { model(voxels, coords: coords).clipVoxels }
        let b = Torch.noGrad { model(voxels, coords: coords).clipVoxels }
        #expect((a - b).abs().max().item() == 0)
        model.train()
        let c = Torch.noGrad { model(voxels, coords: coords).clipVoxels }
        #expect((a - c).abs().max().item() > 1e-3)
    }
}
