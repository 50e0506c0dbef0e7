import CTorch

extension Tensor {
    /// A tensor with the same elements in `shape`; one entry may be -1.
    public func reshape(_ shape: [Int]) -> Tensor {
        let s = shape.map(Int64.init)
        return Tensor.make { ct_reshape(handle, s, Int32(s.count), $0) }
    }
    public func reshape(_ shape: Int...) -> Tensor { reshape(shape) }
    /// Like `reshape`, but never copies: fails when the layout does not allow a view.
    public func view(_ shape: [Int]) -> Tensor {
        let s = shape.map(Int64.init)
        return Tensor.make { ct_view(handle, s, Int32(s.count), $0) }
    }
    public func view(_ shape: Int...) -> Tensor { view(shape) }
    public func permute(_ dims: [Int]) -> Tensor {
        let d = dims.map(Int64.init)
        return Tensor.make { ct_permute(handle, d, Int32(d.count), $0) }
    }
    public func permute(_ dims: Int...) -> Tensor { permute(dims) }
    public func transpose(_ d0: Int, _ d1: Int) -> Tensor {
        Tensor.make { ct_transpose(handle, Int64(d0), Int64(d1), $0) }
    }
    /// The transpose of a matrix (the last two dimensions).
    public var T: Tensor { transpose(-2, -1) }
    public func flatten(_ start: Int = 0, _ end: Int = -1) -> Tensor {
        Tensor.make { ct_flatten(handle, Int64(start), Int64(end), $0) }
    }
    /// Removes `dim` when its size is 1, or every size-1 dimension when `dim` is nil.
    public func squeeze(_ dim: Int? = nil) -> Tensor {
        Tensor.make { ct_squeeze(handle, Int64(dim ?? 0), dim == nil ? 0 : 1, $0) }
    }
    public func unsqueeze(_ dim: Int) -> Tensor { Tensor.make { ct_unsqueeze(handle, Int64(dim), $0) } }
    /// A broadcast view; -1 keeps a dimension's size.
    public func expand(_ shape: [Int]) -> Tensor {
        let s = shape.map(Int64.init)
        return Tensor.make { ct_expand(handle, s, Int32(s.count), $0) }
    }
    public func expand(as other: Tensor) -> Tensor { expand(other.shape) }
    public func repeated(_ repeats: [Int]) -> Tensor {
        let r = repeats.map(Int64.init)
        return Tensor.make { ct_repeat(handle, r, Int32(r.count), $0) }
    }
    public func flip(_ dims: [Int]) -> Tensor {
        let d = dims.map(Int64.init)
        return Tensor.make { ct_flip(handle, d, Int32(d.count), $0) }
    }
    public static func cat(_ tensors: [Tensor], dim: Int = 0) -> Tensor {
        let hs = tensors.map { Optional($0.handle) }
        return Tensor.make { ct_cat(hs, Int32(hs.count), Int64(dim), $0) }
    }
    public static func stack(_ tensors: [Tensor], dim: Int = 0) -> Tensor {
        let hs = tensors.map { Optional($0.handle) }
        return Tensor.make { ct_stack(hs, Int32(hs.count), Int64(dim), $0) }
    }
    /// Pieces of `size` along `dim` (the last may be smaller).
    public func split(_ size: Int, dim: Int = 0) -> [Tensor] {
        let n = Swift.max(1, (shapeOrEmpty(dim) + size - 1) / Swift.max(size, 1))
        return Tensor.makeList(capacity: n + 1) { ct_split(handle, Int64(size), Int64(dim), $0, Int32(n + 1), $1) }
    }
    public func split(sizes: [Int], dim: Int = 0) -> [Tensor] {
        let s = sizes.map(Int64.init)
        return Tensor.makeList(capacity: s.count) {
            ct_split_sizes(handle, s, Int32(s.count), Int64(dim), $0, Int32(s.count), $1)
        }
    }
    public func chunk(_ chunks: Int, dim: Int = 0) -> [Tensor] {
        Tensor.makeList(capacity: Swift.max(chunks, 1)) {
            ct_chunk(handle, Int64(chunks), Int64(dim), $0, Int32(Swift.max(chunks, 1)), $1)
        }
    }
    public func tril(_ diagonal: Int = 0) -> Tensor { Tensor.make { ct_tril(handle, Int64(diagonal), $0) } }
    public func triu(_ diagonal: Int = 0) -> Tensor { Tensor.make { ct_triu(handle, Int64(diagonal), $0) } }
    /// Square matrices with the last dimension on their diagonal.
    public func diagEmbed() -> Tensor { Tensor.make { ct_diag_embed(handle, $0) } }
    /// The diagonal of the last two dimensions.
    public func diagonal() -> Tensor { Tensor.make { ct_diagonal(handle, $0) } }

    private func shapeOrEmpty(_ dim: Int) -> Int {
        let s = shape
        let d = dim < 0 ? dim + s.count : dim
        return s.indices.contains(d) ? s[d] : 0
    }
}
