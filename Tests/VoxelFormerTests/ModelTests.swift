import Foundation
import Testing
import Torch
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
        #expect(reference.num_parameters == 39_742_464)
        #expect(model.brainDecoder.clipHead.parameterCount == 3_284_480)
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
