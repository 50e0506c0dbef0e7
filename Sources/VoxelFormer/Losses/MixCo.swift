import Torch

/// MixCo augmentation: each sample is, with probability `selectProbability`, mixed with a permuted
/// partner, `v = beta·v + (1 − beta)·v[perm]`, beta ~ Beta(0.15, 0.15); unselected samples keep beta = 1.
/// Draws happen in MindEye's order (randperm, Beta, rand), so seeded runs match the reference.
public struct MixCo {
    public let mixed: Tensor
    /// (B) int64
    public let perm: Tensor
    /// (B) mixing weights; 1 for unselected samples
    public let betas: Tensor
    /// (B) bool
    public let select: Tensor

    public init(voxels: Tensor, beta: Double = 0.15, selectProbability: Double = 0.5) {
        let b = voxels.size(0)
        let perm = Tensor.randperm(b)
        let drawn = Tensor.beta(beta, beta, count: b).to(voxels.dtype)
        let select = Tensor.rand([b]) .<= selectProbability
        self.init(voxels: voxels, perm: perm, betas: drawn, select: select)
    }

    /// Mixing with given draws (for tests and for replaying a batch).
    public init(voxels: Tensor, perm: Tensor, betas drawn: Tensor, select: Tensor) {
        self.perm = perm
        self.select = select
        betas = Tensor.where(select, drawn, Tensor.ones([], dtype: drawn.dtype))
        var shape = [-1]
        shape += Array(repeating: 1, count: voxels.ndim - 1)
        let w = betas.view(shape)
        mixed = voxels * w + voxels.indexSelect(0, perm) * (1 - w)
    }

    /// Soft labels: P = diag(beta), then P[i, perm[i]] = 1 − beta_i (overwriting the diagonal when perm[i] == i).
    public var softLabels: Tensor {
        let b = betas.size(0)
        let diagonal = betas.diagEmbed()
        return diagonal.scatter(1, perm.view(b, 1), (1 - betas).view(b, 1))
    }
}

public enum BiMixCoForm: String, Codable, Sendable, CaseIterable {
    /// The VoxelFormer reference: both terms use the row softmax; the second weights by Pᵀ.
    case reference
    /// MindEye's: the second term uses the column softmax (logitsᵀ rows) against Pᵀ.
    case symmetric
}

/// BiMixCo loss on L2-normalised (B, D) predictions and targets with soft labels from `MixCo`.
public func biMixCoLoss(predictions p: Tensor, targets t: Tensor, mixco: MixCo, temperature: Double = 0.1,
                        form: BiMixCoForm = .reference) -> Tensor
{
    let logits = p.matmul(t.T) / temperature  // (B, B)
    let labels = mixco.softLabels
    let first = -(logits.logSoftmax(-1) * labels).sum(-1).mean()
    let second: Tensor
    switch form {
    case .reference: second = -(logits.logSoftmax(-1) * labels.T).sum(-1).mean()
    case .symmetric: second = -(logits.T.logSoftmax(-1) * labels.T).sum(-1).mean()
    }
    return (first + second) / 2
}
