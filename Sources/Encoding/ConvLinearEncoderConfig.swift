import Torch

/// One feature stream's shape: `D` for features (T, D), or `[L, D]` for layered features (T, L, D),
/// as MedARC's `feat_dims` entries are written.
public struct FeatureDim: Codable, Equatable, Sendable {
    public var layers: Int
    public var dim: Int
    public init(_ dim: Int, layers: Int = 1) { (self.dim, self.layers) = (dim, layers) }

    public init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let d = try? c.decode(Int.self) {
            self.init(d)
            return
        }
        guard let pair = try? c.decode([Int].self), pair.count == 2 else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "expected D or [L, D]")
        }
        self.init(pair[1], layers: pair[0])
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.singleValueContainer()
        if layers == 1 { try c.encode(dim) } else { try c.encode([layers, dim]) }
    }
}

/// How the streams' (N, L, T, d) embeddings become one (N, T, d): `avg` sums each stream's mean over its
/// layers; `linear` sums all layers with learned weights (`feat_pool.weight`). MedARC's `attn` is left
/// out: it raises a TypeError at the reference's HEAD (see docs/encoding.md).
public enum GlobalPool: String, ConfigChoice, Sendable {
    case avg, linear
}

/// Stage 1, MedARC's `MultiSubjectConvLinearEncoder`. Keys are the reference's constructor arguments;
/// defaults are `config/default_feature_encoding.yaml` (4 subjects, the 5 default feature streams).
public struct ConvLinearEncoderConfig: Codable, Equatable, Sendable {
    public var numSubjects = 4
    /// Llama-3.2-3B, Whisper, Qwen2.5-Omni, InternVL3, V-JEPA2 in the reference's `include_features` order.
    public var featDims = [3072, 1280, 2048, 5120, 1408].map { FeatureDim($0) }
    public var embedDim = 192
    /// Parcels V (Schaefer 1000).
    public var targetDim = 1000
    public var globalPool = GlobalPool.avg
    /// Taps of each stream's DepthConv1d; at most 1: the stream is a plain Linear (`feat_embeds.i.weight`).
    public var encoderKernelSize = 45
    /// 0 or 1 (plain Linear decoders): the reference's `ConvLinear` decoder passes an argument its
    /// DepthConv1d does not take, so values above 1 fail there.
    public var decoderKernelSize = 0
    public var encoderCausal = false
    public var encoderPositive = false
    public var encoderBlockwise = false
    public var withSharedDecoder = true
    public var withSubjectDecoders = true

    public init() {}

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case numSubjects = "num_subjects", featDims = "feat_dims", embedDim = "embed_dim", targetDim = "target_dim"
        case globalPool = "global_pool", encoderKernelSize = "encoder_kernel_size", decoderKernelSize = "decoder_kernel_size"
        case encoderCausal = "encoder_causal", encoderPositive = "encoder_positive", encoderBlockwise = "encoder_blockwise"
        case withSharedDecoder = "with_shared_decoder", withSubjectDecoders = "with_subject_decoders"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), d = Self()
        numSubjects = try c.get(.numSubjects, d.numSubjects)
        featDims = try c.get(.featDims, d.featDims)
        embedDim = try c.get(.embedDim, d.embedDim)
        targetDim = try c.get(.targetDim, d.targetDim)
        globalPool = try c.get(.globalPool, d.globalPool)
        encoderKernelSize = try c.get(.encoderKernelSize, d.encoderKernelSize)
        decoderKernelSize = try c.get(.decoderKernelSize, d.decoderKernelSize)
        encoderCausal = try c.get(.encoderCausal, d.encoderCausal)
        encoderPositive = try c.get(.encoderPositive, d.encoderPositive)
        encoderBlockwise = try c.get(.encoderBlockwise, d.encoderBlockwise)
        withSharedDecoder = try c.get(.withSharedDecoder, d.withSharedDecoder)
        withSubjectDecoders = try c.get(.withSubjectDecoders, d.withSubjectDecoders)
    }

    /// Sizes past this are typos; left unbounded, building the layers exhausts memory.
    static let maxSize = 1 << 20

    /// The problems a user can put in a config, named by key.
    public func validate() throws {
        func fail(_ key: CodingKeys, _ why: String) throws { throw ConfigError("model.\(key.rawValue): \(why)") }
        for (key, value) in [(CodingKeys.numSubjects, numSubjects), (.embedDim, embedDim), (.targetDim, targetDim)]
        where !(1...Self.maxSize).contains(value) {
            try fail(key, "must be in 1...\(Self.maxSize), got \(value)")
        }
        if featDims.isEmpty { try fail(.featDims, "must list at least one feature stream") }
        for (i, f) in featDims.enumerated() where !(1...Self.maxSize).contains(f.dim) || !(1...Self.maxSize).contains(f.layers) {
            try fail(.featDims, "entry \(i) must be D or [L, D] with L and D in 1...\(Self.maxSize), got [\(f.layers), \(f.dim)]")
        }
        if !(0...Self.maxSize).contains(encoderKernelSize) {
            try fail(.encoderKernelSize, "must be in 0...\(Self.maxSize), got \(encoderKernelSize)")
        }
        if encoderCausal && encoderKernelSize > 1 && encoderKernelSize % 2 == 0 {
            try fail(.encoderKernelSize, "must be odd with encoder_causal, got \(encoderKernelSize)")
        }
        if decoderKernelSize > 1 || decoderKernelSize < 0 {
            try fail(.decoderKernelSize, "must be 0 or 1 (linear decoders), got \(decoderKernelSize)")
        }
        if !withSharedDecoder && !withSubjectDecoders {
            try fail(.withSubjectDecoders, "with_shared_decoder and with_subject_decoders cannot both be false")
        }
    }
}
