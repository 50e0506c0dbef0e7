import CTorch

/// One entry of a subscript: `t[0]`, `t[1..<3]`, `t[.all, 2]`, `t[.stride(0, nil, 2)]`, `t[.newAxis]`,
/// `t[.ellipsis, 0]`, `t[indexTensor]`.
public enum TensorIndex {
    case at(Int)
    case slice(start: Int?, end: Int?, step: Int)
    /// Written `.newAxis`.
    case insertAxis
    /// Written `.ellipsis`.
    case remainingAxes
    case tensor(Tensor)

    public static var all: TensorIndex { .slice(start: nil, end: nil, step: 1) }
    public static func stride(_ start: Int?, _ end: Int?, _ step: Int) -> TensorIndex {
        .slice(start: start, end: end, step: step)
    }
    /// Consumes one dimension of the input.
    var consumesDimension: Bool {
        switch self {
        case .insertAxis, .remainingAxes: false
        default: true
        }
    }
}

public protocol TensorIndexConvertible { var tensorIndex: TensorIndex { get } }
extension TensorIndex: TensorIndexConvertible { public var tensorIndex: TensorIndex { self } }
/// Lets `.all`, `.stride(...)`, `.newAxis` and `.ellipsis` be written inside a variadic subscript.
extension TensorIndexConvertible where Self == TensorIndex {
    public static var all: TensorIndex { TensorIndex.all }
    public static var newAxis: TensorIndex { .insertAxis }
    public static var ellipsis: TensorIndex { .remainingAxes }
    public static func stride(_ start: Int?, _ end: Int?, _ step: Int) -> TensorIndex {
        TensorIndex.stride(start, end, step)
    }
}
extension Int: TensorIndexConvertible { public var tensorIndex: TensorIndex { .at(self) } }
extension Range<Int>: TensorIndexConvertible {
    public var tensorIndex: TensorIndex { .slice(start: lowerBound, end: upperBound, step: 1) }
}
extension ClosedRange<Int>: TensorIndexConvertible {
    public var tensorIndex: TensorIndex { .slice(start: lowerBound, end: upperBound + 1, step: 1) }
}
extension PartialRangeFrom<Int>: TensorIndexConvertible {
    public var tensorIndex: TensorIndex { .slice(start: lowerBound, end: nil, step: 1) }
}
extension PartialRangeUpTo<Int>: TensorIndexConvertible {
    public var tensorIndex: TensorIndex { .slice(start: nil, end: upperBound, step: 1) }
}
extension PartialRangeThrough<Int>: TensorIndexConvertible {
    public var tensorIndex: TensorIndex { .slice(start: nil, end: upperBound + 1, step: 1) }
}
extension Tensor: TensorIndexConvertible { public var tensorIndex: TensorIndex { .tensor(self) } }
extension Tensor {
    /// NumPy-style basic indexing (integers, ranges, strides, new axes, an ellipsis) returns views;
    /// tensor indices gather (`torch.Tensor.__getitem__` with index tensors). Negative positions count
    /// from the end.
    public subscript(_ indices: any TensorIndexConvertible...) -> Tensor {
        get { index(indices.map(\.tensorIndex)) }
        set { assign(indices.map(\.tensorIndex), newValue) }
    }

    func index(_ indices: [TensorIndex]) -> Tensor {
        var result = self
        var dim = 0
        var advanced: [Tensor?] = []
        var usesAdvanced = false
        let consumed = indices.filter(\.consumesDimension).count
        for entry in indices {
            switch entry {
            case .at(let i):
                result = result.select(dim, i)
            case .slice(let start, let end, let step):
                result = result.slice(dim, start: start ?? 0, end: end ?? Int(Int64.max), step: step)
                advanced.append(nil)
                dim += 1
            case .insertAxis:
                result = result.unsqueeze(dim)
                advanced.append(nil)
                dim += 1
            case .remainingAxes:
                let skip = Swift.max(0, ndim - consumed)
                advanced.append(contentsOf: Array(repeating: nil, count: skip))
                dim += skip
            case .tensor(let t):
                advanced.append(t)
                usesAdvanced = true
                dim += 1
            }
        }
        guard usesAdvanced else { return result }
        let hs = advanced.map { $0?.handle }
        return Tensor.make { ct_index(result.handle, hs, Int32(hs.count), $0) }
    }

    func assign(_ indices: [TensorIndex], _ value: Tensor) {
        if indices.contains(where: { if case .tensor = $0 { true } else { false } }) {
            precondition(indices.allSatisfy { if case .tensor = $0 { true } else { false } },
                         "assignment through index tensors takes only index tensors")
            let hs = indices.map { idx -> ct_tensor? in if case .tensor(let t) = idx { t.handle } else { nil } }
            let updated = Tensor.make { ct_index_put(handle, hs, Int32(hs.count), value.handle, 0, $0) }
            copy_(updated)
        } else {
            index(indices).copy_(value)
        }
    }

    /// `self[..., start:end:step, ...]` along `dim`; out-of-range bounds are clamped as in Python.
    public func slice(_ dim: Int, start: Int = 0, end: Int = Int(Int64.max), step: Int = 1) -> Tensor {
        Tensor.make { ct_slice(handle, Int64(dim), Int64(start), Int64(end), Int64(step), $0) }
    }
    /// Removes `dim` by taking position `index` along it.
    public func select(_ dim: Int, _ index: Int) -> Tensor {
        Tensor.make { ct_select(handle, Int64(dim), Int64(index), $0) }
    }
    public func indexSelect(_ dim: Int, _ index: Tensor) -> Tensor {
        Tensor.make { ct_index_select(handle, Int64(dim), index.handle, $0) }
    }
    public func gather(_ dim: Int, _ index: Tensor) -> Tensor {
        Tensor.make { ct_gather(handle, Int64(dim), index.handle, $0) }
    }
    /// A copy of `self` with `src` written at `index` along `dim` (`torch.scatter`).
    public func scatter(_ dim: Int, _ index: Tensor, _ src: Tensor) -> Tensor {
        Tensor.make { ct_scatter(handle, Int64(dim), index.handle, src.handle, $0) }
    }
    public enum ScatterReduction: String, Sendable { case sum, prod, mean, amax, amin }
    /// A copy of `self` with `src` reduced into `index` along `dim` (`torch.scatter_reduce`).
    public func scatterReduce(_ dim: Int, _ index: Tensor, _ src: Tensor, _ reduce: ScatterReduction,
                              includeSelf: Bool = true) -> Tensor
    {
        Tensor.make { ct_scatter_reduce(handle, Int64(dim), index.handle, src.handle, reduce.rawValue, includeSelf ? 1 : 0, $0) }
    }
    public func maskedSelect(_ mask: Tensor) -> Tensor { Tensor.make { ct_masked_select(handle, mask.handle, $0) } }
    /// Indices of the non-zero elements, shape (count, ndim).
    public func nonzero() -> Tensor { Tensor.make { ct_nonzero(handle, $0) } }
}
