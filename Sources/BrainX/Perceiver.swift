import Torch

/// Flamingo's perceiver attention (lucidrains' `PerceiverAttention`, as UMBRAE copies it): the latents
/// query the media tokens and themselves. Names `norm_media`, `norm_latents`, `to_q`, `to_kv`, `to_out`
/// (no biases).
public final class PerceiverAttention: Module {
    @ModuleInfo(key: "norm_media") public var normMedia: LayerNorm
    @ModuleInfo(key: "norm_latents") public var normLatents: LayerNorm
    @ModuleInfo(key: "to_q") public var toQ: Linear
    @ModuleInfo(key: "to_kv") public var toKV: Linear
    @ModuleInfo(key: "to_out") public var toOut: Linear
    public let heads: Int, dimHead: Int

    public init(dim: Int, heads: Int, dimHead: Int) {
        self.heads = heads
        self.dimHead = dimHead
        let inner = heads * dimHead
        _normMedia.wrappedValue = LayerNorm(dim)
        _normLatents.wrappedValue = LayerNorm(dim)
        _toQ.wrappedValue = Linear(dim, inner, bias: false)
        _toKV.wrappedValue = Linear(dim, 2 * inner, bias: false)
        _toOut.wrappedValue = Linear(inner, dim, bias: false)
        super.init()
    }

    /// media (B, N, D), latents (B, L, D) -> (B, L, D). Keys and values come from concat(media, latents),
    /// the Flamingo change to the Perceiver; softmax(q kᵀ / √dim_head) is the reference's max-subtracted
    /// softmax (the subtraction does not change the value).
    public func callAsFunction(_ media: Tensor, latents: Tensor) -> Tensor {
        let x = normMedia(media), latents = normLatents(latents)
        let b = x.shape[0], l = latents.shape[1]
        func heads(_ t: Tensor) -> Tensor {  // (B, n, h·d) -> (B, h, n, d)
            t.reshape([b, t.shape[1], self.heads, dimHead]).permute(0, 2, 1, 3)
        }
        let q = heads(toQ(latents))                                    // (B, h, L, d)
        let kv = toKV(Tensor.cat([x, latents], dim: 1)).chunk(2, dim: -1)  // 2 × (B, N+L, h·d)
        let out = F.scaledDotProductAttention(q, heads(kv[0]), heads(kv[1]))  // (B, h, L, d)
        return toOut(out.permute(0, 2, 1, 3).reshape([b, l, self.heads * dimHead]))
    }
}

/// The resampler's feed-forward: LayerNorm -> Linear(D, mult·D) -> GELU -> Linear(mult·D, D), no biases
/// in the linears. Keys are the reference `nn.Sequential` indices ("2" is the GELU).
public final class PerceiverFeedForward: Module, UnaryLayer {
    @ModuleInfo(key: "0") public var norm: LayerNorm
    @ModuleInfo(key: "1") public var fc1: Linear
    @ModuleInfo(key: "3") public var fc2: Linear

    public init(dim: Int, mult: Int) {
        _norm.wrappedValue = LayerNorm(dim)
        _fc1.wrappedValue = Linear(dim, dim * mult, bias: false)
        _fc2.wrappedValue = Linear(dim * mult, dim, bias: false)
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { fc2(F.gelu(fc1(norm(x)))) }
}

/// One resampler layer, the reference's `nn.ModuleList([attn, ff])`: keys "0" and "1".
public final class PerceiverLayer: Module {
    @ModuleInfo(key: "0") public var attn: PerceiverAttention
    @ModuleInfo(key: "1") public var ff: PerceiverFeedForward

    public init(dim: Int, heads: Int, dimHead: Int, ffMult: Int) {
        _attn.wrappedValue = PerceiverAttention(dim: dim, heads: heads, dimHead: dimHead)
        _ff.wrappedValue = PerceiverFeedForward(dim: dim, mult: ffMult)
        super.init()
    }
}

/// Flamingo's `PerceiverResampler` with one media frame (`num_media_embeds = 1`): `latents` (L, D) read
/// the input tokens through `depth` residual attention and feed-forward layers, then a final LayerNorm.
/// Names: `latents`, `media_pos_emb` (1, 1, D), `layers.{i}.0.*`, `layers.{i}.1.*`, `norm.*`.
public final class PerceiverResampler: Module {
    @ParameterInfo public var latents: Tensor
    @ParameterInfo(key: "media_pos_emb") public var mediaPosEmb: Tensor
    @ModuleInfo public var layers: [PerceiverLayer]
    @ModuleInfo public var norm: LayerNorm

    public init(dim: Int, depth: Int, heads: Int, dimHead: Int, numLatents: Int, ffMult: Int) {
        // randn, as the reference draws both
        latents = Tensor.randn([numLatents, dim])
        _mediaPosEmb.wrappedValue = Tensor.randn([1, 1, dim])
        layers = (0..<depth).map { _ in PerceiverLayer(dim: dim, heads: heads, dimHead: dimHead, ffMult: ffMult) }
        norm = LayerNorm(dim)
        super.init()
    }

    /// tokens (B, N, D) -> (B, L, D). The reference's (B, 1, N, D) frame axis has one entry; the position
    /// embedding of that one frame is added to every token.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let x = x + mediaPosEmb  // (1, 1, D) broadcast over (B, N, D)
        var latents = self.latents.unsqueeze(0).expand([x.shape[0]] + self.latents.shape)  // (B, L, D)
        for layer in layers {
            latents = layer.attn(x, latents: latents) + latents
            latents = layer.ff(latents) + latents
        }
        return norm(latents)
    }
}

/// UMBRAE's `Perceiver`: LayerNorm over the tokenizer's tokens, the resampler, then `llm_proj` to the
/// output width. Names `ln_vision.*`, `llm_proj.*`, `perceiver.*` (declared in the reference's order).
public final class Perceiver: Module, UnaryLayer {
    @ModuleInfo(key: "ln_vision") public var lnVision: LayerNorm
    @ModuleInfo(key: "llm_proj") public var llmProj: Linear
    @ModuleInfo public var perceiver: PerceiverResampler

    public init(_ config: BrainXConfig) {
        _lnVision.wrappedValue = LayerNorm(config.hiddenDim)
        _llmProj.wrappedValue = Linear(config.hiddenDim, config.outDim)
        perceiver = PerceiverResampler(dim: config.hiddenDim, depth: config.depth, heads: config.heads,
                                       dimHead: config.dimHead, numLatents: config.numLatents, ffMult: config.ffMult)
        super.init()
    }

    /// tokens (B, N, hidden) -> (B, num_latents, out_dim).
    public func callAsFunction(_ x: Tensor) -> Tensor { llmProj(perceiver(lnVision(x))) }
}
