import Torch

/// The prior's layer norm: a gain `g` and no bias. `stable` first divides each row by its maximum (for
/// half precision), as the reference's final norm does. eps is 1e-5 in float32 and 1e-3 otherwise.
public final class PriorLayerNorm: Module, UnaryLayer {
    @ParameterInfo public var g: Tensor
    public let stable: Bool
    public let eps: Double
    public let halfPrecisionEps: Double

    public init(_ dim: Int, stable: Bool = false, eps: Double = 1e-5, halfPrecisionEps: Double = 1e-3) {
        g = Tensor.ones([dim])
        self.stable = stable
        self.eps = eps
        self.halfPrecisionEps = halfPrecisionEps
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let x = stable ? x / x.max(-1, keepDim: true).values.detach() : x
        return F.layerNorm(x, [x.size(-1)], weight: g, eps: x.dtype == .float32 ? eps : halfPrecisionEps)
    }
}

/// Multi-query attention of the prior: `heads` query heads share one key/value head, a learned null
/// key/value pair is prepended (the position a dropped condition can still attend to), and the score is
/// the cosine similarity of rotary-embedded queries and keys times 16, plus the relative position bias.
/// Pre-norm in, and a bias-free projection followed by a layer norm out.
public final class PriorAttention: Module {
    public let heads: Int
    public let dimHead: Int
    public let causal: Bool
    /// The cosine similarity is multiplied by this (the reference's `cosine_sim_scale`).
    public let cosineSimScale = 16.0
    @ModuleInfo public var norm: PriorLayerNorm
    /// (2, dimHead): the null key, then the null value.
    @ParameterInfo(key: "null_kv") public var nullKV: Tensor
    @ModuleInfo(key: "to_q") public var toQ: Linear
    @ModuleInfo(key: "to_kv") public var toKV: Linear
    /// Shared by every layer of the transformer; each lists its `freqs`, as PyTorch does.
    @ModuleInfo(key: "rotary_emb") public var rotary: RotaryEmbedding?
    /// Linear(heads·dimHead, dim, no bias), then PriorLayerNorm(dim).
    @ModuleInfo(key: "to_out") public var toOut: Sequential

    public init(dim: Int, dimHead: Int, heads: Int, causal: Bool = false, rotary: RotaryEmbedding?) {
        self.heads = heads
        self.dimHead = dimHead
        self.causal = causal
        norm = PriorLayerNorm(dim)
        _nullKV.wrappedValue = Tensor.randn([2, dimHead])
        _toQ.wrappedValue = Linear(dim, heads * dimHead, bias: false)
        _toKV.wrappedValue = Linear(dim, 2 * dimHead, bias: false)
        _rotary.wrappedValue = rotary
        _toOut.wrappedValue = Sequential(Linear(heads * dimHead, dim, bias: false), PriorLayerNorm(dim))
        super.init()
    }

    /// `x` (B, N, dim) and `bias` (heads, N - from, N + 1) -> (B, N - from, dim): the outputs of positions
    /// `from..<N`, whose queries attend to all N positions (and the null key). `from` > 0 leaves out the
    /// queries of outputs nobody reads: the same values for the rows kept.
    public func callAsFunction(_ x: Tensor, bias: Tensor?, queriesFrom from: Int = 0) -> Tensor {
        let (b, n) = (x.size(0), x.size(1))
        let m = n - from
        let h = norm(x)
        var q = toQ(from == 0 ? h : h.slice(1, start: from)).view(b, m, heads, dimHead).transpose(1, 2)  // (B, heads, M, dh)
        let kv = toKV(h).chunk(2, dim: -1)
        var k = kv[0], v = kv[1]  // (B, N, dh), one head shared by all queries
        if let rotary {
            q = rotary.rotate(q, from: from)
            k = rotary.rotate(k)
        }
        k = Tensor.cat([nullKV[0].expand([b, 1, dimHead]), k], dim: 1)  // (B, N+1, dh)
        v = Tensor.cat([nullKV[1].expand([b, 1, dimHead]), v], dim: 1)
        let root = cosineSimScale.squareRoot()
        q = F.normalize(q, dim: -1) * root
        k = F.normalize(k, dim: -1) * root
        // The one key/value head serves every query head, so the heads fold into the rows of one product
        // per sample (as the reference's einsum does), with no copy of the keys per head.
        var sim = q.reshape([b, heads * m, dimHead]).bmm(k.transpose(1, 2)).view(b, heads, m, n + 1)
        if let bias { sim = sim + bias }
        if causal {
            let (i, j) = (sim.size(-2), sim.size(-1))
            let future = Tensor.ones([i, j], dtype: .bool, device: x.device).triu(j - i + 1)
            sim = sim.maskedFill(future, -Double(Float.greatestFiniteMagnitude))
        }
        let out = sim.softmax(-1).view(b, heads * m, n + 1).bmm(v).view(b, heads, m, dimHead)
        return toOut(out.transpose(1, 2).reshape([b, m, heads * dimHead]))
    }
}
