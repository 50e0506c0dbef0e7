import Torch

/// MindEye2's brain model, the reference `MindEyeModule`: `ridge` (one linear map per subject) then
/// `backbone` (`BrainNetwork`). Names: `ridge.linears.{i}.*`, `backbone.*`, equal to the reference state
/// dict. The diffusion prior (`diffusion_prior.*` in the reference) and the low-level submodule are not
/// part of it yet.
public final class MindEye2Model: Module {
    @ModuleInfo public var ridge: RidgeRegression
    @ModuleInfo public var backbone: BrainNetwork
    public let config: MindEye2Config

    public init(_ config: MindEye2Config) {
        self.config = config
        _ridge.wrappedValue = RidgeRegression(inputSizes: config.numVoxels, outFeatures: config.hiddenDim)
        _backbone.wrappedValue = BrainNetwork(config)
        super.init()
    }

    /// voxels (B, 1, V_subject) of one subject -> backbone (B, Q, E), clip_voxels (B, Q, E).
    public func callAsFunction(_ voxels: Tensor, subject: Int) -> (backbone: Tensor, clipVoxels: Tensor) {
        backbone(ridge(voxels, subject: subject))
    }

    /// A multi-subject batch as the reference trains on it: entry i holds subject i's voxels (B_i, 1, V_i);
    /// each goes through its own ridge, the results are concatenated in subject order, and the backbone
    /// runs once on the (ΣB_i, 1, h) batch.
    public func callAsFunction(subjects voxels: [Tensor]) -> (backbone: Tensor, clipVoxels: Tensor) {
        precondition(voxels.count == ridge.linears.count,
                     "MindEye2Model: \(voxels.count) subject batches for \(ridge.linears.count) subject(s)")
        return backbone(Tensor.cat(voxels.enumerated().map { ridge($0.element, subject: $0.offset) }, dim: 0))
    }
}
