import CTorch

extension Tensor {
    /// `torch.linalg.solve(self, b)`: x with `self @ x = b`. self (…, n, n), b (…, n, k) or (…, n).
    public func solve(_ b: Tensor) -> Tensor { Tensor.make { ct_linalg_solve(handle, b.handle, $0) } }
}
