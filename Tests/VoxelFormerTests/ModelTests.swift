import Foundation
import Testing
import Torch
@testable import Training
@testable import VoxelFormer

private let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

/// The reference state dict (kushagrayadv/voxel-former @0b9d03d, paper configuration), names and shapes.
private struct ReferenceStateDict: Decodable {
    struct Entry: Decodable { let key: String; let shape: [Int] }
    let num_parameters: Int
    let keys: [Entry]
}

@Suite struct ModelTests {
    @Test func paperPresetHasTheReferenceParameterNamesShapesAndCount() throws {
        let reference = try JSONDecoder().decode(
            ReferenceStateDict.self, from: Data(contentsOf: fixtures.appendingPathComponent("voxelformer_state_dict.json")))
        let model = VoxelFormerModel(ModelConfig())
        let ours = model.namedParameters().map { ($0.name, $0.tensor.shape) }
        #expect(ours.map(\.0) == reference.keys.map(\.key))
        #expect(ours.map(\.1) == reference.keys.map(\.shape))
        #expect(model.parameterCount == 39_742_464)
        #expect(model.parameterCount == reference.num_parameters)
        // The array-valued head is a module of the tree, as the reference's nn.ModuleList is.
        let clipHead = model.namedModules().first { $0.name == "brain_decoder.clip_head" }?.module
        #expect(clipHead?.parameterCount == 3_284_480)
        #expect(model.namedBuffers().isEmpty)
    }

    /// Every stored tensor or module of every layer is a parameter, a buffer or a module of the tree, so
    /// none is left out of the optimiser or the checkpoint; with full and with kNN attention.
    @Test func everyStoredTensorAndModuleIsInTheTree() {
        for config in [Self.small, { var c = Self.small; c.fullAttention = false; return c }()] {
            let model = VoxelFormerModel(config)
            #expect(model.unreachableProperties() == [])
        }
    }

    static let small: ModelConfig = {
        var c = ModelConfig()
        (c.encoderHiddenDim, c.decoderHiddenDim, c.clipSeqDim, c.clipEmbDim, c.tomeR) = (16, 24, 4, 8, 2)
        return c
    }()

    @Test func dataParallelAndWrappedCheckpointsLoad() throws {
        let source = VoxelFormerModel(Self.small), target = VoxelFormerModel(Self.small)
        var foreign: [String: Tensor] = [:]
        for (name, t) in source.stateDict() { foreign["module.model." + name] = t }
        let report = try target.load(stateDict: foreign)
        #expect(report.isClean, "\(report)")
        #expect(target.brainDecoder.queries.toArray(Float.self) == source.brainDecoder.queries.toArray(Float.self))
    }

    @Test func aMisShapedWeightIsNamedByItsDottedKey() {
        let model = VoxelFormerModel(Self.small)
        var state = model.stateDict()
        state["brain_encoder.blocks.nat_layers.1.attn.key_proj.weight"] = Tensor.zeros([16, 15])
        let error = #expect(throws: Module.LoadError.self) { try model.load(stateDict: state) }
        #expect(error?.description == "the weights do not fit the model:\nbrain_encoder.blocks.nat_layers.1.attn.key_proj.weight: expected shape [16, 16], found [16, 15]")
    }

    @Test func tomeWorkedExampleFromTheSpec() {
        // Tokens 0..7; A = even positions (0, 2, 4, 6), B = odd (1, 3, 5, 7). The metric makes A tokens 0
        // and 2 the two best matches, with partners 1 and 3; r = 2.
        let x = Tensor((0..<8).map(Float.init), shape: [1, 8, 1])
        let metric: [[Float]] = [
            [1, 0, 0], [1, 0, 0],  // 0 -> 1 (cosine 1)
            [0, 1, 0], [0, 1, 0],  // 2 -> 3 (cosine 1)
            [0.3, 0, 0.95], [0, 0, 1],  // 4: best 0.95/|(.3, 0, .95)| = 0.9536 (with 5 and 7)
            [0.6, 0, 0.8], [0, 0, 1],  // 6: best 0.8
        ]
        let m = Tensor(metric.flatMap { $0 }, shape: [1, 8, 3])
        let (out, sizes) = TokenMerging.merge(x, metric: m, r: 2)
        // unmerged A in descending best score: 4 (0.954) before 6 (0.8); then B in order, 1 and 3 merged
        #expect(out.shape == [1, 6, 1])
        #expect(out.flatten().toArray(Float.self) == [4, 6, 0.5, 2.5, 5, 7])
        #expect(sizes.flatten().toArray(Float.self) == [1, 1, 2, 2, 1, 1])
    }
}
