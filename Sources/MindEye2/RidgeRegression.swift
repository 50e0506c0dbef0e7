import Torch

/// MindEye2's "ridge regression": one `Linear(V_i, h)` with bias per subject, regularised only by the
/// optimiser's weight decay (not a closed-form ridge). Names: `linears.{i}.weight` (h, V_i), `linears.{i}.bias` (h).
public final class RidgeRegression: Module {
    @ModuleInfo public var linears: [Linear]
    public let outFeatures: Int

    public init(inputSizes: [Int], outFeatures: Int) {
        self.outFeatures = outFeatures
        linears = inputSizes.map { Linear($0, outFeatures) }
        super.init()
    }

    /// The voxel count subject `subject` was built with.
    public func inputSize(subject: Int) -> Int { linears[subject].weight.shape[1] }

    /// voxels (B, 1, V_subject) -> (B, 1, h). Only the first entry of axis 1 is read, as in the reference
    /// (which trains with seq_len 1: no past or future trials).
    public func callAsFunction(_ voxels: Tensor, subject: Int) -> Tensor {
        precondition(linears.indices.contains(subject),
                     "RidgeRegression: subject index \(subject) out of range, the model has \(linears.count) subject(s)")
        let v = inputSize(subject: subject)
        precondition(voxels.ndim == 3 && voxels.shape[2] == v,
                     "RidgeRegression: subject \(subject) takes voxels (B, 1, \(v)), got \(voxels.shape)")
        return linears[subject](voxels.select(1, 0)).unsqueeze(1)  // (B, 1, h)
    }
}
