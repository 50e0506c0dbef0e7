import Testing
import Torch
@testable import MindEye2

/// Parameter counts, checked against hand computation from the layer shapes (h hidden, n blocks, Q × E
/// CLIP tokens, V voxels; a Linear(a, b) holds a·b + b, a LayerNorm(d) 2d).
@Suite struct MindEye2ParameterCountTests {
    /// The fixture model: h 64, 4 blocks, Q 4, E 8, subjects of 37 and 53 voxels (PyTorch counts 42,048 too).
    @Test func smallModel() throws {
        let model = MindEye2Model(try Fixture.config("reference"))
        #expect(model.ridge.parameterCount == 5_888)             // (37·64 + 64) + (53·64 + 64)
        let b = model.backbone
        #expect(b.mixerBlocks1.map(\.parameterCount).reduce(0, +) == 33_792)  // 4 · (2·64 + 2·(64·64 + 64))
        #expect(b.mixerBlocks2.map(\.parameterCount).reduce(0, +) == 24)      // 4 · (2 + 2 + 2)
        #expect(b.backboneLinear.parameterCount == 2_080)         // 64·32 + 32
        #expect(b.clipProj.parameterCount == 264)                 // 3 · (2·8 + 8·8 + 8)
        #expect(model.parameterCount == 42_048)
        let counts = try Fixture.config("reference").parameterCounts
        #expect(counts.ridge == [2_432, 3_456] && counts.backbone == b.parameterCount)
    }

    /// MindEye2 at hidden 1024 for subject 1 (15,724 voxels), no low-level submodule: the counts the
    /// reference notebook prints (ridge 16,102,400, backbone 453,360,280; /work/shared/ref/mindeye2.md §3.1).
    /// Builds the full model (about 1.9 GB of float32).
    @Test func subject1AtHidden1024() throws {
        var config = MindEye2Config()
        config.hiddenDim = 1024
        config.numVoxels = [15724]
        let model = MindEye2Model(config)
        #expect(model.ridge.parameterCount == 16_102_400)        // 15724·1024 + 1024
        let b = model.backbone
        #expect(b.mixerBlocks1.map(\.parameterCount).reduce(0, +) == 8_404_992)  // 4 · (2·1024 + 2·(1024² + 1024))
        #expect(b.mixerBlocks2.map(\.parameterCount).reduce(0, +) == 24)         // 4 · (LayerNorm(1) 2 + 2 · Linear(1, 1) 2)
        #expect(b.backboneLinear.parameterCount == 436_633_600)  // 1024·425,984 + 425,984, 425,984 = 256·1664
        #expect(b.clipProj.parameterCount == 8_321_664)          // 3 · (2·1664 + 1664² + 1664)
        #expect(b.parameterCount == 453_360_280)
        #expect(model.parameterCount == 469_462_680)
        #expect(config.parameterCounts.ridge == [16_102_400] && config.parameterCounts.backbone == 453_360_280)
    }
}
