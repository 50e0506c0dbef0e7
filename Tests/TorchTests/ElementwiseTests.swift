import Testing
@testable import Torch

@Suite struct ElementwiseTests {
    let a = Fixtures.tensor("ew.a")  // (2, 3)
    let b = Fixtures.tensor("ew.b")  // (3)
    let c = Fixtures.tensor("ew.c")  // (2, 1)

    @Test func tensorOperatorsBroadcastLikePyTorch() {
        expectFixture(a + b, "ew.a_add_b")
        expectFixture(a - b, "ew.a_sub_b")
        expectFixture(a * b, "ew.a_mul_b")
        expectFixture(a / b, "ew.a_div_b")
        expectFixture(a + c, "ew.a_add_c")
        let outer = b - c
        #expect(outer.shape == [2, 3])
        expectFixture(outer, "ew.b_sub_c")
    }

    @Test func scalarsOnEitherSide() {
        expectFixture(2.5 - a, "ew.rsub_2_5")
        expectFixture(3 / a, "ew.rdiv_3")
        expectFixture(a * 2, "ew.mul_2")
        expectFixture(1 + a, "ew.add_int_left")
        expectFixture(a.pow(2), "ew.pow_2")
        expectFixture(a.abs().pow(b), "ew.abs_pow_b")
        #expect((a * 2).dtype == .float32)
        #expect((a * 2.5).dtype == .float32)
    }

    @Test func integerTensorsPromoteLikePyTorch() {
        let i = Tensor([1, 2, 3] as [Int])
        let twice = i * 2
        #expect(twice.dtype == .int64)
        #expect(twice.toArray(Int.self) == [2, 4, 6])
        let scaled = i * 2.5
        #expect(scaled.dtype == .float32)
        #expect(scaled.toArray(Float.self) == [2.5, 5, 7.5])
        let left = 2 - i
        #expect(left.dtype == .int64)
        #expect(left.toArray(Int.self) == [1, 0, -1])
        let leftFloat = 0.5 * i
        #expect(leftFloat.dtype == .float32)
        #expect(leftFloat.toArray(Float.self) == [0.5, 1, 1.5])
        // true division always gives floats
        let halves = i / 2
        #expect(halves.dtype == .float32)
        #expect(halves.toArray(Float.self) == [0.5, 1, 1.5])
        #expect((6 / i).toArray(Float.self) == [6, 3, 2])
        // a Double on the left of an integer tensor promotes to the default float type, not float64
        #expect((6.0 / i).dtype == .float32)
        #expect((2.5 - i).dtype == .float32)
        #expect((2.5 + i).toArray(Float.self) == [3.5, 4.5, 5.5])
        #expect(i.floorDivide(2.5).dtype == .float32)
        #expect(i.floorDivide(2.5).toArray(Float.self) == [0, 0, 1])
        #expect(i.pow(2).dtype == .int64)
        #expect(i.pow(0.5).dtype == .float32)
        // a number never widens a floating tensor: bfloat16 * 2.5 stays bfloat16, as in PyTorch
        #expect((Tensor.ones([2], dtype: .bfloat16) * 2.5).dtype == .bfloat16)
        #expect((2.5 / Tensor.ones([2], dtype: .float16)).dtype == .float16)
        #expect((Tensor([4, 5] as [Int32]) + 2.5).dtype == .float32)
        #expect((i + i).dtype == .int64)
        #expect((i.floorDivide(2)).toArray(Int.self) == [0, 1, 1])
        #expect(i.remainder(2).toArray(Int.self) == [1, 0, 1])
        let small = Tensor([4, 5] as [Int32])
        #expect((small * 2).dtype == .int32)
        #expect((small + 1).toArray(Int32.self) == [5, 6])
        // an integer tensor with a float tensor takes the float type
        #expect((i + Tensor([0.5, 0.5, 0.5] as [Double])).dtype == .float64)
        #expect((Tensor([1.5] as [Float]) * 2).dtype == .float32)
        #expect((Tensor([1.5] as [Double]) * 2).dtype == .float64)
        #expect((-i).toArray(Int.self) == [-1, -2, -3])
    }

    @Test func elementwiseFunctions() {
        expectFixture(a.exp(), "ew.exp")
        expectFixture(a.abs().log(), "ew.log_abs")
        expectFixture(a.abs().sqrt(), "ew.sqrt_abs")
        expectFixture(a.tanh(), "ew.tanh")
        expectFixture(a.sigmoid(), "ew.sigmoid")
        expectFixture(a.maximum(b), "ew.maximum_b")
        expectFixture(a.minimum(c), "ew.minimum_c")
        expectFixture(a.clamp(min: -0.5, max: 0.5), "ew.clamp")
    }

    @Test func comparisonsGiveBoolTensors() {
        let gt = a .> b
        #expect(gt.dtype == .bool)
        expectFixture(gt, "ew.gt_b")
        expectFixture(a .>= 0, "ew.ge_0")
        expectFixture(a .< c, "ew.lt_c")
        expectFixture(a .!= b, "ew.ne_b")
        #expect((a .== a).all().item() == 1)
        let i = Tensor([1, 2, 3] as [Int])
        #expect((i .== 2).toArray(UInt8.self) == [0, 1, 0])
        #expect((i .<= 2.5).toArray(UInt8.self) == [1, 1, 0])
        #expect(((i .> 1) .&& (i .< 3)).toArray(UInt8.self) == [0, 1, 0])
        #expect(((i .< 2) .|| (i .> 2)).toArray(UInt8.self) == [1, 0, 1])
        #expect((i .> 1).logicalNot().toArray(UInt8.self) == [1, 0, 0])
    }
}

@Suite struct LinearAlgebraTests {
    @Test func matmulAndBmmEqualPyTorchs() {
        let m1 = Fixtures.tensor("la.m1"), m2 = Fixtures.tensor("la.m2")
        expectFixture(m1.matmul(m2), "la.matmul")
        expectFixture(m1.mm(m2), "la.matmul")
        let b1 = Fixtures.tensor("la.b1"), b2 = Fixtures.tensor("la.b2")
        let batched = b1.bmm(b2)
        #expect(batched.shape == [2, 2, 2])
        expectFixture(batched, "la.bmm")
        expectFixture(b1.matmul(m2), "la.matmul_broadcast")
        let vector = m1.matmul(m2.select(1, 0))
        #expect(vector.shape == [2])
        expectFixture(vector, "la.matvec")
    }
}

@Suite struct ReductionTests {
    let x = Fixtures.tensor("red.x")  // (3, 4)

    @Test func sumsAndMeans() {
        let total = x.sum()
        #expect(total.shape == [])
        expectFixture(total, "red.sum")
        expectFixture(x.sum(0), "red.sum0")
        let kept = x.sum(1, keepDim: true)
        #expect(kept.shape == [3, 1])
        expectFixture(kept, "red.sum1_keep")
        expectFixture(x.mean(), "red.mean")
        expectFixture(x.mean(1), "red.mean1")
        let ints = Tensor([1, 2, 3, 4] as [Int], shape: [2, 2])
        #expect(ints.sum().dtype == .int64)
        #expect(ints.sum(0).toArray(Int.self) == [4, 6])
    }

    @Test func extremesWithIndices() {
        expectFixture(x.max(), "red.max")
        expectFixture(x.min(), "red.min")
        let mx = x.max(1)
        expectFixture(mx.values, "red.max1_values")
        expectFixture(mx.indices, "red.max1_indices")
        #expect(mx.indices.dtype == .int64)
        let mn = x.min(0)
        expectFixture(mn.values, "red.min0_values")
        expectFixture(mn.indices, "red.min0_indices")
        expectFixture(x.argmax(1), "red.argmax1")
        expectFixture(x.argmax(), "red.argmax")
    }

    @Test func orderings() {
        expectFixture(x.argsort(1), "red.argsort1")
        expectFixture(x.argsort(0, descending: true), "red.argsort0_desc")
        let top = x.topk(2, dim: 1)
        #expect(top.values.shape == [3, 2])
        expectFixture(top.values, "red.topk_values")
        expectFixture(top.indices, "red.topk_indices")
        let bottom = x.topk(2, dim: 0, largest: false)
        expectFixture(bottom.values, "red.topk_small_values")
        expectFixture(bottom.indices, "red.topk_small_indices")
    }

    @Test func normsAndLogSumExp() {
        expectFixture(x.norm(), "red.norm")
        expectFixture(x.norm(1, dims: [1]), "red.norm1_dim1")
        expectFixture(x.logsumexp(1), "red.logsumexp1")
        expectFixture(x.logsumexp(), "red.logsumexp")
        #expect(Tensor([3, 4] as [Float]).norm().item() == 5)
    }
}
