import Foundation
import Testing
@testable import Torch

@Suite struct DTypeTests {
    @Test func conversionsFromFloat64EqualPyTorchs() {
        let src = Fixtures.tensor("dtype.src")
        #expect(src.dtype == .float64)
        for name in ["float32", "float16", "bfloat16", "int64", "int32", "bool"] {
            let d = Fixtures.dtype(named: name)
            let converted = src.to(d)
            #expect(converted.dtype == d)
            expectEqual(converted, Fixtures.tensor("dtype.to_" + name))
        }
    }

    @Test func float16AndBFloat16RoundToTheirGrids() {
        // 1/3 and 1000.1 are not representable; PyTorch rounds them to nearest on each grid
        let half = Fixtures.tensor("dtype.src").to(.float16).toArray(Double.self)
        let brain = Fixtures.tensor("dtype.src").to(.bfloat16).toArray(Double.self)
        #expect(half[7] == 0.333251953125)
        #expect(half[6] == 1000.0)
        #expect(brain[7] == 0.333984375)
        #expect(brain[6] == 1000.0)
        #expect(Tensor([1.5, 2.5] as [Double]).to(.float16).bytes().count == 4)
    }

    @Test func roundTripsKeepValues() {
        let floats: [Float] = [-1.5, 0, 3.25, 1e-3]
        let f32 = Tensor(floats)
        #expect(f32.dtype == .float32)
        #expect(f32.to(.float64).to(.float32).toArray(Float.self) == floats)
        let ints: [Int32] = [-7, 0, 2_000_000_000]
        let i32 = Tensor(ints)
        #expect(i32.dtype == .int32)
        #expect(i32.to(.int64).to(.int32).toArray(Int32.self) == ints)
        let wide = Tensor([1, -2, 3] as [Int])
        #expect(wide.dtype == .int64)
        #expect(wide.toArray(Int.self) == [1, -2, 3])
        let flags = Tensor([true, false, true])
        #expect(flags.dtype == .bool)
        #expect(flags.to(.float32).toArray(Float.self) == [1, 0, 1])
        #expect(flags.to(.float32).to(.bool).toArray(UInt8.self) == [1, 0, 1])
        let grid: [Double] = [0.5, -2, 0.1015625]
        #expect(Tensor(grid).to(.bfloat16).to(.float32).to(.bfloat16).toArray(Double.self) == grid)
        #expect(Tensor(grid).to(.float16).to(.float64).to(.float16).toArray(Double.self) == grid)
        // float to int truncates toward zero, as in PyTorch
        #expect(Tensor([-2.7, 2.7] as [Double]).to(.int64).toArray(Int64.self) == [-2, 2])
    }

    @Test func valuesFromArraysKeepShape() {
        let t = Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [2, 3])
        #expect(t.shape == [2, 3])
        #expect(t.ndim == 2)
        #expect(t.count == 6)
        #expect(t.strides == [3, 1])
        #expect(t.isContiguous)
        #expect(t.T.isContiguous == false)
        #expect(t.T.contiguous().isContiguous)
        #expect(t.T.contiguous().toArray(Float.self) == [1, 4, 2, 5, 3, 6])
        #expect(t.T.toArray(Float.self) == [1, 4, 2, 5, 3, 6])
        let s = Tensor(scalar: 2.5, dtype: .float64)
        #expect(s.shape == [])
        #expect(s.item() == 2.5)
        #expect(Tensor([42] as [Int]).itemInt() == 42)
    }
}

@Suite struct DeviceTests {
    @Test func tensorsLiveOnTheCPU() {
        #expect(Tensor.zeros([2]).device == .cpu)
        #expect(Device("cpu") == .cpu)
        #expect(Device("cuda") == .cuda(0))
        #expect(Device("cuda:1") == .cuda(1))
        #expect(Device("tpu") == nil)
        #expect(Device.cuda(2).description == "cuda:2")
    }

    @Test func cudaFailsWithLibtorchsMessageOnThisBuild() throws {
        guard !Torch.cudaIsAvailable else { return }
        let created = #expect(throws: TorchError.self) {
            try withTorchError { _ = Tensor.zeros([2], device: .cuda(0)) }
        }
        let moved = #expect(throws: TorchError.self) {
            try withTorchError { _ = Tensor.ones([2]).to(.cuda(0)) }
        }
        #expect(created?.message.contains("CUDA") == true)
        #expect(moved?.message.contains("CUDA") == true)
        // a CPU-only libtorch (no libtorch_cuda.so) has no CUDA kernels registered at all
        let lib = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent(".libtorch/torch/lib/libtorch_cuda.so")
        if !FileManager.default.fileExists(atPath: lib.path) {
            #expect(created?.message.hasPrefix("Could not run 'aten::empty.memory_format' with arguments from the 'CUDA' backend") == true)
            #expect(moved?.message.hasPrefix("Could not run 'aten::empty_strided' with arguments from the 'CUDA' backend") == true)
        }
    }
}

@Suite struct CreationTests {
    @Test func filledTensors() {
        let z = Tensor.zeros([2, 3])
        #expect(z.shape == [2, 3])
        #expect(z.dtype == .float32)
        #expect(z.toArray(Float.self) == [Float](repeating: 0, count: 6))
        let o = Tensor.ones([3], dtype: .int32)
        #expect(o.dtype == .int32)
        #expect(o.toArray(Int32.self) == [1, 1, 1])
        let f = Tensor.full([2, 2], 2.5, dtype: .float64)
        #expect(f.dtype == .float64)
        #expect(f.toArray(Double.self) == [2.5, 2.5, 2.5, 2.5])
        #expect(Tensor.empty([4, 0]).shape == [4, 0])
    }

    @Test func rangesEqualPyTorchs() {
        let a = Tensor.arange(5)
        #expect(a.dtype == .int64)
        #expect(a.toArray(Int.self) == [0, 1, 2, 3, 4])
        #expect(Tensor.arange(5, -5, step: -3).toArray(Int.self) == [5, 2, -1, -4])
        expectEqual(Tensor.arange(0.5, 3.0, step: 0.25, dtype: .float32), Fixtures.tensor("create.arange_float"))
        expectEqual(Tensor.linspace(-1, 2, steps: 7), Fixtures.tensor("create.linspace"))
        expectEqual(Tensor.eye(3, 4), Fixtures.tensor("create.eye"))
        let e = Tensor.eye(2, dtype: .int64)
        #expect(e.toArray(Int.self) == [1, 0, 0, 1])
    }
}

@Suite(.serialized) struct RandomTests {
    @Test func seededDrawsEqualPyTorchs() {
        let cases: [(String, UInt64, () -> Tensor)] = [
            ("random.rand", 0, { Tensor.rand([5]) }),
            ("random.randn", 1, { Tensor.randn([2, 3]) }),
            ("random.randint", 2, { Tensor.randint(0, 10, [6]) }),
            ("random.randperm", 3, { Tensor.randperm(8) }),
            ("random.beta", 4, { Tensor.beta(0.15, 0.15, count: 6) }),
        ]
        for (name, seed, draw) in cases {
            let expected = Fixtures.tensor(name)
            expectEqual(SeededDraws.draw(seed: seed, matching: expected, draw), expected)
        }
    }

    @Test func consecutiveDrawsContinueTheSameStream() {
        let expected = Tensor.cat([
            Fixtures.tensor("random.sequence_rand").to(.float64), Fixtures.tensor("random.sequence_randn"),
            Fixtures.tensor("random.sequence_randint").flatten().to(.float64),
        ])
        let drawn = SeededDraws.draw(seed: 5, matching: expected) {
            let r = Tensor.rand([3])
            let n = Tensor.randn([4], dtype: .float64)
            let i = Tensor.randint(-5, 5, [2, 2])
            return Tensor.cat([r.to(.float64), n, i.flatten().to(.float64)])
        }
        expectEqual(drawn, expected)
    }

    @Test func differentSeedsGiveDifferentDraws() {
        let a = SeededDraws.run(seed: 1) { Tensor.rand([4]).toArray(Float.self) }
        let b = SeededDraws.run(seed: 2) { Tensor.rand([4]).toArray(Float.self) }
        #expect(a != b)
        #expect(a.allSatisfy { $0 >= 0 && $0 < 1 })
    }
}

@Suite struct RuntimeTests {
    @Test func intraOpThreadCountCanBeSetAndRead() {
        let before = Torch.threads
        #expect(before >= 1)
        Torch.threads = 1
        #expect(Torch.threads == 1)
        Torch.threads = 2
        #expect(Torch.threads == 2)
        Torch.threads = before
        #expect(Torch.threads == before)
    }

    @Test func versionIsLibtorchs() {
        #expect(Torch.version.hasPrefix("2."))
    }
}
