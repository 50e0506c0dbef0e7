import Testing
@testable import Torch

@Suite struct ShapeTests {
    /// arange(24.).reshape(2, 3, 4), as in the generator.
    let s = Tensor.arange(24, dtype: .float32).reshape(2, 3, 4)

    @Test func reshapeAndView() {
        #expect(s.shape == [2, 3, 4])
        #expect(s.reshape(4, -1).shape == [4, 6])
        #expect(s.reshape([24]).toArray(Float.self) == (0..<24).map(Float.init))
        let v = s.view(6, 4)
        #expect(v.shape == [6, 4])
        #expect(v.select(0, 5).toArray(Float.self) == [20, 21, 22, 23])
        // a view shares storage: writing through it shows in the original
        let base = Tensor.zeros([2, 2])
        base.view(4).slice(0, start: 1, end: 2).fill_(3)
        #expect(base.toArray(Float.self) == [0, 3, 0, 0])
    }

    @Test func permutationsEqualPyTorchs() {
        let p = s.permute(2, 0, 1)
        #expect(p.shape == [4, 2, 3])
        expectFixture(p, "shape.permute")
        expectFixture(s.transpose(0, 2), "shape.transpose02")
        #expect(s.T.shape == [2, 4, 3])
        #expect(s.transpose(-1, -2).toArray(Float.self) == s.T.toArray(Float.self))
    }

    @Test func flattenSqueezeUnsqueeze() {
        expectFixture(s.flatten(1), "shape.flatten1")
        #expect(s.flatten().shape == [24])
        let u = s.unsqueeze(1)
        #expect(u.shape == [2, 1, 3, 4])
        #expect(s.unsqueeze(-1).shape == [2, 3, 4, 1])
        #expect(u.squeeze(1).shape == [2, 3, 4])
        #expect(Tensor.zeros([1, 3, 1, 2]).squeeze().shape == [3, 2])
        #expect(Tensor.zeros([1, 3, 1]).squeeze(0).shape == [3, 1])
        // squeezing a dimension that is not 1 leaves it, as in PyTorch
        #expect(Tensor.zeros([2, 3]).squeeze(0).shape == [2, 3])
    }

    @Test func expandBroadcasts() {
        let col = Tensor([1, 2, 3] as [Float], shape: [3, 1])
        let e = col.expand([2, 3, 4])
        #expect(e.shape == [2, 3, 4])
        #expect(e.strides == [0, 1, 0])
        expectFixture(e, "shape.expand")
        #expect(col.expand([-1, 2]).shape == [3, 2])
        #expect(col.expand(as: Tensor.zeros([3, 5])).shape == [3, 5])
    }

    @Test func catAndStack() {
        let joined = Tensor.cat([s, s[.all, 0..<1] * -1], dim: 1)
        #expect(joined.shape == [2, 4, 4])
        expectFixture(joined, "shape.cat1")
        let stacked = Tensor.stack([s[0], s[1] * 10], dim: 1)
        #expect(stacked.shape == [3, 2, 4])
        expectFixture(stacked, "shape.stack1")
    }

    @Test func splitAndChunk() {
        let parts = s.split(3, dim: 2)
        #expect(parts.map(\.shape) == [[2, 3, 3], [2, 3, 1]])
        #expect(parts[1].flatten().toArray(Float.self) == [3, 7, 11, 15, 19, 23])
        let sized = s.split(sizes: [1, 2], dim: 1)
        #expect(sized.map(\.shape) == [[2, 1, 4], [2, 2, 4]])
        #expect(sized[0].flatten().toArray(Float.self) == [0, 1, 2, 3, 12, 13, 14, 15])
        let chunks = s.chunk(2, dim: 2)
        #expect(chunks.count == 2)
        #expect(chunks[0].shape == [2, 3, 2])
        #expect(chunks[1].select(0, 0).select(0, 0).toArray(Float.self) == [2, 3])
        // 5 rows in 3 chunks: sizes 2, 2, 1 as in PyTorch
        #expect(Tensor.zeros([5]).chunk(3).map(\.count) == [2, 2, 1])
        #expect(Tensor.zeros([7]).split(3).map(\.count) == [3, 3, 1])
    }
}
