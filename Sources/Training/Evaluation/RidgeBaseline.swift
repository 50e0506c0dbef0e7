import BrainData
import Foundation
import Torch
import VoxelFormer

/// A closed-form ridge regression from a subject's voxels to its flattened targets: what a linear decoder
/// reaches on the same trials, printed beside the model. Voxels are z-scored with the fitting trials'
/// mean and standard deviation, targets are centred (the intercept is not penalised), and
/// W = (ZᵀZ + λI)⁻¹ ZᵀY (or Zᵀ(ZZᵀ + λI)⁻¹Y when there are more voxels than trials, the same W).
/// λ is picked on held-out training trials (the last `validationFraction` of them, by mean squared error),
/// then the model is refitted on every training trial. Computed in float64 through `torch.linalg.solve`.
public struct RidgeBaseline: Sendable {
    /// λ candidates for z-scored voxels (each voxel's squared norm is N, the number of fitting trials).
    public var lambdas: [Double] = [1e-1, 1, 1e1, 1e2, 1e3, 1e4, 1e5]
    /// The fraction of a subject's train trials (the last ones) held out to pick λ.
    public var validationFraction = 0.15
    /// Largest float64 matrix (trials × target width, voxels × target width) computed; beyond it the
    /// baseline is skipped (a paper-sized target of 256 × 1664 per trial would need tens of GB).
    public var maxElements = 400_000_000

    public init() {}

    /// A fitted ridge: `predict(x) = ((x − mean) / std) · weight + bias`.
    public struct Model {
        /// (V), (V), (V, D), (D), all float64.
        public let mean: Tensor, std: Tensor, weight: Tensor, bias: Tensor
        public let lambda: Double
        /// Held-out MSE per candidate λ, in `lambdas` order.
        public let validationMSE: [Double]

        /// x (N, V) or (N, 1, V) → (N, D) float64.
        public func predict(_ x: Tensor) -> Tensor {
            Torch.noGrad {
                let x = x.reshape(x.size(0), -1).to(.float64)
                return ((x - mean) / std).matmul(weight) + bias
            }
        }
    }

    /// Fits at one λ. x (N, V), y (N, D).
    public static func fit(x: Tensor, y: Tensor, lambda: Double) -> Model {
        Torch.noGrad {
            let x = x.reshape(x.size(0), -1).to(.float64), y = y.reshape(y.size(0), -1).to(.float64)
            let n = x.size(0), v = x.size(1)
            let mean = x.mean(0), std = x.std([0], correction: 0).clamp(min: 1e-12)
            let z = (x - mean) / std
            let bias = y.mean(0)
            let yc = y - bias
            let weight: Tensor
            if v <= n {
                weight = (z.T.matmul(z) + Tensor.eye(v, dtype: .float64) * lambda).solve(z.T.matmul(yc))  // (V, D)
            } else {
                weight = z.T.matmul((z.matmul(z.T) + Tensor.eye(n, dtype: .float64) * lambda).solve(yc))  // (V, D)
            }
            return Model(mean: mean, std: std, weight: weight, bias: bias, lambda: lambda, validationMSE: [])
        }
    }

    /// Picks λ on the held-out last trials, then refits on all of them. x (N, V), y (N, ...).
    public func fit(x: Tensor, y: Tensor) throws -> Model {
        let n = x.size(0)
        let held = Int((Double(n) * validationFraction).rounded())
        guard n >= 3, held >= 1, held < n - 1 else {
            throw EvaluationError("ridge baseline: \(n) train trials are too few to hold out \(validationFraction) of them for λ")
        }
        let y = y.reshape(n, -1)
        let fitRows = 0..<(n - held), heldRows = (n - held)..<n
        let xv = x.reshape(n, -1)[heldRows], yv = y[heldRows].to(.float64)
        var mses: [Double] = []
        for lambda in lambdas {
            let m = RidgeBaseline.fit(x: x.reshape(n, -1)[fitRows], y: y[fitRows], lambda: lambda)
            mses.append(Torch.noGrad { (m.predict(xv) - yv).square().mean().item() })
        }
        guard let best = mses.indices.filter({ mses[$0].isFinite }).min(by: { mses[$0] < mses[$1] }) else {
            throw EvaluationError("ridge baseline: the held-out error is not finite for any λ")
        }
        let m = RidgeBaseline.fit(x: x, y: y, lambda: lambdas[best])
        return Model(mean: m.mean, std: m.std, weight: m.weight, bias: m.bias, lambda: m.lambda, validationMSE: mses)
    }

    /// Why the baseline cannot be computed on these sizes, or nil.
    public func tooLarge(trials: Int, voxels: Int, width: Int) -> String? {
        let largest = Swift.max(trials, voxels) * width
        return largest > maxElements
            ? "ridge baseline skipped: \(Swift.max(trials, voxels)) × \(width) float64 values exceed \(maxElements)" : nil
    }

    /// Test-set predictions of one subject: fit on its train trials, predict its test trials (N, T, E) float32.
    public func predictions(data: TrainingData, subject: Int)
        throws -> (model: Model, brain: Tensor, targets: Tensor, imageIDs: [Int])
    {
        let count = data.trainTrialCount(subject: subject)
        let test = try data.testSet(subject: subject)
        let width = test.targets.count / Swift.max(test.targets.size(0), 1)
        if let why = tooLarge(trials: count, voxels: test.voxels.count / Swift.max(test.voxels.size(0), 1), width: width) {
            throw EvaluationError(why)
        }
        let train = try data.trainBatch(Batch(subject: subject, trials: Array(0..<count)))
        try Evaluator.requireFinite(train.voxels, "subject \(subject)'s train voxels")
        try Evaluator.requireFinite(train.targets, "subject \(subject)'s train targets")
        let model = try withTorchError { try fit(x: train.voxels, y: train.targets) }
        let brain = try withTorchError { model.predict(test.voxels).to(.float32).reshape(test.targets.shape) }
        return (model, brain, test.targets, test.imageIDs)
    }
}
