import Foundation
import Testing
import Torch
@testable import VoxelFormer

/// `Fixtures/tome.json`: ToMe merging computed by the loop implementation in `generate_fixtures.py`.
private struct ToMeFixture: Decodable {
    struct Result: Decodable { let x: [Double], sizes: [Double], shape: [Int] }
    let x: [Float], xShape: [Int], metric: [Float], metricShape: [Int], r: Int, sizes: [Float]
    let fresh: Result, carried: Result
}

@Suite struct TokenMergingTests {
    @Test func mergesOddTokenCountsLikePyTorch() throws {
        let f = try Fixture.decode(ToMeFixture.self, "tome.json")
        let x = Tensor(f.x, shape: f.xShape), metric = Tensor(f.metric, shape: f.metricShape)
        let (out, sizes) = TokenMerging.merge(x, metric: metric, r: f.r)
        #expect(out.shape == [2, 8, 5])
        #expect(sizes.shape == [2, 8, 1])
        expectClose(out, f.fresh.x, atol: 1e-6, rtol: 1e-5, "merged tokens")
        expectClose(sizes, f.fresh.sizes, atol: 0, rtol: 0, "sizes")
        // Three A tokens merged: sizes sum to 11 per sample, and the 3 unmerged A tokens come first with size 1.
        #expect(sizes.sum([1, 2]).toArray(Float.self) == [11, 11])
        #expect(sizes[.all, ..<3, .all].toArray(Float.self).allSatisfy { $0 == 1 })
    }

    @Test func carriedSizesWeightTheMeans() throws {
        let f = try Fixture.decode(ToMeFixture.self, "tome.json")
        let x = Tensor(f.x, shape: f.xShape), metric = Tensor(f.metric, shape: f.metricShape)
        let given = Tensor(f.sizes, shape: [2, 11, 1])
        let (out, sizes) = TokenMerging.merge(x, metric: metric, r: f.r, sizes: given)
        #expect(out.shape == [2, 8, 5])
        expectClose(out, f.carried.x, atol: 1e-6, rtol: 1e-5, "merged tokens")
        expectClose(sizes, f.carried.sizes, atol: 0, rtol: 0, "sizes")
        #expect(sizes.sum([1, 2]).toArray(Float.self) == given.sum([1, 2]).toArray(Float.self))
        // With sizes other than one the weighted means differ from the unweighted ones.
        let (unweighted, _) = TokenMerging.merge(x, metric: metric, r: f.r)
        #expect((out - unweighted).abs().max().item() > 1e-2)
    }
}
