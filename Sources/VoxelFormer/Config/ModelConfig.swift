import Torch

/// The model's shape and options. Keys are the reference's (`model.encoder_hidden_dim`, ...), so a
/// researcher's Hydra overrides carry over.
public struct ModelConfig: Codable, Equatable, Sendable {
    /// Encoder width C.
    public var encoderHiddenDim = 256
    /// Encoder layers.
    public var natDepth = 2
    /// Heads of the encoder and the decoder.
    public var numHeads = 8
    /// The Q-Former's heads when they differ from the encoder's (nil: `num_heads`, the reference's sharing).
    public var decoderNumHeads: Int?
    /// Tokens removed per encoder layer (bounded by half the tokens).
    public var tomeR = 1000
    /// Decoder width H.
    public var decoderHiddenDim = 1280
    public var nBlocksDecoder = 2
    /// Queries Q (CLIP tokens).
    public var clipSeqDim = 256
    /// Target width E.
    public var clipEmbDim = 1664
    /// Full attention in the encoder; false selects kNN attention.
    public var fullAttention = true
    public var drop = 0.1
    /// Drop-path rate of the last encoder layer (rises linearly from 0).
    public var dropPathRate = 0.2
    /// kNN attention after layer 0 measures distance on these last feature channels.
    public var lastNFeatures = 16
    public var natNumNeighbors = 8
    /// ToMe: carry token sizes across layers (the ToMe paper) instead of restarting at 1 (the reference).
    public var tomeCarrySizes = false
    /// ToMe: add log(size) to attention logits (proportional attention).
    public var tomeProportionalAttention = false
    /// Route `clip_voxels` through the two-layer `clip_head` (the reference builds it but bypasses it).
    public var clipThroughHead = false
    /// Scale of the SIREN code: sin(omega0 * Linear(coords)).
    public var sirenOmega0 = 30.0
    /// Initial value of every LayerScale `gamma_1`/`gamma_2` (the reference's 1e-6).
    public var layerScaleInit = 1e-6

    public init() {}

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case encoderHiddenDim = "encoder_hidden_dim", natDepth = "nat_depth", numHeads = "num_heads"
        case decoderNumHeads = "decoder_num_heads"
        case tomeR = "tome_r", decoderHiddenDim = "decoder_hidden_dim", nBlocksDecoder = "n_blocks_decoder"
        case clipSeqDim = "clip_seq_dim", clipEmbDim = "clip_emb_dim", fullAttention = "full_attention"
        case drop, dropPathRate = "drop_path_rate", lastNFeatures = "last_n_features"
        case natNumNeighbors = "nat_num_neighbors", tomeCarrySizes = "tome_carry_sizes"
        case tomeProportionalAttention = "tome_proportional_attention", clipThroughHead = "clip_through_head"
        case sirenOmega0 = "siren_omega0", layerScaleInit = "layer_scale_init"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), d = ModelConfig()
        encoderHiddenDim = try c.get(.encoderHiddenDim, d.encoderHiddenDim)
        natDepth = try c.get(.natDepth, d.natDepth)
        numHeads = try c.get(.numHeads, d.numHeads)
        decoderNumHeads = try c.decodeIfPresent(Int.self, forKey: .decoderNumHeads)
        tomeR = try c.get(.tomeR, d.tomeR)
        decoderHiddenDim = try c.get(.decoderHiddenDim, d.decoderHiddenDim)
        nBlocksDecoder = try c.get(.nBlocksDecoder, d.nBlocksDecoder)
        clipSeqDim = try c.get(.clipSeqDim, d.clipSeqDim)
        clipEmbDim = try c.get(.clipEmbDim, d.clipEmbDim)
        fullAttention = try c.get(.fullAttention, d.fullAttention)
        drop = try c.get(.drop, d.drop)
        dropPathRate = try c.get(.dropPathRate, d.dropPathRate)
        lastNFeatures = try c.get(.lastNFeatures, d.lastNFeatures)
        natNumNeighbors = try c.get(.natNumNeighbors, d.natNumNeighbors)
        tomeCarrySizes = try c.get(.tomeCarrySizes, d.tomeCarrySizes)
        tomeProportionalAttention = try c.get(.tomeProportionalAttention, d.tomeProportionalAttention)
        clipThroughHead = try c.get(.clipThroughHead, d.clipThroughHead)
        sirenOmega0 = try c.get(.sirenOmega0, d.sirenOmega0)
        layerScaleInit = try c.get(.layerScaleInit, d.layerScaleInit)
    }

    /// The Q-Former's heads: `decoder_num_heads`, else `num_heads`.
    public var qformerHeads: Int { decoderNumHeads ?? numHeads }

    static let maxLayers = 1024

    /// The shape problems a user can put in a config, named by key.
    public func validate() throws {
        func fail(_ key: CodingKeys, _ why: String) throws { throw ConfigError("model.\(key.rawValue): \(why)") }
        // Checked first: every width below is divided by it.
        if numHeads < 1 { try fail(.numHeads, "must be at least 1, got \(numHeads)") }
        for (key, value) in [(CodingKeys.nBlocksDecoder, nBlocksDecoder), (.clipSeqDim, clipSeqDim), (.clipEmbDim, clipEmbDim),
                             (.natNumNeighbors, natNumNeighbors), (.lastNFeatures, lastNFeatures)] where value < 1 {
            try fail(key, "must be at least 1, got \(value)")
        }
        if encoderHiddenDim <= 0 || encoderHiddenDim % numHeads != 0 {
            try fail(.encoderHiddenDim, "must be a positive multiple of num_heads (\(numHeads)), got \(encoderHiddenDim)")
        }
        if let heads = decoderNumHeads, heads < 1 { try fail(.decoderNumHeads, "must be at least 1, got \(heads)") }
        if decoderHiddenDim <= 0 || decoderHiddenDim % qformerHeads != 0 {
            let name = decoderNumHeads == nil ? "num_heads" : "decoder_num_heads"
            try fail(.decoderHiddenDim, "must be a positive multiple of \(name) (\(qformerHeads)), got \(decoderHiddenDim)")
        }
        if encoderHiddenDim % 2 != 0 { try fail(.encoderHiddenDim, "must be even (the tokenizer halves it)") }
        if natDepth < 1 { try fail(.natDepth, "must be at least 1, got \(natDepth)") }
        // Layer counts past this are typos; left unbounded, building the layers exhausts memory or aborts.
        for (key, value) in [(CodingKeys.natDepth, natDepth), (.nBlocksDecoder, nBlocksDecoder)] where value > Self.maxLayers {
            try fail(key, "must be at most \(Self.maxLayers), got \(value)")
        }
        if tomeR < 0 { try fail(.tomeR, "must be 0 or more, got \(tomeR)") }
        if !(sirenOmega0 > 0) { try fail(.sirenOmega0, "must be positive, got \(sirenOmega0)") }
        if !(0..<1).contains(drop) { try fail(.drop, "must be in [0, 1), got \(drop)") }
        if !(0..<1).contains(dropPathRate) { try fail(.dropPathRate, "must be in [0, 1), got \(dropPathRate)") }
        if !sirenOmega0.isFinite { try fail(.sirenOmega0, "must be a finite number, got \(sirenOmega0)") }
        if !(layerScaleInit > 0 && layerScaleInit.isFinite) {
            try fail(.layerScaleInit, "must be a positive finite number, got \(layerScaleInit)")
        }
        if !fullAttention && lastNFeatures > encoderHiddenDim {
            try fail(.lastNFeatures, "must be at most encoder_hidden_dim (\(encoderHiddenDim)), got \(lastNFeatures)")
        }
    }
}
