import Torch

/// One pre-norm block of the prior: `x + attn(x)`, then `x + ff(x)`. Children "0" and "1" as in the
/// reference's `nn.ModuleList([attention, feed_forward])`.
public final class PriorTransformerLayer: Module {
    @ModuleInfo(key: "0") public var attention: PriorAttention
    /// LayerNorm, Linear(dim, 2·inner, no bias), SwiGLU, (identity), (dropout), Linear(inner, dim, no bias):
    /// indices 0..5 as in the reference's `nn.Sequential`.
    @ModuleInfo(key: "1") public var feedForward: Sequential

    public init(dim: Int, dimHead: Int, heads: Int, ffMult: Int, causal: Bool, rotary: RotaryEmbedding?) {
        _attention.wrappedValue = PriorAttention(dim: dim, dimHead: dimHead, heads: heads, causal: causal, rotary: rotary)
        let inner = ffMult * dim
        _feedForward.wrappedValue = Sequential(
            PriorLayerNorm(dim),
            Linear(dim, 2 * inner, bias: false),
            Lambda { x in
                let halves = x.chunk(2, dim: -1)
                return halves[0] * halves[1].silu()  // SwiGLU: the second half gates the first
            },
            Lambda { $0 },
            Dropout(0),
            Linear(inner, dim, bias: false))
        super.init()
    }

    /// `x` (B, N, dim) -> (B, N - from, dim), the outputs of positions `from..<N` (see `PriorAttention`);
    /// `bias` holds the rows of those positions.
    public func callAsFunction(_ x: Tensor, bias: Tensor, queriesFrom from: Int = 0) -> Tensor {
        let x = attention(x, bias: bias, queriesFrom: from) + (from == 0 ? x : x.slice(1, start: from))
        return feedForward(x) + x
    }
}

/// The prior's transformer (the reference's `FlaggedCausalTransformer`): a relative position bias shared
/// by all layers, one rotary embedding shared by all layers, `depth` blocks, a stable final layer norm and
/// a bias-free output projection.
public final class PriorTransformer: Module, UnaryLayer {
    @ModuleInfo(key: "rel_pos_bias") public var relPosBias: RelativePositionBias
    /// Not a child here: the reference lists it under each layer's attention only.
    public let rotary: RotaryEmbedding
    @ModuleInfo public var layers: [PriorTransformerLayer]
    @ModuleInfo public var norm: PriorLayerNorm
    @ModuleInfo(key: "project_out") public var projectOut: Linear
    /// Recompute each layer in the backward pass instead of keeping its activations (training only).
    public var activationCheckpointing = false

    public init(dim: Int, depth: Int, dimHead: Int, heads: Int, ffMult: Int = 4, causal: Bool = false) {
        _relPosBias.wrappedValue = RelativePositionBias(heads: heads)
        let rotary = RotaryEmbedding(dim: Swift.min(32, dimHead))
        self.rotary = rotary
        layers = (0..<depth).map { _ in
            PriorTransformerLayer(dim: dim, dimHead: dimHead, heads: heads, ffMult: ffMult, causal: causal,
                                  rotary: rotary)
        }
        norm = PriorLayerNorm(dim, stable: true)
        _projectOut.wrappedValue = Linear(dim, dim, bias: false)
        super.init()
    }

    /// (B, N, dim) -> (B, N, dim)
    public func callAsFunction(_ x: Tensor) -> Tensor { self(x, outputsFrom: 0) }

    /// (B, N, dim) -> (B, N - from, dim): the outputs of positions `from..<N`. Every layer but the last
    /// computes all N positions (their keys and values are read); the last one computes the queries, the
    /// feed-forward and the output projection of the kept positions only, so `from` > 0 saves work and
    /// gives the same values as slicing the full output.
    public func callAsFunction(_ x: Tensor, outputsFrom from: Int) -> Tensor {
        let n = x.size(1)
        precondition(from >= 0 && from < n, "PriorTransformer: outputsFrom must lie in 0..<\(n), got \(from)")
        // Keys include the null key at position 0. Contiguous: the permuted bias made each layer's
        // broadcast add (and the reduction of its gradient) several times slower.
        let bias = relPosBias(queries: n, keys: n + 1).contiguous()
        let lastBias = from == 0 ? bias : bias.slice(1, start: from).contiguous()
        var x = x
        for (index, layer) in layers.enumerated() {
            let last = index == layers.count - 1
            x = checkpoint([x, last ? lastBias : bias], parameters: layer.parameters(), outputs: 1,
                           enabled: activationCheckpointing && training) { t in
                [layer(t[0], bias: t[1], queriesFrom: last ? from : 0)]
            }[0]
        }
        if layers.isEmpty && from > 0 { x = x.slice(1, start: from) }
        return projectOut(norm(x))
    }
}
