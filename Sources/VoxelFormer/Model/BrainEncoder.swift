import Torch

/// The layer stack; its only child is `nat_layers` (the reference's `TomerBlock`).
public final class EncoderBlocks: Module {
    @ModuleInfo(key: "nat_layers") public var natLayers: [EncoderLayer]
    public init(_ layers: [EncoderLayer]) {
        _natLayers.wrappedValue = layers
        super.init()
    }
}

/// The Token-Merging Transformer encoder (the reference's `Tomer`): tokenizer, dropout, + SIREN code,
/// encoder layers. Names: `embed_layer`, `pos_embed`, `blocks.nat_layers.{i}`.
public final class BrainEncoder: Module {
    @ModuleInfo(key: "embed_layer") public var embedLayer: VoxelTokenizer
    @ModuleInfo(key: "pos_drop") public var posDrop: Dropout
    @ModuleInfo(key: "pos_embed") public var posEmbed: SirenPositionalEmbedding
    @ModuleInfo public var blocks: EncoderBlocks
    public let config: ModelConfig
    /// Recompute each layer in the backward pass instead of keeping its activations (training only).
    public var activationCheckpointing = false

    public init(_ config: ModelConfig) {
        self.config = config
        let c = config.encoderHiddenDim
        _embedLayer.wrappedValue = VoxelTokenizer(width: c)
        _posEmbed.wrappedValue = SirenPositionalEmbedding(width: c, omega0: config.sirenOmega0)
        _posDrop.wrappedValue = Dropout(config.drop)
        let depth = config.natDepth
        let layers = (0..<depth).map { i in
            EncoderLayer(
                width: c, heads: config.numHeads, neighbors: config.fullAttention ? nil : config.natNumNeighbors,
                drop: config.drop,
                dropPath: depth > 1 ? config.dropPathRate * Double(i) / Double(depth - 1) : 0,
                tomeR: config.tomeR, layerScale: config.layerScaleInit, usesCoordinates: i == 0,
                lastNFeatures: config.lastNFeatures)
        }
        blocks = EncoderBlocks(layers)
        super.init()
        // The reference re-initialises every Linear of the encoder (SIREN included): trunc-normal(0.02), bias 0.
        for (name, p) in namedParameters() where !name.hasPrefix("embed_layer.") {
            if name.hasSuffix("weight") && p.ndim == 2 { Init.truncNormal_(p, std: 0.02) }
            if name.hasSuffix("bias") && p.ndim == 1 && !name.contains("norm") { Init.zeros_(p) }
        }
    }

    /// voxels (B, 1, V), coords (V, 3) raw voxel indices -> tokens (B, N', C).
    public func callAsFunction(_ voxels: Tensor, coords: Tensor) -> Tensor {
        var x = posDrop(embedLayer(voxels))  // (B, V, C)
        x = x + posEmbed(coords.to(x.dtype))
        var sizes: Tensor? = nil
        let carry = config.tomeCarrySizes || config.tomeProportionalAttention
        let proportional = config.tomeProportionalAttention
        for layer in blocks.natLayers {
            let carried = carry ? sizes : nil
            // inputs x and the carried sizes; outputs x (B, N - r, C) and sizes (B, N - r, 1)
            let out = checkpoint([x] + (carried.map { [$0] } ?? []), parameters: layer.parameters(), outputs: 2,
                                 enabled: activationCheckpointing && training) { t in
                let out = layer(t[0], coords: coords, sizes: t.count > 1 ? t[1] : nil, proportional: proportional)
                return [out.x, out.sizes]
            }
            x = out[0]
            sizes = out[1]
        }
        return x
    }

    /// Tokens left after the encoder for `voxels` inputs.
    public func outputTokens(voxels: Int) -> Int {
        var n = voxels
        for _ in 0..<config.natDepth { n -= Swift.min(config.tomeR, n / 2) }
        return n
    }
}
