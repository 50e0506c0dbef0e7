import CTorch

extension Tensor {
    /// Whether operations on this tensor are recorded for differentiation.
    public var requiresGrad: Bool {
        get {
            var r: Int32 = 0
            check(ct_requires_grad(handle, &r))
            return r != 0
        }
        set { check(ct_set_requires_grad(handle, newValue ? 1 : 0)) }
    }
    /// Sets `requiresGrad` and returns `self`, like `requires_grad_()`.
    @discardableResult
    public func requiresGrad(_ flag: Bool = true) -> Tensor {
        requiresGrad = flag
        return self
    }
    /// Accumulates d(self)/d(leaf) into the `grad` of every leaf that requires it. A non-scalar tensor
    /// needs the incoming gradient `grad`.
    public func backward(_ grad: Tensor? = nil, retainGraph: Bool = false) {
        check(ct_backward(handle, grad?.handle, retainGraph ? 1 : 0))
    }
    /// The accumulated gradient, or nil before any backward pass reached this tensor.
    public var grad: Tensor? {
        var out: ct_tensor?
        check(ct_grad(handle, &out))
        return out.map { Tensor(handle: $0) }
    }
    /// Clears the gradient (to nothing by default, or to zeros).
    public func zeroGrad(setToNone: Bool = true) { check(ct_zero_grad(handle, setToNone ? 1 : 0)) }
    /// The same values, cut from the graph.
    public func detach() -> Tensor { Tensor.make { ct_detach(handle, $0) } }
    /// The class name of the operation that produced this tensor (`"MulBackward0"`), as PyTorch prints it
    /// in `grad_fn=<...>`; nil for leaves and tensors made without gradient recording.
    public var gradFnName: String? {
        var name: UnsafePointer<CChar>?
        check(ct_grad_fn_name(handle, &name))
        return name.map { String(cString: $0) }
    }
}

/// Scales the gradients of `parameters` together so that their global norm is at most `maxNorm`, as
/// `torch.nn.utils.clip_grad_norm_` does. Returns the norm before clipping.
@discardableResult
public func clipGradNorm(_ parameters: [Tensor], maxNorm: Double, normType: Double = 2) -> Double {
    let hs = parameters.map { Optional($0.handle) }
    var total = 0.0
    check(ct_clip_grad_norm(hs, Int32(hs.count), maxNorm, normType, &total))
    return total
}
