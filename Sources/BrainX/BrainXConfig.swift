import Torch

/// Which of UMBRAE's three brain encoders a config builds (`umbrae/model.py`).
public enum BrainXVariant: String, ConfigChoice, Sendable {
    /// Cross-subject: one tokenizer per subject (`lin1.fmri{s}`, `lin2.fmri{s}`) and the shared perceiver.
    case brainx
    /// Single subject (`lin1`, `lin2`, `perceiver`), the reference `train.py`.
    case brainxs
    /// Adaptation to a new subject: BrainXS's names, the perceiver transferred from a BrainX checkpoint
    /// and optionally frozen (`train_adaptation.py`).
    case brainxc
}

/// How the subject tokenizer `lin2(lin1(x)ᵀ)` is computed. Both give the same function (the test
/// compares them); `outer` never builds the (B, V, L) intermediate.
public enum TokenizerPath: String, ConfigChoice, Sendable {
    /// The reference's two matrix products: (B, V, 1) -> lin1 -> (B, V, L) -> lin2 over V -> (B, L, hidden).
    case plain
    /// The identity lin2(w1 xᵀ + b1 1ᵀ) = w1 ⊗ (W2 x) + b1 ⊗ (W2 1) + b2: one (B, V) x (V, hidden) product.
    case outer
}

/// BrainX's shape. Keys are the reference's constructor arguments (`hidden_dim`, `out_dim`, `num_latents`,
/// `use_token`, `use_norm`, `act_first`) and `PerceiverResampler`'s (`depth`, `heads`, `dim_head`,
/// `ff_mult`), in snake_case like every config section of this project. Defaults are UMBRAE's
/// cross-subject model: NSD subjects 1, 2, 5, 7 (nsdgeneral voxel counts), output 1024.
public struct BrainXConfig: Codable, Equatable, Sendable {
    public var variant = BrainXVariant.brainx
    /// NSD subject numbers; subject s's layers are keyed `fmri{s}` (brainx). One subject for brainxs/brainxc.
    public var subjects = [1, 2, 5, 7]
    /// Voxels of each subject, in the order of `subjects` (nsdgeneral: 15724, 14278, 13039, 12682).
    public var numVoxels = [15724, 14278, 13039, 12682]
    /// Width of the tokens the tokenizer makes and the perceiver works at (`hidden_dim`, `patch_embed_dim`).
    public var hiddenDim = 1024
    /// Width of the output tokens (`out_dim`, `llm_proj`'s output): 1024 for CLIP ViT-L/14 targets, 4096
    /// for targets already through LLaVA's projector.
    public var outDim = 1024
    /// Tokens made by the tokenizer and latents of the resampler (its output tokens): 256 = CLIP's 16×16.
    public var numLatents = 256
    /// Resampler layers, heads and head width (inner width heads·dim_head = 1536).
    public var depth = 6
    public var heads = 16
    public var dimHead = 96
    /// Feed-forward width factor of each resampler layer.
    public var ffMult = 4
    /// Learned subject tokens appended to the tokenizer's (`token.fmri{s}`, (1, num_tokens, hidden_dim)).
    public var useToken = false
    /// Number of learned subject tokens (5 in the reference).
    public var numTokens = 5
    /// lin1 becomes Linear -> LayerNorm(num_latents) -> GELU -> Dropout(0.5) (`lin1.fmri{s}.0` etc.).
    public var useNorm = false
    /// With `use_norm`: GELU before the LayerNorm (the LayerNorm's key is then `2`, not `1`).
    public var actFirst = false
    public var tokenizer = TokenizerPath.outer
    /// brainxc: the transferred perceiver takes no gradient (the reference's `--freeze_encoder`).
    public var freezePerceiver = false

    public init() {}

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case variant, subjects, numVoxels = "num_voxels", hiddenDim = "hidden_dim", outDim = "out_dim"
        case numLatents = "num_latents", depth, heads, dimHead = "dim_head", ffMult = "ff_mult"
        case useToken = "use_token", numTokens = "num_tokens", useNorm = "use_norm", actFirst = "act_first"
        case tokenizer, freezePerceiver = "freeze_perceiver"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), d = BrainXConfig()
        variant = try c.get(.variant, d.variant)
        subjects = try c.get(.subjects, d.subjects)
        numVoxels = try c.get(.numVoxels, d.numVoxels)
        hiddenDim = try c.get(.hiddenDim, d.hiddenDim)
        outDim = try c.get(.outDim, d.outDim)
        numLatents = try c.get(.numLatents, d.numLatents)
        depth = try c.get(.depth, d.depth)
        heads = try c.get(.heads, d.heads)
        dimHead = try c.get(.dimHead, d.dimHead)
        ffMult = try c.get(.ffMult, d.ffMult)
        useToken = try c.get(.useToken, d.useToken)
        numTokens = try c.get(.numTokens, d.numTokens)
        useNorm = try c.get(.useNorm, d.useNorm)
        actFirst = try c.get(.actFirst, d.actFirst)
        tokenizer = try c.get(.tokenizer, d.tokenizer)
        freezePerceiver = try c.get(.freezePerceiver, d.freezePerceiver)
    }

    /// NSD's nsdgeneral voxel counts per subject (`umbrae/model.py`, the MindEye webdataset).
    public static let nsdVoxels = [1: 15724, 2: 14278, 3: 15226, 4: 13153, 5: 13039, 6: 17907, 7: 12682, 8: 14386]

    /// A config for NSD subjects with their nsdgeneral voxel counts.
    public static func nsd(_ variant: BrainXVariant = .brainx, subjects: [Int], outDim: Int = 1024) -> BrainXConfig {
        var c = BrainXConfig()
        c.variant = variant
        c.subjects = subjects
        c.numVoxels = subjects.map { nsdVoxels[$0] ?? 0 }
        c.outDim = outDim
        return c
    }

    /// The `fmri{s}` key of each subject, in config order.
    public var subjectKeys: [String] { subjects.map { "fmri\($0)" } }

    /// Counts past this are typos; left unbounded, building the layers exhausts memory.
    static let maxDepth = 1024

    /// The shape problems a user can put in a config, named by key.
    public func validate() throws {
        func fail(_ key: CodingKeys, _ why: String) throws { throw ConfigError("model.\(key.rawValue): \(why)") }
        for (key, value) in [(CodingKeys.hiddenDim, hiddenDim), (.outDim, outDim), (.numLatents, numLatents),
                             (.heads, heads), (.dimHead, dimHead), (.ffMult, ffMult)] where value < 1
        {
            try fail(key, "must be at least 1, got \(value)")
        }
        if depth < 0 || depth > Self.maxDepth { try fail(.depth, "must be in 0...\(Self.maxDepth), got \(depth)") }
        if useToken && numTokens < 1 { try fail(.numTokens, "must be at least 1 with use_token, got \(numTokens)") }
        if subjects.isEmpty { try fail(.subjects, "must list at least one subject") }
        if variant != .brainx && subjects.count != 1 {
            try fail(.subjects, "\(variant.rawValue) is a single-subject model: list one subject, got \(subjects.count)")
        }
        if Set(subjects).count != subjects.count { try fail(.subjects, "lists a subject twice: \(subjects)") }
        if numVoxels.count != subjects.count {
            try fail(.numVoxels, "must give one count per subject (\(subjects.count)), got \(numVoxels.count)")
        }
        if let i = numVoxels.firstIndex(where: { $0 < 1 }) {
            try fail(.numVoxels, "entry \(i) must be at least 1, got \(numVoxels[i])")
        }
        if useNorm && tokenizer == .outer {
            try fail(.tokenizer, "outer needs use_norm false (LayerNorm and GELU after lin1 are not linear in the voxels); use plain")
        }
        if freezePerceiver && variant != .brainxc {
            try fail(.freezePerceiver, "only the brainxc variant freezes its perceiver, got variant \(variant.rawValue)")
        }
    }
}
