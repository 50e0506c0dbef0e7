import CTorch

extension Tensor {
    /// `torch.linalg.solve(self, b)`: x with `self @ x = b`. self (…, n, n), b (…, n, k) or (…, n).
    public func solve(_ b: Tensor) -> Tensor { Tensor.make { ct_linalg_solve(handle, b.handle, $0) } }
    /// `torch.linalg.eigh(self)` of a symmetric (…, n, n): eigenvalues in ascending order (…, n) and the
    /// eigenvectors as the columns of (…, n, n).
    public func eigh() -> (values: Tensor, vectors: Tensor) { Tensor.make2 { ct_linalg_eigh(handle, $0, $1) } }
}
