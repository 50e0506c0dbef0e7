import CTorch

/// Scalars that mix with tensors in operators. Integers stay integers (so an int64 tensor times 2 stays
/// int64, as in PyTorch); floating-point scalars promote integer tensors to the default float type.
public protocol TensorScalar {
    var scalarValue: (value: Double, isInt: Int32) { get }
}
extension Int: TensorScalar { public var scalarValue: (value: Double, isInt: Int32) { (Double(self), 1) } }
extension Double: TensorScalar { public var scalarValue: (value: Double, isInt: Int32) { (self, 0) } }
extension Float: TensorScalar { public var scalarValue: (value: Double, isInt: Int32) { (Double(self), 0) } }

enum BinaryOp: Int32 {
    case add = 0, sub, mul, div, pow, maximum, minimum, remainder, atan2
    case eq, ne, lt, le, gt, ge, logicalAnd, logicalOr, floorDivide
}
enum UnaryOp: Int32 {
    case neg = 0, abs, exp, log, sqrt, rsqrt, sin, cos, tanh, sigmoid, relu, silu, mish, floor, ceil, round, sign
    case reciprocal, log1p, expm1, square, isnan, isinf, isfinite, logicalNot, erf, erfinv, tan, log2
}

extension Tensor {
    func binary(_ op: BinaryOp, _ other: Tensor) -> Tensor {
        Tensor.make { ct_binary(op.rawValue, handle, other.handle, $0) }
    }
    func binary(_ op: BinaryOp, _ s: some TensorScalar) -> Tensor {
        let v = s.scalarValue
        return Tensor.make { ct_binary_scalar(op.rawValue, handle, v.value, v.isInt, $0) }
    }
    static func binary(_ op: BinaryOp, _ s: some TensorScalar, _ t: Tensor) -> Tensor {
        let v = s.scalarValue
        return Tensor.make { ct_scalar_binary(op.rawValue, v.value, v.isInt, t.handle, $0) }
    }
    func unary(_ op: UnaryOp) -> Tensor { Tensor.make { ct_unary(op.rawValue, handle, $0) } }

    // MARK: arithmetic with broadcasting

    public static func + (a: Tensor, b: Tensor) -> Tensor { a.binary(.add, b) }
    public static func - (a: Tensor, b: Tensor) -> Tensor { a.binary(.sub, b) }
    public static func * (a: Tensor, b: Tensor) -> Tensor { a.binary(.mul, b) }
    public static func / (a: Tensor, b: Tensor) -> Tensor { a.binary(.div, b) }
    public static func + (a: Tensor, s: some TensorScalar) -> Tensor { a.binary(.add, s) }
    public static func - (a: Tensor, s: some TensorScalar) -> Tensor { a.binary(.sub, s) }
    public static func * (a: Tensor, s: some TensorScalar) -> Tensor { a.binary(.mul, s) }
    public static func / (a: Tensor, s: some TensorScalar) -> Tensor { a.binary(.div, s) }
    public static func + (s: some TensorScalar, a: Tensor) -> Tensor { binary(.add, s, a) }
    public static func - (s: some TensorScalar, a: Tensor) -> Tensor { binary(.sub, s, a) }
    public static func * (s: some TensorScalar, a: Tensor) -> Tensor { binary(.mul, s, a) }
    public static func / (s: some TensorScalar, a: Tensor) -> Tensor { binary(.div, s, a) }
    public static prefix func - (a: Tensor) -> Tensor { a.unary(.neg) }

    public func pow(_ e: Tensor) -> Tensor { binary(.pow, e) }
    public func pow(_ e: some TensorScalar) -> Tensor { binary(.pow, e) }
    public func maximum(_ o: Tensor) -> Tensor { binary(.maximum, o) }
    public func minimum(_ o: Tensor) -> Tensor { binary(.minimum, o) }
    public func remainder(_ o: Tensor) -> Tensor { binary(.remainder, o) }
    public func remainder(_ s: some TensorScalar) -> Tensor { binary(.remainder, s) }
    public func floorDivide(_ o: Tensor) -> Tensor { binary(.floorDivide, o) }
    public func floorDivide(_ s: some TensorScalar) -> Tensor { binary(.floorDivide, s) }
    public func atan2(_ o: Tensor) -> Tensor { binary(.atan2, o) }

    // MARK: comparisons (bool tensors)

    public static func .== (a: Tensor, b: Tensor) -> Tensor { a.binary(.eq, b) }
    public static func .!= (a: Tensor, b: Tensor) -> Tensor { a.binary(.ne, b) }
    public static func .< (a: Tensor, b: Tensor) -> Tensor { a.binary(.lt, b) }
    public static func .<= (a: Tensor, b: Tensor) -> Tensor { a.binary(.le, b) }
    public static func .> (a: Tensor, b: Tensor) -> Tensor { a.binary(.gt, b) }
    public static func .>= (a: Tensor, b: Tensor) -> Tensor { a.binary(.ge, b) }
    public static func .== (a: Tensor, s: some TensorScalar) -> Tensor { a.binary(.eq, s) }
    public static func .!= (a: Tensor, s: some TensorScalar) -> Tensor { a.binary(.ne, s) }
    public static func .< (a: Tensor, s: some TensorScalar) -> Tensor { a.binary(.lt, s) }
    public static func .<= (a: Tensor, s: some TensorScalar) -> Tensor { a.binary(.le, s) }
    public static func .> (a: Tensor, s: some TensorScalar) -> Tensor { a.binary(.gt, s) }
    public static func .>= (a: Tensor, s: some TensorScalar) -> Tensor { a.binary(.ge, s) }
    public static func .&& (a: Tensor, b: Tensor) -> Tensor { a.binary(.logicalAnd, b) }
    public static func .|| (a: Tensor, b: Tensor) -> Tensor { a.binary(.logicalOr, b) }
    public func logicalNot() -> Tensor { unary(.logicalNot) }

    // MARK: element-wise functions

    public func abs() -> Tensor { unary(.abs) }
    public func exp() -> Tensor { unary(.exp) }
    public func log() -> Tensor { unary(.log) }
    public func log2() -> Tensor { unary(.log2) }
    public func log1p() -> Tensor { unary(.log1p) }
    public func expm1() -> Tensor { unary(.expm1) }
    public func sqrt() -> Tensor { unary(.sqrt) }
    public func rsqrt() -> Tensor { unary(.rsqrt) }
    public func square() -> Tensor { unary(.square) }
    public func reciprocal() -> Tensor { unary(.reciprocal) }
    public func sin() -> Tensor { unary(.sin) }
    public func cos() -> Tensor { unary(.cos) }
    public func tan() -> Tensor { unary(.tan) }
    public func tanh() -> Tensor { unary(.tanh) }
    public func sigmoid() -> Tensor { unary(.sigmoid) }
    public func erf() -> Tensor { unary(.erf) }
    public func erfinv() -> Tensor { unary(.erfinv) }
    public func floor() -> Tensor { unary(.floor) }
    public func ceil() -> Tensor { unary(.ceil) }
    public func round() -> Tensor { unary(.round) }
    public func sign() -> Tensor { unary(.sign) }
    public func isnan() -> Tensor { unary(.isnan) }
    public func isinf() -> Tensor { unary(.isinf) }
    public func isfinite() -> Tensor { unary(.isfinite) }
    public func clamp(min: Double? = nil, max: Double? = nil) -> Tensor {
        Tensor.make { ct_clamp(handle, min ?? 0, min == nil ? 0 : 1, max ?? 0, max == nil ? 0 : 1, $0) }
    }
    /// `start + weight * (end - start)`.
    public func lerp(_ end: Tensor, weight: Double) -> Tensor { Tensor.make { ct_lerp(handle, end.handle, weight, $0) } }
    /// Elements of `self` where `mask` is false, `value` where it is true.
    public func maskedFill(_ mask: Tensor, _ value: Double) -> Tensor {
        Tensor.make { ct_masked_fill(handle, mask.handle, value, $0) }
    }
    /// `a` where `condition`, else `b` (`torch.where`).
    public static func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
        Tensor.make { ct_where(condition.handle, a.handle, b.handle, $0) }
    }

    // MARK: linear algebra

    public func matmul(_ o: Tensor) -> Tensor { Tensor.make { ct_matmul(handle, o.handle, $0) } }
    public func bmm(_ o: Tensor) -> Tensor { Tensor.make { ct_bmm(handle, o.handle, $0) } }
    public func mm(_ o: Tensor) -> Tensor { Tensor.make { ct_mm(handle, o.handle, $0) } }
    /// Pairwise p-norm distances between the rows of two (batched) matrices (`torch.cdist`).
    public func cdist(_ o: Tensor, p: Double = 2) -> Tensor { Tensor.make { ct_cdist(handle, o.handle, p, $0) } }
}

infix operator .== : ComparisonPrecedence
infix operator .!= : ComparisonPrecedence
infix operator .< : ComparisonPrecedence
infix operator .<= : ComparisonPrecedence
infix operator .> : ComparisonPrecedence
infix operator .>= : ComparisonPrecedence
infix operator .&& : LogicalConjunctionPrecedence
infix operator .|| : LogicalDisjunctionPrecedence

// MARK: in place (initialisation, weight surgery)

extension Tensor {
    /// Copies `src` into `self` (broadcasting), without recording gradients.
    public func copy_(_ src: Tensor) { Torch.noGrad { check(ct_copy_(handle, src.handle)) } }
    /// `t.data = src`: this tensor (and every module slot holding it) now refers to `src`'s storage, dtype and
    /// device, keeping `requires_grad`, as `Module._apply` moves parameters.
    public func setData(_ src: Tensor) { check(ct_set_data(handle, src.handle)) }
    public func fill_(_ value: Double) { Torch.noGrad { check(ct_fill_(handle, value)) } }
    public func zero_() { fill_(0) }
    public func uniform_(_ low: Double, _ high: Double) { Torch.noGrad { check(ct_uniform_(handle, low, high)) } }
    public func normal_(mean: Double = 0, std: Double = 1) { Torch.noGrad { check(ct_normal_(handle, mean, std)) } }
    public func add_(_ o: Tensor) { check(ct_binary_(BinaryOp.add.rawValue, handle, o.handle)) }
    public func mul_(_ s: Double) { check(ct_binary_scalar_(BinaryOp.mul.rawValue, handle, s)) }
    public func add_(_ s: Double) { check(ct_binary_scalar_(BinaryOp.add.rawValue, handle, s)) }
    public func erfinv_() { check(ct_unary_(UnaryOp.erfinv.rawValue, handle)) }
    public func clamp_(min: Double? = nil, max: Double? = nil) {
        check(ct_clamp_(handle, min ?? 0, min == nil ? 0 : 1, max ?? 0, max == nil ? 0 : 1))
    }
}
