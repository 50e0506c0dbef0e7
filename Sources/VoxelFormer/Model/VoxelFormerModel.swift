import Torch

/// VoxelFormer's brain model (the reference's `BrainTransformer`): encoder, feature mapper, Q-Former.
/// Names: `brain_encoder.*`, `feature_mapper.*`, `brain_decoder.*`, equal to the reference state dict.
public final class VoxelFormerModel: Module {
    public let brainEncoder: BrainEncoder
    public let featureMapper: Linear
    public let brainDecoder: QFormerDecoder
    public let config: ModelConfig

    public init(_ config: ModelConfig) {
        self.config = config
        brainEncoder = BrainEncoder(config)
        featureMapper = Linear(config.encoderHiddenDim, config.decoderHiddenDim)
        brainDecoder = QFormerDecoder(config)
        super.init()
        register(module: "brain_encoder", brainEncoder)
        register(module: "feature_mapper", featureMapper)
        register(module: "brain_decoder", brainDecoder)
    }

    /// voxels (B, 1, V), coords (V, 3) -> backbone (B, Q, E) for the prior, clip_voxels (B, Q, E) for retrieval.
    public func callAsFunction(_ voxels: Tensor, coords: Tensor) -> (backbone: Tensor, clipVoxels: Tensor) {
        let tokens = featureMapper(brainEncoder(voxels, coords: coords))  // (B, N', H)
        return brainDecoder(tokens)
    }
}
