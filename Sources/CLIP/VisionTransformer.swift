import Torch

/// What the image tower returns.
public enum CLIPOutput: Equatable, Sendable {
    /// `ln_post(x)[:, 1:]`, no projection: MindEye2's targets, (B, 256, 1664) for bigG at 224.
    case tokens
    /// Hugging Face's `hidden_states[layer]`, CLS dropped: index 0 is the input of the first block (after
    /// `ln_pre`), index i the output of block i, negative indices count from the end (-1 = the last block's
    /// output, before `ln_post`; -2 = the last block's input, LLaVA's and UMBRAE's `mm_vision_select_layer`).
    case layer(Int)
    /// `ln_post` of the pooled token, times `proj`: (B, embed_dim).
    case embedding
}

/// The patch embedding, a convolution with stride = kernel = patch and no bias; its one parameter keeps
/// open_clip's name `conv1.weight` (width, 3, patch, patch).
public final class PatchEmbedding: Module {
    @ParameterInfo public var weight: Tensor
    public let patchSize: Int

    public init(width: Int, patchSize: Int) {
        self.patchSize = patchSize
        _weight.wrappedValue = Tensor.zeros([width, 3, patchSize, patchSize])
        super.init()
    }

    /// (B, 3, H, W) -> (B, gh·gw, width), patches in row-major order (conv output flattened, as open_clip).
    /// Non-overlapping patches make the convolution one matmul over the unfolded patches.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let (b, c, h, w) = (x.size(0), x.size(1), x.size(2), x.size(3))
        let p = patchSize, gh = h / p, gw = w / p
        let patches = x.reshape(b, c, gh, p, gw, p).permute(0, 2, 4, 1, 3, 5).reshape(b, gh * gw, c * p * p)
        return patches.matmul(weight.reshape(weight.size(0), c * p * p).transpose(0, 1))
    }
}

/// torch's `nn.MultiheadAttention` as open_clip uses it (self-attention, no mask): `in_proj_weight`
/// (3·width, width) stacks q, k, v; `out_proj` is a Linear.
public final class MultiheadAttention: Module {
    @ParameterInfo(key: "in_proj_weight") public var inProjWeight: Tensor
    @ParameterInfo(key: "in_proj_bias") public var inProjBias: Tensor
    @ModuleInfo(key: "out_proj") public var outProj: Linear
    public let heads: Int

    public init(width: Int, heads: Int) {
        _inProjWeight.wrappedValue = Tensor.zeros([3 * width, width])
        _inProjBias.wrappedValue = Tensor.zeros([3 * width])
        _outProj.wrappedValue = Linear(width, width)
        self.heads = heads
        super.init()
    }

    /// x (B, N, C) -> (B, N, C); scale head_dim^-0.5 (SDPA's default).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let (b, n, c) = (x.size(0), x.size(1), x.size(2))
        let d = c / heads
        let qkv = F.linear(x, weight: inProjWeight, bias: inProjBias).view(b, n, 3, heads, d).permute(2, 0, 3, 1, 4)
        let out = F.scaledDotProductAttention(qkv[0], qkv[1], qkv[2])  // (B, h, N, d)
        return outProj(out.transpose(1, 2).reshape(b, n, c))
    }
}

/// open_clip's `mlp`: `c_fc`, the activation, `c_proj`.
public final class CLIPMLP: Module {
    @ModuleInfo(key: "c_fc") public var cFc: Linear
    @ModuleInfo(key: "c_proj") public var cProj: Linear
    public let quickGelu: Bool

    public init(width: Int, hidden: Int, quickGelu: Bool) {
        _cFc.wrappedValue = Linear(width, hidden)
        _cProj.wrappedValue = Linear(hidden, width)
        self.quickGelu = quickGelu
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let h = cFc(x)
        return cProj(quickGelu ? h * (h * 1.702).sigmoid() : F.gelu(h))
    }
}

/// Pre-norm block: x + attn(ln_1(x)), then x + mlp(ln_2(x)).
public final class ResidualAttentionBlock: Module {
    @ModuleInfo(key: "ln_1") public var ln1: LayerNorm
    @ModuleInfo public var attn: MultiheadAttention
    @ModuleInfo(key: "ln_2") public var ln2: LayerNorm
    @ModuleInfo public var mlp: CLIPMLP

    public init(width: Int, heads: Int, mlpWidth: Int, quickGelu: Bool) {
        _ln1.wrappedValue = LayerNorm(width)
        _attn.wrappedValue = MultiheadAttention(width: width, heads: heads)
        _ln2.wrappedValue = LayerNorm(width)
        _mlp.wrappedValue = CLIPMLP(width: width, hidden: mlpWidth, quickGelu: quickGelu)
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let y = x + attn(ln1(x))
        return y + mlp(ln2(y))
    }
}

public final class CLIPTransformer: Module {
    @ModuleInfo public var resblocks: [ResidualAttentionBlock]

    public init(_ v: CLIPVisionConfig.Vision, quickGelu: Bool) {
        _resblocks.wrappedValue = (0..<v.layers).map { _ in
            ResidualAttentionBlock(width: v.width, heads: v.heads, mlpWidth: v.mlpWidth, quickGelu: quickGelu)
        }
        super.init()
    }
}

/// open_clip's `VisionTransformer` (the `visual` tower of a CLIP model), parameters named as its
/// `visual.*` state dict without the prefix. Inference only: there is no patch dropout.
public final class VisionTransformer: Module {
    @ParameterInfo(key: "class_embedding") public var classEmbedding: Tensor
    @ParameterInfo(key: "positional_embedding") public var positionalEmbedding: Tensor
    @ParameterInfo public var proj: Tensor
    @ModuleInfo public var conv1: PatchEmbedding
    @ModuleInfo(key: "ln_pre") public var lnPre: LayerNorm
    @ModuleInfo public var transformer: CLIPTransformer
    @ModuleInfo(key: "ln_post") public var lnPost: LayerNorm
    public let config: CLIPVisionConfig

    public init(_ config: CLIPVisionConfig) {
        let v = config.vision
        self.config = config
        _classEmbedding.wrappedValue = Tensor.zeros([v.width])
        _positionalEmbedding.wrappedValue = Tensor.zeros([v.patchCount + 1, v.width])
        _proj.wrappedValue = Tensor.zeros([v.width, config.embedDim])
        _conv1.wrappedValue = PatchEmbedding(width: v.width, patchSize: v.patchSize)
        _lnPre.wrappedValue = LayerNorm(v.width)
        _transformer.wrappedValue = CLIPTransformer(v, quickGelu: config.quickGelu)
        _lnPost.wrappedValue = LayerNorm(v.width)
        super.init()
    }

    /// Accepts open_clip checkpoints (`visual.*`; the text tower and `logit_scale` are dropped) and
    /// Hugging Face `CLIPVisionModel(WithProjection)`/`CLIPModel` ones (`vision_model.*`, `visual_projection`;
    /// `text_model.*` dropped). See CLIPWeights.swift.
    override public func sanitize(weights: [String: Tensor]) -> [String: Tensor] {
        super.sanitize(weights: CLIPWeights.openCLIPNames(weights))
    }

    /// The number of blocks to run for `hidden_states[layer]`, or nil when the index is out of range.
    public func blockCount(forLayer layer: Int) -> Int? {
        let n = config.vision.layers
        let i = layer < 0 ? n + 1 + layer : layer
        return (0...n).contains(i) ? i : nil
    }

    /// images (B, 3, S, S), already resized to `image_size` and normalised (see `CLIPPreprocess`).
    public func callAsFunction(_ images: Tensor, output: CLIPOutput = .tokens) throws -> Tensor {
        let v = config.vision
        guard images.ndim == 4, images.size(1) == 3, images.size(2) == v.imageSize, images.size(3) == v.imageSize
        else {
            throw CLIPError.badInput("images of shape \(images.shape): expected (B, 3, \(v.imageSize), \(v.imageSize))")
        }
        var blocks = v.layers
        if case .layer(let layer) = output {
            guard let n = blockCount(forLayer: layer) else {
                throw CLIPError.badInput("layer \(layer): expected -\(v.layers + 1)...\(v.layers) (\(v.layers) blocks)")
            }
            blocks = n
        }
        let b = images.size(0)
        var x = conv1(images.to(dtype: proj.dtype, device: proj.device))  // (B, N, C)
        let cls = classEmbedding.view(1, 1, v.width).expand([b, 1, v.width])
        x = Tensor.cat([cls, x], dim: 1) + positionalEmbedding
        x = lnPre(x)
        for block in transformer.resblocks.prefix(blocks) { x = block(x) }
        switch output {
        case .layer: return x.slice(1, start: 1)
        case .tokens: return lnPost(x).slice(1, start: 1)
        case .embedding:
            // final_ln_after_pool is false: ln_post runs on every token before pooling.
            let normed = lnPost(x)
            let pooled = v.poolType == "avg" ? normed.slice(1, start: 1).mean(1) : normed[.all, 0]
            return pooled.matmul(proj)
        }
    }
}
