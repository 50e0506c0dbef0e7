import Torch

/// The diffusion prior's shape and options (MindEye2's prior on the DALL-E 2 design). Keys are snake_case
/// like the rest of the configuration; the defaults are the paper's prior (259,865,216 parameters).
public struct PriorConfig: Codable, Equatable, Sendable {
    /// Token width; equals the CLIP embedding width E.
    public var dim = 1664
    /// Transformer layers.
    public var depth = 6
    /// Width of one attention head (and of the single shared key/value head).
    public var dimHead = 52
    /// Query heads; the reference uses `dim / dim_head`.
    public var heads = 32
    /// DDPM steps of the cosine schedule.
    public var timesteps = 100
    /// Tokens of the condition and of the target (CLIP tokens).
    public var numTokens = 256
    /// Classifier-free dropout: the probability of replacing the condition (and, independently, the noisy
    /// target) by its learned null embedding while training.
    public var condDropProb = 0.2
    /// How the learned queries enter; only "pos_emb" (added to the noisy target tokens) is built here.
    public var learnedQueryMode = "pos_emb"
    /// Feed-forward expansion.
    public var ffMult = 4
    /// Causal attention mask; MindEye2 turns it off.
    public var causal = false
    /// DDIM steps at inference.
    public var samplingSteps = 20
    /// Classifier-free guidance scale at inference (1 = none).
    public var guidanceScale = 1.0
    /// DDIM eta at inference (0 = deterministic given the starting noise).
    public var eta = 0.0

    public init() {}

    /// The paper's prior for a target width and token count.
    public init(dim: Int, depth: Int = 6, dimHead: Int = 52, numTokens: Int = 256) {
        self.dim = dim
        self.depth = depth
        self.dimHead = dimHead
        self.heads = dim / dimHead
        self.numTokens = numTokens
    }

    /// Width of the rotary embedding inside each head.
    public var rotaryDim: Int { Swift.min(32, dimHead) }

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case dim, depth, dimHead = "dim_head", heads, timesteps, numTokens = "num_tokens"
        case condDropProb = "cond_drop_prob", learnedQueryMode = "learned_query_mode", ffMult = "ff_mult"
        case causal, samplingSteps = "sampling_steps", guidanceScale = "guidance_scale", eta
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), d = PriorConfig()
        dim = try c.get(.dim, d.dim)
        depth = try c.get(.depth, d.depth)
        dimHead = try c.get(.dimHead, d.dimHead)
        heads = try c.get(.heads, d.heads)
        timesteps = try c.get(.timesteps, d.timesteps)
        numTokens = try c.get(.numTokens, d.numTokens)
        condDropProb = try c.get(.condDropProb, d.condDropProb)
        learnedQueryMode = try c.get(.learnedQueryMode, d.learnedQueryMode)
        ffMult = try c.get(.ffMult, d.ffMult)
        causal = try c.get(.causal, d.causal)
        samplingSteps = try c.get(.samplingSteps, d.samplingSteps)
        guidanceScale = try c.get(.guidanceScale, d.guidanceScale)
        eta = try c.get(.eta, d.eta)
    }

    /// The problems a user can put in a prior configuration, named by key.
    public func validate() throws {
        func fail(_ key: CodingKeys, _ why: String) throws { throw ConfigError("prior.\(key.rawValue): \(why)") }
        for (key, value) in [(CodingKeys.dim, dim), (.depth, depth), (.dimHead, dimHead), (.heads, heads),
                             (.numTokens, numTokens), (.ffMult, ffMult)] where value <= 0 {
            try fail(key, "must be positive, got \(value)")
        }
        // The sinusoidal time embedding divides by dim/2 - 1.
        if dim < 4 || dim % 2 != 0 { try fail(.dim, "must be even and at least 4, got \(dim)") }
        if dimHead % 2 != 0 { try fail(.dimHead, "must be even (rotary pairs), got \(dimHead)") }
        if timesteps < 2 { try fail(.timesteps, "must be at least 2, got \(timesteps)") }
        if !(0...1).contains(condDropProb) { try fail(.condDropProb, "must lie in [0, 1], got \(condDropProb)") }
        if learnedQueryMode != "pos_emb" {
            try fail(.learnedQueryMode, "only \"pos_emb\" is supported, got \"\(learnedQueryMode)\"")
        }
        // The reference switches to ancestral DDPM sampling at `timesteps` steps; only DDIM is built here.
        if samplingSteps < 2 || samplingSteps >= timesteps {
            try fail(.samplingSteps, "must lie in 2..<timesteps (\(timesteps)), got \(samplingSteps)")
        }
        if !(eta >= 0) || !eta.isFinite { try fail(.eta, "must be a finite number, not negative, got \(eta)") }
        if !guidanceScale.isFinite { try fail(.guidanceScale, "must be a finite number, got \(guidanceScale)") }
        if guidanceScale != 1 && condDropProb == 0 {
            try fail(.guidanceScale, "needs cond_drop_prob > 0 (a prior trained without dropout has no null branch)")
        }
    }
}
