import CTorch

extension Tensor {
    /// Sum over `dims` (all dimensions when empty). `dtype` sets the accumulation/result type.
    public func sum(_ dims: [Int] = [], keepDim: Bool = false, dtype: DType? = nil) -> Tensor {
        let d = dims.map(Int64.init)
        return Tensor.make { ct_sum(handle, d, Int32(d.count), keepDim ? 1 : 0, dtype?.rawValue ?? -1, $0) }
    }
    public func sum(_ dim: Int, keepDim: Bool = false) -> Tensor { sum([dim], keepDim: keepDim) }
    public func mean(_ dims: [Int] = [], keepDim: Bool = false) -> Tensor {
        let d = dims.map(Int64.init)
        return Tensor.make { ct_mean(handle, d, Int32(d.count), keepDim ? 1 : 0, $0) }
    }
    public func mean(_ dim: Int, keepDim: Bool = false) -> Tensor { mean([dim], keepDim: keepDim) }
    public func prod(_ dim: Int? = nil, keepDim: Bool = false) -> Tensor {
        Tensor.make { ct_prod(handle, Int64(dim ?? 0), dim == nil ? 0 : 1, keepDim ? 1 : 0, $0) }
    }
    /// Variance with Bessel's correction by default (`correction: 1`), like `torch.var`.
    public func variance(_ dims: [Int] = [], correction: Int = 1, keepDim: Bool = false) -> Tensor {
        let d = dims.map(Int64.init)
        return Tensor.make { ct_var(handle, d, Int32(d.count), Int64(correction), keepDim ? 1 : 0, $0) }
    }
    public func std(_ dims: [Int] = [], correction: Int = 1, keepDim: Bool = false) -> Tensor {
        variance(dims, correction: correction, keepDim: keepDim).sqrt()
    }
    /// The largest element.
    public func max() -> Tensor { Tensor.make { ct_max_all(handle, $0) } }
    public func min() -> Tensor { Tensor.make { ct_min_all(handle, $0) } }
    /// Largest values along `dim` and their indices.
    public func max(_ dim: Int, keepDim: Bool = false) -> (values: Tensor, indices: Tensor) {
        Tensor.make2 { ct_max_dim(handle, Int64(dim), keepDim ? 1 : 0, $0, $1) }
    }
    public func min(_ dim: Int, keepDim: Bool = false) -> (values: Tensor, indices: Tensor) {
        Tensor.make2 { ct_min_dim(handle, Int64(dim), keepDim ? 1 : 0, $0, $1) }
    }
    /// Index of the largest element along `dim` (of the flattened tensor when `dim` is nil).
    public func argmax(_ dim: Int? = nil, keepDim: Bool = false) -> Tensor {
        Tensor.make { ct_argmax(handle, Int64(dim ?? 0), dim == nil ? 0 : 1, keepDim ? 1 : 0, $0) }
    }
    public func argmin(_ dim: Int? = nil, keepDim: Bool = false) -> Tensor {
        Tensor.make { ct_argmin(handle, Int64(dim ?? 0), dim == nil ? 0 : 1, keepDim ? 1 : 0, $0) }
    }
    public func sort(_ dim: Int = -1, descending: Bool = false, stable: Bool = false)
        -> (values: Tensor, indices: Tensor)
    {
        Tensor.make2 { ct_sort(handle, Int64(dim), descending ? 1 : 0, stable ? 1 : 0, $0, $1) }
    }
    public func argsort(_ dim: Int = -1, descending: Bool = false, stable: Bool = false) -> Tensor {
        Tensor.make { ct_argsort(handle, Int64(dim), descending ? 1 : 0, stable ? 1 : 0, $0) }
    }
    public func topk(_ k: Int, dim: Int = -1, largest: Bool = true, sorted: Bool = true)
        -> (values: Tensor, indices: Tensor)
    {
        Tensor.make2 { ct_topk(handle, Int64(k), Int64(dim), largest ? 1 : 0, sorted ? 1 : 0, $0, $1) }
    }
    /// The p-norm over `dims` (all elements when empty).
    public func norm(_ p: Double = 2, dims: [Int] = [], keepDim: Bool = false) -> Tensor {
        let d = dims.map(Int64.init)
        return Tensor.make { ct_norm(handle, p, d, Int32(d.count), keepDim ? 1 : 0, $0) }
    }
    public func logsumexp(_ dims: [Int] = [], keepDim: Bool = false) -> Tensor {
        let d = dims.map(Int64.init)
        return Tensor.make { ct_logsumexp(handle, d, Int32(d.count), keepDim ? 1 : 0, $0) }
    }
    public func logsumexp(_ dim: Int, keepDim: Bool = false) -> Tensor { logsumexp([dim], keepDim: keepDim) }
    public func cumsum(_ dim: Int) -> Tensor { Tensor.make { ct_cumsum(handle, Int64(dim), $0) } }
    public func all() -> Tensor { Tensor.make { ct_all(handle, $0) } }
    public func any() -> Tensor { Tensor.make { ct_any(handle, $0) } }
}
