import Testing
@testable import Torch

@Suite struct IndexingTests {
    /// arange(24.).reshape(2, 3, 4), as in the generator.
    let s = Tensor.arange(24, dtype: .float32).reshape(2, 3, 4)

    @Test func basicSubscriptsEqualPyTorchs() {
        expectFixture(s[1], "idx.x_1")                                      // s[1]
        expectFixture(s[.all, 1..<3], "idx.all_1to3")                       // s[:, 1:3]
        expectFixture(s[.all, .all, .stride(nil, nil, 2)], "idx.last_stride2")  // s[:, :, ::2]
        expectFixture(s[.ellipsis, -1], "idx.ellipsis_neg1")                // s[..., -1]
        expectFixture(s[-1, 1..., .stride(nil, nil, 3)], "idx.neg_mixed")   // s[-1, 1:, ::3]
        expectFixture(s[0, .ellipsis, 1..<3], "idx.middle_ellipsis")       // s[0, ..., 1:3]
        let added = s[.newAxis, 0]                                          // s[None, 0]
        #expect(added.shape == [1, 3, 4])
        expectFixture(added, "idx.newaxis")
        expectFixture(s[.all, (-2)...], "idx.neg_range")                    // s[:, -2:]
        expectFixture(s[1, 0...1, 1..<3], "idx.closed")                    // s[1, 0:2, 1:3]
        #expect(s[1, 2, 3].item() == 23)
        #expect(s[-1, -1, -1].item() == 23)
        #expect(s[0, ..<2, 0].toArray(Float.self) == [0, 4])
        #expect(s[0, ...1, 0].toArray(Float.self) == [0, 4])
        // out-of-range slice bounds clamp as in Python
        #expect(s[0, 0, 2..<100].toArray(Float.self) == [2, 3])
        // basic indexing gives views
        #expect(s[.all, 1].isContiguous == false)
    }

    @Test func tensorSubscriptsGather() {
        expectFixture(s[.all, Tensor([2, 0] as [Int])], "idx.tensor_dim1")
        expectFixture(s[Tensor([1, 1, 0] as [Int])], "idx.tensor_dim0")
        let mask = s .> 20
        #expect(s.maskedSelect(mask).toArray(Float.self) == [21, 22, 23])
        #expect(Tensor([0, 3, 0, 5] as [Float]).nonzero().toArray(Int.self) == [1, 3])
    }

    @Test func selectGatherScatter() {
        expectFixture(s.indexSelect(2, Tensor([3, 0, 3] as [Int])), "idx.index_select")
        expectFixture(s.gather(1, Fixtures.tensor("idx.gather_index")), "idx.gather")
        let base = Fixtures.tensor("idx.base"), src = Fixtures.tensor("idx.src")
        expectFixture(base.scatter(0, Fixtures.tensor("idx.scatter_plain_index"), src), "idx.scatter")
    }

    @Test(arguments: [Tensor.ScatterReduction.sum, .mean, .amax])
    func scatterReduceEqualsPyTorchs(_ reduce: Tensor.ScatterReduction) {
        let base = Fixtures.tensor("idx.base"), src = Fixtures.tensor("idx.src")
        let index = Fixtures.tensor("idx.scatter_index")
        expectFixture(base.scatterReduce(0, index, src, reduce, includeSelf: true),
                      "idx.scatter_reduce_\(reduce.rawValue)_self")
        expectFixture(base.scatterReduce(0, index, src, reduce, includeSelf: false),
                      "idx.scatter_reduce_\(reduce.rawValue)_noself")
    }

    @Test func maskedFillAndWhere() {
        let base = Fixtures.tensor("idx.base"), src = Fixtures.tensor("idx.src")
        let mask = base .> 0
        expectFixture(mask, "idx.mask")
        expectFixture(base.maskedFill(mask, -9.5), "idx.masked_fill")
        expectFixture(Tensor.where(mask, base, src[0..<1] * 100), "idx.where")
    }

    @Test func subscriptAssignmentWritesInPlace() {
        let y = s.clone()
        y[0, 1..<3] = Tensor([-1, -2, -3, -4] as [Float])
        y[.all, .all, .stride(nil, nil, 2)] = Tensor(scalar: 0.5)
        y[-1, -1, -1] = Tensor(scalar: 99)
        y[.ellipsis, 1] = s[.ellipsis, 1] * 2
        expectFixture(y, "idx.assigned")
        let z = s.clone()
        z[Tensor([1, 0] as [Int])] = Tensor.full([3, 4], 7)
        expectFixture(z, "idx.assigned_tensor")
        // the source tensor is untouched
        #expect(s.sum().item() == 276)
    }
}
