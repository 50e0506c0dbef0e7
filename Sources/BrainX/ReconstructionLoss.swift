import Torch

/// UMBRAE's feature-regression loss between the predicted and the target tokens (the reference's
/// `--recon_loss`): each reduces the whole (B, T, D) difference to one number.
public enum ReconstructionLoss: String, ConfigChoice, Sendable {
    /// `F.mse_loss`: mean squared difference (the default, and what UMBRAE trains with).
    case mse
    /// `F.l1_loss`: mean absolute difference.
    case l1
    /// `F.smooth_l1_loss` with β = 1: 0.5·d² where |d| < 1, |d| − 0.5 elsewhere, averaged.
    case huber
    /// `torch.quantile(|d|, 0.9)`: the 0.9-quantile of the absolute differences, linearly interpolated.
    case quantile

    /// Huber's β (`smooth_l1_loss`'s default) and the quantile's level, fixed in the reference.
    public static let huberBeta = 1.0
    public static let quantileLevel = 0.9

    public func callAsFunction(_ prediction: Tensor, _ target: Tensor) -> Tensor {
        precondition(prediction.shape == target.shape,
                     "\(rawValue) loss: prediction \(prediction.shape) and target \(target.shape) differ in shape")
        switch self {
        case .mse: return F.mseLoss(prediction, target)
        case .l1: return F.l1Loss(prediction, target)
        case .huber: return Self.smoothL1(prediction - target, beta: Self.huberBeta)
        case .quantile: return Self.quantile((prediction - target).abs(), Self.quantileLevel)
        }
    }

    static func smoothL1(_ d: Tensor, beta: Double) -> Tensor {
        let a = d.abs()
        return Tensor.where(a .< beta, d.square() * (0.5 / beta), a - 0.5 * beta).mean()
    }

    /// The q-quantile of all elements of `x`, `torch.quantile`'s default linear interpolation between the
    /// neighbouring order statistics, with its rank q·(n − 1) computed in float32 as torch does for
    /// float32 input. Differentiable (through the sort). Unlike `torch.quantile` it takes any size
    /// (torch refuses inputs over 2^24 elements, fewer than one 128 × 256 × 1024 batch).
    public static func quantile(_ x: Tensor, _ q: Double) -> Tensor {
        precondition((0...1).contains(q), "quantile level must be in [0, 1], got \(q)")
        let sorted = x.flatten().sort().values
        let n = sorted.shape[0]
        precondition(n > 0, "quantile of an empty tensor")
        let rank = Float(q) * Float(n - 1)
        let below = Int(rank), above = Swift.min(below + 1, n - 1)
        let weight = Double(rank - Float(below))
        return sorted.select(0, below).lerp(sorted.select(0, above), weight: weight)
    }
}
