import Torch

/// The layer stack; its only child is `nat_layers` (the reference's `TomerBlock`).
public final class EncoderBlocks: Module {
    public let natLayers: ModuleList<EncoderLayer>
    public init(_ layers: [EncoderLayer]) {
        natLayers = ModuleList(layers)
        super.init()
        register(module: "nat_layers", natLayers)
    }
}

/// The Token-Merging Transformer encoder (the reference's `Tomer`): tokenizer, dropout, + SIREN code,
/// encoder layers. Names: `embed_layer`, `pos_embed`, `blocks.nat_layers.{i}`.
public final class BrainEncoder: Module {
    public let embedLayer: VoxelTokenizer
    public let posEmbed: SirenPositionalEmbedding
    public let posDrop: Dropout
    public let blocks: EncoderBlocks
    public let config: ModelConfig

    public init(_ config: ModelConfig) {
        self.config = config
        let c = config.encoderHiddenDim
        embedLayer = VoxelTokenizer(width: c)
        posEmbed = SirenPositionalEmbedding(width: c, omega0: config.sirenOmega0)
        posDrop = Dropout(config.drop)
        let depth = config.natDepth
        let layers = (0..<depth).map { i in
            EncoderLayer(
                width: c, heads: config.numHeads, neighbors: config.fullAttention ? nil : config.natNumNeighbors,
                drop: config.drop,
                dropPath: depth > 1 ? config.dropPathRate * Double(i) / Double(depth - 1) : 0,
                tomeR: config.tomeR, usesCoordinates: i == 0, lastNFeatures: config.lastNFeatures)
        }
        blocks = EncoderBlocks(layers)
        super.init()
        register(module: "embed_layer", embedLayer)
        register(module: "pos_drop", posDrop)
        register(module: "pos_embed", posEmbed)
        register(module: "blocks", blocks)
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
        for layer in blocks.natLayers {
            let out = layer(x, coords: coords, sizes: carry ? sizes : nil, proportional: config.tomeProportionalAttention)
            x = out.x
            sizes = out.sizes
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
