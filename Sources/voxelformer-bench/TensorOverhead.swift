import CTorch
import Torch

/// What the Swift tensor layer costs per call on top of the shim: the same op timed through the Swift API
/// (`a + b`, `a.matmul(b)`: a `Tensor` object allocated, freed in `deinit`) and as the bare shim call from
/// Swift (`ct_binary` / `ct_matmul` on raw handles, then `ct_free`). Overhead = median(Swift) - median(bare); the
/// bare call's median absolute deviation says how much of that difference is noise.
enum TensorOverhead {
    static var benchmarks: [Benchmark] { [
        Benchmark(name: "add", summary: "a + b on two 4-element float32 tensors") {
            compare(name: "add [4] f32", api: "a + b", shapes: ([4], [4]), samples: 2001, batch: 200, warmup: 100,
                    bare: { a, b, out in ct_binary(Int32(CT_ADD), a, b, out) },
                    swift: { a, b in a + b })
        },
        Benchmark(name: "matmul", summary: "a.matmul(b) of float32 (512, 1024) @ (1024, 1024)") {
            compare(name: "matmul [512,1024]@[1024,1024] f32", api: "a.matmul(b)", shapes: ([512, 1024], [1024, 1024]),
                    samples: 101, batch: 1, warmup: 5,
                    bare: { a, b, out in ct_matmul(a, b, out) },
                    swift: { a, b in a.matmul(b) })
        },
    ] }

    static func compare(name: String, api: String, shapes: ([Int], [Int]), samples: Int, batch: Int, warmup: Int,
                        bare: @escaping (ct_tensor, ct_tensor, UnsafeMutablePointer<ct_tensor?>) -> Int32,
                        swift: @escaping (Tensor, Tensor) -> Tensor) -> [BenchmarkRow]
    {
        Torch.manualSeed(0)
        let a = Tensor.randn(shapes.0), b = Tensor.randn(shapes.1)
        let rawA = raw(a), rawB = raw(b)
        defer { ct_free(rawA); ct_free(rawB) }
        let times = interleavedTimings(samples: samples, batch: batch, warmup: warmup, [
            {
                var out: ct_tensor?
                guard bare(rawA, rawB, &out) == 0, let out else { fatalError(String(cString: ct_last_error())) }
                ct_free(out)
            },
            { _ = swift(a, b) },
        ])
        let bareNs = median(times[0]), swiftNs = median(times[1])
        return [
            BenchmarkRow(name: name, metric: "bare shim call (median)", value: bareNs, unit: "ns"),
            BenchmarkRow(name: name, metric: "Swift `\(api)` (median)", value: swiftNs, unit: "ns"),
            BenchmarkRow(name: name, metric: "Swift overhead", value: swiftNs - bareNs, unit: "ns"),
            BenchmarkRow(name: name, metric: "spread of the bare call (MAD)", value: medianAbsoluteDeviation(times[0]),
                         unit: "ns"),
        ]
    }

    /// A raw shim handle holding the same values as `t` (the Swift layer keeps its own handle private).
    private static func raw(_ t: Tensor) -> ct_tensor {
        let values = t.toArray(Float.self), shape = t.shape.map(Int64.init)
        var out: ct_tensor?
        let status = values.withUnsafeBytes {
            ct_from_data($0.baseAddress, shape, Int32(shape.count), DType.float32.rawValue, &out)
        }
        guard status == 0, let out else { fatalError(String(cString: ct_last_error())) }
        return out
    }
}
