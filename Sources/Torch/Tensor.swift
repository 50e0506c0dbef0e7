import CTorch
import Foundation

/// Element types, with libtorch's `ScalarType` codes as raw values.
public enum DType: Int32, Sendable, CaseIterable, CustomStringConvertible {
    case uint8 = 0, int8 = 1, int16 = 2, int32 = 3, int64 = 4
    case float16 = 5, float32 = 6, float64 = 7, bool = 11, bfloat16 = 15

    public var byteSize: Int {
        switch self {
        case .uint8, .int8, .bool: 1
        case .int16, .float16, .bfloat16: 2
        case .int32, .float32: 4
        case .int64, .float64: 8
        }
    }
    public var isFloatingPoint: Bool { [.float16, .float32, .float64, .bfloat16].contains(self) }
    /// The name PyTorch prints (`torch.float32` without the prefix).
    public var description: String {
        switch self {
        case .uint8: "uint8"
        case .int8: "int8"
        case .int16: "int16"
        case .int32: "int32"
        case .int64: "int64"
        case .float16: "float16"
        case .float32: "float32"
        case .float64: "float64"
        case .bool: "bool"
        case .bfloat16: "bfloat16"
        }
    }
}

public enum Device: Equatable, Hashable, Sendable, CustomStringConvertible {
    case cpu
    case cuda(Int)

    var code: (type: Int32, index: Int32) {
        switch self {
        case .cpu: (0, 0)
        case .cuda(let i): (1, Int32(i))
        }
    }
    public var description: String {
        switch self {
        case .cpu: "cpu"
        case .cuda(let i): "cuda:\(i)"
        }
    }
    /// Parses `cpu`, `cuda` or `cuda:N`.
    public init?(_ text: String) {
        if text == "cpu" { self = .cpu; return }
        if text == "cuda" { self = .cuda(0); return }
        if text.hasPrefix("cuda:"), let i = Int(text.dropFirst(5)) { self = .cuda(i); return }
        return nil
    }
}

/// An n-dimensional array living in libtorch. The class owns one libtorch handle and frees it in `deinit`;
/// tensors derived from it (views, results) own handles of their own.
public final class Tensor: @unchecked Sendable {
    let handle: ct_tensor

    init(handle: ct_tensor) { self.handle = handle }
    deinit { ct_free(handle) }

    // MARK: metadata

    public var ndim: Int {
        var n: Int64 = 0
        check(ct_ndim(handle, &n))
        return Int(n)
    }
    public var shape: [Int] {
        let n = ndim
        if n == 0 { return [] }
        var s = [Int64](repeating: 0, count: n)
        check(ct_sizes(handle, &s))
        return s.map(Int.init)
    }
    public var strides: [Int] {
        let n = ndim
        if n == 0 { return [] }
        var s = [Int64](repeating: 0, count: n)
        check(ct_strides(handle, &s))
        return s.map(Int.init)
    }
    /// The size of one dimension; negative dimensions count from the end.
    public func size(_ dim: Int) -> Int {
        let s = shape
        return s[dim < 0 ? dim + s.count : dim]
    }
    public var dtype: DType {
        var d: Int32 = 0
        check(ct_dtype(handle, &d))
        return DType(rawValue: d) ?? .float32
    }
    public var device: Device {
        var type: Int32 = 0, index: Int32 = 0
        check(ct_device(handle, &type, &index))
        return type == 1 ? .cuda(Int(index)) : .cpu
    }
    public var count: Int {
        var n: Int64 = 0
        check(ct_numel(handle, &n))
        return Int(n)
    }
    public var isContiguous: Bool {
        var c: Int32 = 0
        check(ct_is_contiguous(handle, &c))
        return c != 0
    }

    // MARK: conversion

    public func to(_ dtype: DType) -> Tensor { to(dtype: dtype, device: device) }
    public func to(_ device: Device) -> Tensor { to(dtype: dtype, device: device) }
    public func to(dtype: DType, device: Device) -> Tensor {
        let d = device.code
        return Tensor.make { ct_to(handle, dtype.rawValue, d.type, d.index, $0) }
    }
    public func contiguous() -> Tensor { Tensor.make { ct_contiguous(handle, $0) } }
    public func clone() -> Tensor { Tensor.make { ct_clone(handle, $0) } }

    // MARK: reading values

    /// The elements in row-major order, converted to `T` through libtorch's casting rules.
    public func toArray<T: TensorElement>(_: T.Type = T.self) -> [T] {
        let src = dtype == T.dtype ? self : to(T.dtype)
        let n = src.count
        return [T](unsafeUninitializedCapacity: n) { buffer, initialized in
            check(ct_copy_to_buffer(src.handle, buffer.baseAddress, n * MemoryLayout<T>.stride))
            initialized = n
        }
    }
    /// The raw bytes of the elements in row-major order (any dtype, including the 16-bit floats).
    public func bytes() -> Data {
        let n = count * dtype.byteSize
        var data = Data(count: n)
        data.withUnsafeMutableBytes { check(ct_copy_to_buffer(handle, $0.baseAddress, n)) }
        return data
    }
    /// The single value of a one-element tensor.
    public func item() -> Double {
        var v = 0.0
        check(ct_item_double(handle, &v))
        return v
    }
    public func itemInt() -> Int {
        var v: Int64 = 0
        check(ct_item_int64(handle, &v))
        return Int(v)
    }
}

// MARK: calling the shim

extension Tensor {
    /// Runs a shim call that writes one tensor; a failure goes to the error scope (see `withTorchError`).
    @inline(__always)
    static func make(_ call: (UnsafeMutablePointer<ct_tensor?>) -> Int32) -> Tensor {
        var out: ct_tensor?
        if call(&out) != 0 || out == nil { return TorchErrorScope.failed() }
        return Tensor(handle: out!)
    }
    /// Runs a shim call that writes two tensors (values and indices).
    static func make2(_ call: (UnsafeMutablePointer<ct_tensor?>, UnsafeMutablePointer<ct_tensor?>) -> Int32)
        -> (Tensor, Tensor)
    {
        var a: ct_tensor?, b: ct_tensor?
        if call(&a, &b) != 0 || a == nil || b == nil { return (TorchErrorScope.failed(), TorchErrorScope.failed()) }
        return (Tensor(handle: a!), Tensor(handle: b!))
    }
    /// Runs a shim call that writes a list of tensors.
    static func makeList(capacity: Int, _ call: (UnsafeMutablePointer<ct_tensor?>, UnsafeMutablePointer<Int32>) -> Int32)
        -> [Tensor]
    {
        var outs = [ct_tensor?](repeating: nil, count: capacity)
        var n: Int32 = 0
        if call(&outs, &n) != 0 { return [TorchErrorScope.failed()] }
        return outs[0..<Int(n)].map { Tensor(handle: $0!) }
    }
}

/// Checks a status that cannot produce a tensor.
@inline(__always)
func check(_ status: Int32) {
    if status != 0 { TorchErrorScope.report(String(cString: ct_last_error())) }
}

/// Element types that Swift arrays can hold and libtorch can read.
public protocol TensorElement: Numeric, Sendable {
    static var dtype: DType { get }
}
extension Float: TensorElement { public static var dtype: DType { .float32 } }
extension Double: TensorElement { public static var dtype: DType { .float64 } }
extension Int64: TensorElement { public static var dtype: DType { .int64 } }
extension Int32: TensorElement { public static var dtype: DType { .int32 } }
extension Int16: TensorElement { public static var dtype: DType { .int16 } }
extension Int8: TensorElement { public static var dtype: DType { .int8 } }
extension UInt8: TensorElement { public static var dtype: DType { .uint8 } }
extension Int: TensorElement { public static var dtype: DType { .int64 } }
