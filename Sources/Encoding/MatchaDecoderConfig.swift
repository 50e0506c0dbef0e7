import Torch

/// The block type of a U-Net stage (`down_block_type`, `mid_block_type`, `up_block_type`).
public enum MatchaBlockType: String, ConfigChoice, Sendable {
    case transformer, conformer
}

/// The transformer feed-forward's activation; Matcha's choice for this model is `snakebeta`, the only
/// one built.
public enum MatchaActivation: String, ConfigChoice, Sendable {
    case snakebeta
}

/// Matcha-TTS's `Decoder` parameters (`configs/model/decoder/default.yaml`, the `decoder_params` the
/// seed's `debug_config.yml` lists); the channel counts in and out come from stage 2's latent size.
public struct MatchaDecoderConfig: Codable, Equatable, Sendable {
    /// Width of each U-Net level; all but the last halve T. GroupNorm(8) needs multiples of 8.
    public var channels = [256, 256]
    public var dropout = 0.05
    public var attentionHeadDim = 64
    /// Blocks per level.
    public var nBlocks = 1
    public var numMidBlocks = 2
    public var numHeads = 2
    public var actFn = MatchaActivation.snakebeta
    public var downBlockType = MatchaBlockType.transformer
    public var midBlockType = MatchaBlockType.transformer
    public var upBlockType = MatchaBlockType.transformer

    public init() {}

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case channels, dropout, attentionHeadDim = "attention_head_dim", nBlocks = "n_blocks"
        case numMidBlocks = "num_mid_blocks", numHeads = "num_heads", actFn = "act_fn"
        case downBlockType = "down_block_type", midBlockType = "mid_block_type", upBlockType = "up_block_type"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), d = Self()
        channels = try c.get(.channels, d.channels)
        dropout = try c.get(.dropout, d.dropout)
        attentionHeadDim = try c.get(.attentionHeadDim, d.attentionHeadDim)
        nBlocks = try c.get(.nBlocks, d.nBlocks)
        numMidBlocks = try c.get(.numMidBlocks, d.numMidBlocks)
        numHeads = try c.get(.numHeads, d.numHeads)
        actFn = try c.get(.actFn, d.actFn)
        downBlockType = try c.get(.downBlockType, d.downBlockType)
        midBlockType = try c.get(.midBlockType, d.midBlockType)
        upBlockType = try c.get(.upBlockType, d.upBlockType)
    }

    /// The sequence length must be a multiple of this: each level but the last halves T.
    public var lengthMultiple: Int { 1 << Swift.max(channels.count - 1, 0) }

    static let maxSize = 1 << 16

    /// The problems a user can put in a config, named by `prefix` + key (`model.decoder.channels`).
    public func validate(prefix: String = "model.decoder.") throws {
        func fail(_ key: CodingKeys, _ why: String) throws { throw ConfigError("\(prefix)\(key.rawValue): \(why)") }
        if channels.isEmpty || channels.count > 16 { try fail(.channels, "must list 1 to 16 level widths, got \(channels.count)") }
        if let i = channels.firstIndex(where: { $0 < 8 || $0 % 8 != 0 || $0 > Self.maxSize }) {
            try fail(.channels, "entry \(i) must be a multiple of 8 (GroupNorm with 8 groups) in 8...\(Self.maxSize), got \(channels[i])")
        }
        if !(0..<1).contains(dropout) { try fail(.dropout, "must be in [0, 1), got \(dropout)") }
        for (key, value) in [(CodingKeys.attentionHeadDim, attentionHeadDim), (.nBlocks, nBlocks), (.numHeads, numHeads)]
        where !(1...Self.maxSize).contains(value) {
            try fail(key, "must be in 1...\(Self.maxSize), got \(value)")
        }
        if !(0...Self.maxSize).contains(numMidBlocks) { try fail(.numMidBlocks, "must be in 0...\(Self.maxSize), got \(numMidBlocks)") }
    }
}
