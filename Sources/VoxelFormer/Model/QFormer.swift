import Torch

/// BERT-style multi-head attention with biased q, k, v and no output projection; cross-attention when
/// `context` is given. Names: `query`, `key`, `value`.
public final class QFormerAttention: Module {
    @ModuleInfo public var query: Linear
    @ModuleInfo public var key: Linear
    @ModuleInfo public var value: Linear
    public let heads: Int
    public let attentionDropout: Double

    public init(width: Int, contextWidth: Int? = nil, heads: Int, dropout: Double) {
        query = Linear(width, width)
        key = Linear(contextWidth ?? width, width)
        value = Linear(contextWidth ?? width, width)
        self.heads = heads
        attentionDropout = dropout
        super.init()
    }

    /// x (B, Q, H), context (B, N, H) -> (B, Q, H)
    public func callAsFunction(_ x: Tensor, context: Tensor? = nil) -> Tensor {
        if let context { return self(x, keys: key(context), values: value(context)) }
        // Self-attention: q, k and v in one matmul (H -> 3H); the modules stay the reference's `query`, `key`, `value`
        let qkv = Linear.fused([query, key, value], x)
        return attend(qkv[0], keys: qkv[1], values: qkv[2])
    }

    /// x (B, Q, H) or (1, Q, H) (the same queries for every sample: projected once, then expanded),
    /// with keys and values already projected, (B, N, H) each -> (B, Q, H).
    public func callAsFunction(_ x: Tensor, keys: Tensor, values: Tensor) -> Tensor {
        attend(query(x), keys: keys, values: values)
    }

    /// Projected queries (B, Q, H) or (1, Q, H), keys and values (B, N, H) -> (B, Q, H).
    private func attend(_ projected: Tensor, keys: Tensor, values: Tensor) -> Tensor {
        let (b, q, h) = (keys.size(0), projected.size(1), projected.size(2))
        let d = h / heads
        let qh = projected.expand([b, q, h]).view(b, q, heads, d).transpose(1, 2)
        let kh = keys.view(b, -1, heads, d).transpose(1, 2)
        let vh = values.view(b, -1, heads, d).transpose(1, 2)
        // The reference keeps attention dropout on in evaluation; here evaluation is deterministic.
        let out: Tensor
        if training && attentionDropout > 0 {
            // SDPA's math path (the only one with dropout on CPU) scales q and k by sqrt(scale) each; k is the
            // large one (N keys). Scaling q alone by the whole factor gives the same scores for less work.
            let scores = (qh * (1 / Double(d).squareRoot())).matmul(kh.transpose(-2, -1))  // (B, heads, Q, N)
            out = F.dropout(scores.softmax(-1), p: attentionDropout, training: true).matmul(vh)  // (B, heads, Q, d)
        } else {
            out = F.scaledDotProductAttention(qh, kh, vh)  // the fused kernel: no dropout
        }
        return out.transpose(1, 2).reshape(b, q, h)
    }
}

/// `LN(residual + Dropout(Linear(x)))`, LayerNorm eps 1e-6. Names: `dense`, `LayerNorm`.
public final class ResidualProjection: Module {
    @ModuleInfo public var dense: Linear
    @ModuleInfo(key: "LayerNorm") public var layerNorm: LayerNorm
    @ModuleInfo public var dropout: Dropout

    public init(width: Int, dropout: Double) {
        dense = Linear(width, width)
        _layerNorm.wrappedValue = LayerNorm(width, eps: 1e-6)
        self.dropout = Dropout(dropout)
        super.init()
    }

    public func callAsFunction(_ x: Tensor, residual: Tensor) -> Tensor { layerNorm(dropout(dense(x)) + residual) }
    /// The heads apply it to one tensor as both input and residual.
    public func callAsFunction(_ x: Tensor) -> Tensor { self(x, residual: x) }
}

/// Cross-attention to the encoder tokens, then self-attention, each post-norm with a residual; no
/// feed-forward. Names: `cross_attn`, `projector_1`, `self_attn`, `projector_2`.
public final class QFormerBlock: Module {
    @ModuleInfo(key: "cross_attn") public var crossAttn: QFormerAttention
    @ModuleInfo(key: "projector_1") public var projector1: ResidualProjection
    @ModuleInfo(key: "self_attn") public var selfAttn: QFormerAttention
    @ModuleInfo(key: "projector_2") public var projector2: ResidualProjection

    public init(width: Int, heads: Int, dropout: Double) {
        _crossAttn.wrappedValue = QFormerAttention(width: width, contextWidth: width, heads: heads, dropout: dropout)
        _projector1.wrappedValue = ResidualProjection(width: width, dropout: dropout)
        _selfAttn.wrappedValue = QFormerAttention(width: width, heads: heads, dropout: dropout)
        _projector2.wrappedValue = ResidualProjection(width: width, dropout: dropout)
        super.init()
    }

    /// queries (B, Q, H) or (1, Q, H), the cross-attention's keys and values (B, N, H) -> (B, Q, H)
    public func callAsFunction(_ x: Tensor, keys: Tensor, values: Tensor) -> Tensor {
        let attended = crossAttn(x, keys: keys, values: values)
        let h = projector1(attended, residual: x.expand(attended.shape))
        return projector2(selfAttn(h), residual: h)
    }
}

/// The Q-Former decoder and its heads (the reference's `BrainDecoder`). Names: `queries`,
/// `attention_blocks.{i}`, `backbone_head.{0,1}`, `backbone_proj`, `clip_head.{0,1}`, `clip_proj`.
public final class QFormerDecoder: Module {
    @ParameterInfo public var queries: Tensor
    @ModuleInfo(key: "attention_blocks") public var attentionBlocks: [QFormerBlock]
    @ModuleInfo(key: "backbone_head") public var backboneHead: [ResidualProjection]
    @ModuleInfo(key: "backbone_proj") public var backboneProj: Linear
    @ModuleInfo(key: "clip_head") public var clipHead: [ResidualProjection]
    @ModuleInfo(key: "clip_proj") public var clipProj: Linear
    public let clipThroughHead: Bool
    /// Recompute each block in the backward pass instead of keeping its activations (training only).
    public var activationCheckpointing = false

    public init(_ config: ModelConfig) {
        let h = config.decoderHiddenDim
        queries = Tensor.randn([1, config.clipSeqDim, h])
        _attentionBlocks.wrappedValue = (0..<config.nBlocksDecoder).map { _ in
            QFormerBlock(width: h, heads: config.qformerHeads, dropout: config.drop)
        }
        // The heads keep the reference's fixed dropout of 0.1.
        _backboneHead.wrappedValue = [ResidualProjection(width: h, dropout: 0.1), ResidualProjection(width: h, dropout: 0.1)]
        _backboneProj.wrappedValue = Linear(h, config.clipEmbDim)
        _clipHead.wrappedValue = [ResidualProjection(width: h, dropout: 0.1), ResidualProjection(width: h, dropout: 0.1)]
        _clipProj.wrappedValue = Linear(h, config.clipEmbDim)
        clipThroughHead = config.clipThroughHead
        super.init()
    }

    /// tokens (B, N, H) -> backbone (B, Q, E), clip_voxels (B, Q, E)
    public func callAsFunction(_ tokens: Tensor) -> (backbone: Tensor, clipVoxels: Tensor) {
        heads(source: tokens) { block, x in (block.crossAttn.key(x), block.crossAttn.value(x)) }
    }

    /// The encoder's output (B, N, C) through `mapper` (C -> H, the feature mapper) and every block's cross-
    /// attention keys and values, with the products folded: key(mapper(e)) = (W_k W_m) e + (W_k b_m + b_k).
    /// The same function, computed from C-wide tokens; the (H × H)·(H × C) folds cost no batch or token
    /// dimension. Worth it when C < H (the paper's 256 < 1280, the demo's 64 < 128); otherwise the tokens are
    /// mapped first, as the reference does. One product per key and per value: their gradients flow straight
    /// back (one product for all of them made the backward pass concatenate [B, N, H] gradients).
    public func callAsFunction(encoded e: Tensor, mapper: Linear) -> (backbone: Tensor, clipVoxels: Tensor) {
        let (c, h) = (e.size(2), queries.size(2))
        guard c < h, !attentionBlocks.isEmpty else { return self(mapper(e)) }
        return heads(source: e, sourceParameters: mapper.parameters()) { block, e in
            func folded(_ projection: Linear) -> Tensor {
                let w = projection.weight
                var bias = w.matmul(mapper.bias ?? Tensor.zeros([h], dtype: w.dtype))
                if let own = projection.bias { bias = bias + own }
                return F.linear(e, weight: w.matmul(mapper.weight), bias: bias)  // (B, N, H)
            }
            return (folded(block.crossAttn.key), folded(block.crossAttn.value))
        }
    }

    /// The blocks, each over the cross-attention keys and values (B, N, H) that `keysAndValues(block, source)`
    /// makes for it, then the heads. `sourceParameters`: the parameters that function reads besides the
    /// block's own.
    private func heads(source: Tensor, sourceParameters: [Tensor] = [],
                       keysAndValues: @escaping (QFormerBlock, Tensor) -> (Tensor, Tensor)) -> (backbone: Tensor, clipVoxels: Tensor)
    {
        // The first block's queries are the same for every sample: projected once (1, Q, H), expanded after.
        var q = queries
        for block in attentionBlocks {
            // Each block makes its own keys and values, inside its checkpoint when checkpointing: made outside,
            // every block's keys and values (and, in the backward pass, their gradients) would be kept through
            // the whole step, [B, N, 2·blocks·H], the largest tensors of the checkpointed step.
            q = checkpoint([q, source], parameters: block.parameters() + sourceParameters, outputs: 1,
                           enabled: activationCheckpointing && training) { t in
                let (k, v) = keysAndValues(block, t[1])
                return [block(t[0], keys: k, values: v)]
            }[0]
        }
        let backbone = backboneProj(backboneHead.reduce(q) { $1($0) })
        // The reference builds clip_head but projects the pre-head tensor; the option routes through it.
        let clip = clipProj(clipThroughHead ? clipHead.reduce(q) { $1($0) } : q)
        return (backbone, clip)
    }
}
