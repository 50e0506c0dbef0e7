import Torch

/// MindEye2's brain model: its shape and the one option it adds. Keys are the reference's argparse names
/// (`--hidden_dim`, `--n_blocks`) and variables (`clip_seq_dim`, `clip_emb_dim`, `num_voxels_list`), in
/// snake_case like every config section of this project.
public struct MindEye2Config: Codable, Equatable, Sendable {
    /// Width h of the ridge output and the backbone (the reference's `--hidden_dim`; 4096 in the paper,
    /// 1024 the argparse default and the README's small-GPU choice).
    public var hiddenDim = 1024
    /// Residual MLP blocks of the backbone (`--n_blocks`).
    public var nBlocks = 4
    /// Tokens of the CLIP target: ViT-bigG/14 patch tokens.
    public var clipSeqDim = 256
    /// Width of each CLIP token.
    public var clipEmbDim = 1664
    /// Dropout inside the backbone's MLP blocks (`BrainNetwork(drop=.15)`, never overridden in the reference).
    public var drop = 0.15
    /// Voxels of each subject, in the order of the ridge's `linears.{i}` (the reference's `num_voxels_list`).
    /// Subject 1 of NSD (nsdgeneral, 1.8 mm) has 15,724.
    public var numVoxels = [15724]
    /// false: the reference's forward, whose residual MLP blocks never reach the output (see
    /// docs/mindeye2.md); true: each block adds to its own input, so the blocks take part.
    public var effectiveBlocks = false
    /// Multi-subject BiMixCo labels. false: the reference's, each subject's MixCo permutation concatenated
    /// as drawn (indices into its own sub-batch), so from the second subject on a mixed trial's partner label
    /// points at a row of the first subject; true: the permutations shifted to the partner's own row.
    public var mixcoPermOffsets = false

    public init() {}

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case hiddenDim = "hidden_dim", nBlocks = "n_blocks", clipSeqDim = "clip_seq_dim", clipEmbDim = "clip_emb_dim"
        case drop, numVoxels = "num_voxels", effectiveBlocks = "effective_blocks", mixcoPermOffsets = "mixco_perm_offsets"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), d = MindEye2Config()
        hiddenDim = try c.get(.hiddenDim, d.hiddenDim)
        nBlocks = try c.get(.nBlocks, d.nBlocks)
        clipSeqDim = try c.get(.clipSeqDim, d.clipSeqDim)
        clipEmbDim = try c.get(.clipEmbDim, d.clipEmbDim)
        drop = try c.get(.drop, d.drop)
        numVoxels = try c.get(.numVoxels, d.numVoxels)
        effectiveBlocks = try c.get(.effectiveBlocks, d.effectiveBlocks)
        mixcoPermOffsets = try c.get(.mixcoPermOffsets, d.mixcoPermOffsets)
    }

    /// Counts past this are typos; left unbounded, building the layers exhausts memory.
    static let maxBlocks = 1024

    /// The shape problems a user can put in a config, named by key.
    public func validate() throws {
        func fail(_ key: CodingKeys, _ why: String) throws { throw ConfigError("model.\(key.rawValue): \(why)") }
        for (key, value) in [(CodingKeys.hiddenDim, hiddenDim), (.clipSeqDim, clipSeqDim), (.clipEmbDim, clipEmbDim)]
        where value < 1 {
            try fail(key, "must be at least 1, got \(value)")
        }
        if nBlocks < 0 || nBlocks > Self.maxBlocks { try fail(.nBlocks, "must be in 0...\(Self.maxBlocks), got \(nBlocks)") }
        if !(0..<1).contains(drop) { try fail(.drop, "must be in [0, 1), got \(drop)") }
        if numVoxels.isEmpty { try fail(.numVoxels, "must list at least one subject's voxel count") }
        if let i = numVoxels.firstIndex(where: { $0 < 1 }) {
            try fail(.numVoxels, "entry \(i) must be at least 1, got \(numVoxels[i])")
        }
    }
}

extension MindEye2Config {
    /// Parameter counts from the shapes alone, without allocating the model (4096-wide MindEye2 holds ~2 B):
    /// each subject's ridge Linear(V, h), and the backbone: n blocks of LayerNorm(h) + 2 Linear(h, h), n
    /// token-mixing blocks of LayerNorm(1) + 2 Linear(1, 1), backbone_linear Linear(h, Q·E) and clip_proj's
    /// 3 × (LayerNorm(E) + Linear(E, E)). Tests compare them with the built modules.
    public var parameterCounts: (ridge: [Int], backbone: Int) {
        let h = hiddenDim, e = clipEmbDim, out = clipSeqDim * clipEmbDim
        let blocks = nBlocks * (2 * h + 2 * (h * h + h)) + nBlocks * 6
        return (numVoxels.map { $0 * h + h }, blocks + (h * out + out) + 3 * (2 * e + e * e + e))
    }
}
