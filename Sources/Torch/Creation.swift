import CTorch
import Foundation

/// Creation functions. Every one takes a dtype (float32 unless said) and a device (cpu unless said).
extension Tensor {
    public convenience init<T: TensorElement>(_ values: [T], shape: [Int]? = nil) {
        let shape = shape ?? [values.count]
        precondition(shape.reduce(1, *) == values.count,
                     "Tensor: \(values.count) values do not fill shape \(shape)")
        let dims = shape.map(Int64.init)
        var out: ct_tensor?
        let status: Int32
        if T.self == Int.self {
            let wide = values.map { Int64($0 as! Int) }
            status = wide.withUnsafeBytes { ct_from_data($0.baseAddress, dims, Int32(dims.count), DType.int64.rawValue, &out) }
        } else {
            status = values.withUnsafeBytes { ct_from_data($0.baseAddress, dims, Int32(dims.count), T.dtype.rawValue, &out) }
        }
        check(status)
        self.init(handle: out!)
    }
    /// A tensor of booleans.
    public convenience init(_ values: [Bool], shape: [Int]? = nil) {
        let shape = shape ?? [values.count]
        precondition(shape.reduce(1, *) == values.count, "Tensor: \(values.count) values do not fill shape \(shape)")
        let bytes = values.map { UInt8($0 ? 1 : 0) }
        let dims = shape.map(Int64.init)
        var out: ct_tensor?
        check(bytes.withUnsafeBytes { ct_from_data($0.baseAddress, dims, Int32(dims.count), DType.bool.rawValue, &out) })
        self.init(handle: out!)
    }
    /// A tensor over raw little-endian bytes of the given dtype (copied).
    public convenience init(bytes: UnsafeRawBufferPointer, dtype: DType, shape: [Int]) {
        let n = shape.reduce(1, *)
        precondition(bytes.count == n * dtype.byteSize,
                     "Tensor: \(bytes.count) bytes do not hold \(n) values of \(dtype)")
        let dims = shape.map(Int64.init)
        var out: ct_tensor?
        check(ct_from_data(bytes.baseAddress, dims, Int32(dims.count), dtype.rawValue, &out))
        self.init(handle: out!)
    }
    /// A 0-dimensional tensor.
    public convenience init(scalar: Double, dtype: DType = .float32) {
        var out: ct_tensor?
        check(ct_full(nil, 0, scalar, dtype.rawValue, 0, 0, &out))
        self.init(handle: out!)
    }

    public static func zeros(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) -> Tensor {
        let d = device.code, s = shape.map(Int64.init)
        return make { ct_zeros(s, Int32(s.count), dtype.rawValue, d.type, d.index, $0) }
    }
    public static func ones(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) -> Tensor {
        let d = device.code, s = shape.map(Int64.init)
        return make { ct_ones(s, Int32(s.count), dtype.rawValue, d.type, d.index, $0) }
    }
    public static func empty(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) -> Tensor {
        let d = device.code, s = shape.map(Int64.init)
        return make { ct_empty(s, Int32(s.count), dtype.rawValue, d.type, d.index, $0) }
    }
    public static func full(_ shape: [Int], _ value: Double, dtype: DType = .float32, device: Device = .cpu) -> Tensor {
        let d = device.code, s = shape.map(Int64.init)
        return make { ct_full(s, Int32(s.count), value, dtype.rawValue, d.type, d.index, $0) }
    }
    /// Values `start, start+step, ...` below `end`, like `torch.arange` (int64 by default).
    public static func arange(_ start: Double = 0, _ end: Double, step: Double = 1, dtype: DType = .int64,
                              device: Device = .cpu) -> Tensor
    {
        let d = device.code
        return make { ct_arange(start, end, step, dtype.rawValue, d.type, d.index, $0) }
    }
    public static func arange(_ end: Int, dtype: DType = .int64, device: Device = .cpu) -> Tensor {
        arange(0, Double(end), dtype: dtype, device: device)
    }
    public static func linspace(_ start: Double, _ end: Double, steps: Int, dtype: DType = .float32,
                                device: Device = .cpu) -> Tensor
    {
        let d = device.code
        return make { ct_linspace(start, end, Int64(steps), dtype.rawValue, d.type, d.index, $0) }
    }
    public static func eye(_ n: Int, _ m: Int? = nil, dtype: DType = .float32, device: Device = .cpu) -> Tensor {
        let d = device.code
        return make { ct_eye(Int64(n), Int64(m ?? n), dtype.rawValue, d.type, d.index, $0) }
    }

    // MARK: random (libtorch's generator: `manualSeed` makes these equal PyTorch's draws)

    public static func rand(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) -> Tensor {
        let d = device.code, s = shape.map(Int64.init)
        return make { ct_rand(s, Int32(s.count), dtype.rawValue, d.type, d.index, $0) }
    }
    public static func randn(_ shape: [Int], dtype: DType = .float32, device: Device = .cpu) -> Tensor {
        let d = device.code, s = shape.map(Int64.init)
        return make { ct_randn(s, Int32(s.count), dtype.rawValue, d.type, d.index, $0) }
    }
    /// Integers in `low..<high`.
    public static func randint(_ low: Int, _ high: Int, _ shape: [Int], dtype: DType = .int64,
                               device: Device = .cpu) -> Tensor
    {
        let d = device.code, s = shape.map(Int64.init)
        return make { ct_randint(Int64(low), Int64(high), s, Int32(s.count), dtype.rawValue, d.type, d.index, $0) }
    }
    public static func randperm(_ n: Int, dtype: DType = .int64, device: Device = .cpu) -> Tensor {
        let d = device.code
        return make { ct_randperm(Int64(n), dtype.rawValue, d.type, d.index, $0) }
    }
    /// `count` draws of Beta(a, b), drawn as `torch.distributions.Beta(a, b).sample([count])` draws them
    /// (a Dirichlet over (a, b), first component), so seeded runs match PyTorch.
    public static func beta(_ a: Double, _ b: Double, count: Int, dtype: DType = .float32) -> Tensor {
        let concentration = Tensor([a, b]).to(dtype).unsqueeze(0).expand([count, 2])
        return make { ct_sample_dirichlet(concentration.handle, $0) }.select(1, 0)
    }
    /// 1 with probability `p` (element-wise), else 0.
    public static func bernoulli(_ p: Tensor) -> Tensor { make { ct_bernoulli(p.handle, $0) } }
}

/// Process-wide libtorch settings.
public enum Torch {
    nonisolated(unsafe) private static var initialised = false
    /// Loads the CUDA backend when libtorch carries one. Called by the library's entry points; idempotent.
    public static func initialise() {
        if initialised { return }
        initialised = true
        _ = ct_init()
    }
    public static var version: String { String(cString: ct_version()) }
    public static var threads: Int {
        get { Int(ct_get_num_threads()) }
        set { check(ct_set_num_threads(Int32(newValue))) }
    }
    public static var cudaDeviceCount: Int {
        initialise()
        return Int(ct_cuda_device_count())
    }
    public static var cudaIsAvailable: Bool { cudaDeviceCount > 0 }
    /// Seeds libtorch's default generators, like `torch.manual_seed`.
    public static func manualSeed(_ seed: UInt64) { check(ct_manual_seed(seed)) }
    /// The CPU generator's state, as `torch.get_rng_state()` returns it (uint8).
    public static func rngState() -> Tensor { Tensor.make { ct_rng_get_state($0) } }
    public static func setRNGState(_ state: Tensor) { check(ct_rng_set_state(state.handle)) }
    public static var isGradEnabled: Bool { ct_is_grad_enabled() != 0 }

    /// Runs `body` with gradient recording off, like `with torch.no_grad():`.
    public static func noGrad<R>(_ body: () throws -> R) rethrows -> R {
        var previous: Int32 = 0
        check(ct_set_grad_enabled(0, &previous))
        defer { var ignored: Int32 = 0; _ = ct_set_grad_enabled(previous, &ignored) }
        return try body()
    }
    /// Runs `body` under autocast to `dtype` on `device`, like `torch.autocast`.
    public static func autocast<R>(_ device: Device = .cpu, dtype: DType = .bfloat16, enabled: Bool = true,
                                   _ body: () throws -> R) rethrows -> R
    {
        guard enabled else { return try body() }
        check(ct_autocast_set(device.code.type, 1, dtype.rawValue))
        defer { _ = ct_autocast_set(device.code.type, 0, dtype.rawValue) }
        return try body()
    }
}
