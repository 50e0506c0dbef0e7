/// BrainX's parameters per module, from the config's shapes (nothing is built): what `voxelformer info`
/// prints. A Linear(a, b) holds a·b + b (no bias: a·b), a LayerNorm(d) 2d.
public struct BrainXParameterCounts: Equatable, Sendable {
    /// Per subject, in `subjects` order: `lin1` + `lin2` (the subject tokenizer).
    public var tokenizers: [Int]
    /// Per subject: its learned tokens (`token.fmri{s}`), 0 without `use_token`.
    public var tokens: [Int]
    /// `perceiver.perceiver`: the Flamingo resampler (latents, position embedding, layers, final norm).
    public var resampler: Int
    /// `perceiver`: `ln_vision` + the resampler + `llm_proj`.
    public var perceiver: Int
    public var total: Int { tokenizers.reduce(0, +) + tokens.reduce(0, +) + perceiver }
    /// What an optimiser updates: all but a frozen BrainXC perceiver.
    public var trainable: Int
}

extension BrainXConfig {
    public var parameterCounts: BrainXParameterCounts {
        let h = hiddenDim, l = numLatents, inner = heads * dimHead
        let lin1 = 2 * l + (useNorm ? 2 * l : 0)  // Linear(1, L) (+ LayerNorm(L))
        let tokenizers = numVoxels.map { lin1 + $0 * h + h }
        let tokens = numVoxels.map { _ in useToken ? numTokens * h : 0 }
        let attention = 2 * 2 * h + h * inner + h * 2 * inner + inner * h  // norms, to_q, to_kv, to_out
        let feedForward = 2 * h + 2 * h * (h * ffMult)                      // LayerNorm, two Linears without bias
        let resampler = l * h + h + depth * (attention + feedForward) + 2 * h
        let perceiver = 2 * h + resampler + h * outDim + outDim
        var counts = BrainXParameterCounts(tokenizers: tokenizers, tokens: tokens, resampler: resampler,
                                           perceiver: perceiver, trainable: 0)
        counts.trainable = counts.total - (variant == .brainxc && freezePerceiver ? perceiver : 0)
        return counts
    }
}
