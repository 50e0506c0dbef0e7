import Testing
import Torch
@testable import BrainX

/// VINDEX's target spaces: nested pooling against PyTorch's `adaptive_avg_pool2d` of the 16 × 16 grid,
/// and the layer and encoder combinations by hand.
@Suite struct TargetSpaceTests {
    @Test(arguments: [1, 9, 16, 36, 144, 256]) func nestedPoolingMatchesAdaptiveAveragePooling(count: Int) throws {
        let cases = try Fixture.cases()
        let tokens = try #require(cases["pool.tokens"])  // (2, 256, 5)
        let pooled = try TargetSpace.nestedPool(tokens, to: count)
        #expect(pooled.shape == [2, count, 5])
        expectClose(pooled, try #require(cases["pool.\(count)"]), tolerance: 1e-6, "\(count) tokens")
    }

    /// PyTorch's bins from 16 to 3 cells overlap: [0, 6), [5, 11), [10, 16).
    @Test func poolingBinsArePyTorchs() throws {
        let p = TargetSpace.adaptivePoolingMatrix(from: 16, to: 3)
        let rows = (0..<3).map { p.select(0, $0).toArray(Float.self) }
        #expect(rows.map { row in row.indices.filter { row[$0] > 0 } } == [Array(0..<6), Array(5..<11), Array(10..<16)])
        #expect(rows.allSatisfy { abs($0.reduce(0, +) - 1) < 1e-6 })
    }

    @Test func badGridsAreRefusedByName() throws {
        let withCLS = Tensor.zeros([1, 257, 4])
        #expect(throws: TargetSpaceError("clip.npy: 257 tokens do not form a square grid (drop the CLS token first)")) {
            try TargetSpace.nestedPool(withCLS, to: 9, name: "clip.npy")
        }
        #expect(throws: TargetSpaceError("targets: cannot pool a 16×16 grid to 10 tokens; expected a square count up to 256, such as [1, 9, 36, 144, 256]")) {
            try TargetSpace.nestedPool(Tensor.zeros([1, 256, 4]), to: 10)
        }
    }

    @Test func layersConcatenateOrAverage() throws {
        let a = Tensor([Float(1), 2, 3, 4], shape: [1, 2, 2]), b = Tensor([Float(5), 6, 7, 8], shape: [1, 2, 2])
        let cat = try TargetSpace.aggregate(layers: [("layer -2", a), ("layer -1", b)], .concat)
        #expect(cat.shape == [1, 2, 4] && cat.toArray(Float.self) == [1, 2, 5, 6, 3, 4, 7, 8])
        let mean = try TargetSpace.aggregate(layers: [("layer -2", a), ("layer -1", b)], .mean)
        #expect(mean.shape == [1, 2, 2] && mean.toArray(Float.self) == [3, 4, 5, 6])
        #expect(throws: TargetSpaceError("layer 12: expected tokens (1, 2, D) like layer -2, got [1, 3, 2]")) {
            try TargetSpace.aggregate(layers: [("layer -2", a), ("layer 12", Tensor.zeros([1, 3, 2]))], .concat)
        }
    }

    @Test func mixtureConcatenatesEncoders() throws {
        let clip = Tensor([Float(1), 2], shape: [1, 1, 2]), dino = Tensor([Float(3), 4, 5], shape: [1, 1, 3])
        let mixed = try TargetSpace.mixture([("clip.npy", clip), ("dino.npy", dino)])
        #expect(mixed.shape == [1, 1, 5] && mixed.toArray(Float.self) == [1, 2, 3, 4, 5])
        #expect(throws: TargetSpaceError("dino.npy: expected tokens (1, 1, D) like clip.npy, got [1, 4, 3]")) {
            try TargetSpace.mixture([("clip.npy", clip), ("dino.npy", Tensor.zeros([1, 4, 3]))])
        }
    }
}
