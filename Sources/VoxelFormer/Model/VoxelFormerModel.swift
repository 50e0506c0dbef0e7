import Torch

/// VoxelFormer's brain model (the reference's `BrainTransformer`): encoder, feature mapper, Q-Former.
/// Names: `brain_encoder.*`, `feature_mapper.*`, `brain_decoder.*`, equal to the reference state dict.
public final class VoxelFormerModel: Module {
    @ModuleInfo(key: "brain_encoder") public var brainEncoder: BrainEncoder
    @ModuleInfo(key: "feature_mapper") public var featureMapper: Linear
    @ModuleInfo(key: "brain_decoder") public var brainDecoder: QFormerDecoder
    public let config: ModelConfig
    /// Activation checkpointing of the encoder layers and the Q-Former blocks (`train.activation_checkpointing`):
    /// the same values and gradients for less memory and one more forward of those blocks per step.
    public var activationCheckpointing: Bool {
        get { brainEncoder.activationCheckpointing }
        set {
            brainEncoder.activationCheckpointing = newValue
            brainDecoder.activationCheckpointing = newValue
        }
    }

    public init(_ config: ModelConfig) {
        self.config = config
        _brainEncoder.wrappedValue = BrainEncoder(config)
        _featureMapper.wrappedValue = Linear(config.encoderHiddenDim, config.decoderHiddenDim)
        _brainDecoder.wrappedValue = QFormerDecoder(config)
        super.init()
    }

    /// voxels (B, 1, V), coords (V, 3) -> backbone (B, Q, E) for the prior, clip_voxels (B, Q, E) for retrieval.
    public func callAsFunction(_ voxels: Tensor, coords: Tensor) -> (backbone: Tensor, clipVoxels: Tensor) {
        // the feature mapper (C -> H) folds into the decoder's keys and values (QFormerDecoder)
        brainDecoder(encoded: brainEncoder(voxels, coords: coords), mapper: featureMapper)  // (B, N', C) in
    }
}
