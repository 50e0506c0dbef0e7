import CTorch

public enum Reduction: Int32, Sendable { case none = 0, mean = 1, sum = 2 }

/// Neural-network functions, named as in `torch.nn.functional`.
public enum F {
    public static func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
        Tensor.make { ct_linear(x.handle, weight.handle, bias?.handle, $0) }
    }
    public static func conv1d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1, padding: Int = 0,
                              dilation: Int = 1, groups: Int = 1) -> Tensor
    {
        Tensor.make {
            ct_conv1d(x.handle, weight.handle, bias?.handle, Int64(stride), Int64(padding), Int64(dilation),
                      Int64(groups), $0)
        }
    }
    public static func convTranspose1d(_ x: Tensor, weight: Tensor, bias: Tensor? = nil, stride: Int = 1,
                                       padding: Int = 0, outputPadding: Int = 0, groups: Int = 1,
                                       dilation: Int = 1) -> Tensor
    {
        Tensor.make {
            ct_conv_transpose1d(x.handle, weight.handle, bias?.handle, Int64(stride), Int64(padding),
                                Int64(outputPadding), Int64(groups), Int64(dilation), $0)
        }
    }
    public static func layerNorm(_ x: Tensor, _ shape: [Int], weight: Tensor? = nil, bias: Tensor? = nil,
                                 eps: Double = 1e-5) -> Tensor
    {
        let s = shape.map(Int64.init)
        return Tensor.make { ct_layer_norm(x.handle, s, Int32(s.count), weight?.handle, bias?.handle, eps, $0) }
    }
    public static func groupNorm(_ x: Tensor, groups: Int, weight: Tensor? = nil, bias: Tensor? = nil,
                                 eps: Double = 1e-5) -> Tensor
    {
        Tensor.make { ct_group_norm(x.handle, Int64(groups), weight?.handle, bias?.handle, eps, $0) }
    }
    public static func softmax(_ x: Tensor, dim: Int) -> Tensor { Tensor.make { ct_softmax(x.handle, Int64(dim), $0) } }
    public static func logSoftmax(_ x: Tensor, dim: Int) -> Tensor {
        Tensor.make { ct_log_softmax(x.handle, Int64(dim), $0) }
    }
    /// GELU; `approximate: true` is the tanh form.
    public static func gelu(_ x: Tensor, approximate: Bool = false) -> Tensor {
        Tensor.make { ct_gelu(x.handle, approximate ? 1 : 0, $0) }
    }
    public static func silu(_ x: Tensor) -> Tensor { x.unary(.silu) }
    public static func mish(_ x: Tensor) -> Tensor { x.unary(.mish) }
    public static func relu(_ x: Tensor) -> Tensor { x.unary(.relu) }
    public static func dropout(_ x: Tensor, p: Double, training: Bool) -> Tensor {
        if !training || p == 0 { return x }
        if let global = GlobalBatch.current { return global.dropout(x, p: p) }  // a data-parallel rank
        return Tensor.make { ct_dropout(x.handle, p, 1, $0) }
    }
    /// `softmax(q kᵀ · scale + mask) v` over (..., L, E) queries and (..., S, E) keys. A bool mask keeps
    /// the positions that are true; a float mask is added. `scale` defaults to 1/sqrt(E).
    public static func scaledDotProductAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, mask: Tensor? = nil,
                                                 dropout: Double = 0, isCausal: Bool = false,
                                                 scale: Double? = nil) -> Tensor
    {
        Tensor.make { ct_sdpa(q.handle, k.handle, v.handle, mask?.handle, dropout, isCausal ? 1 : 0, scale ?? -1, $0) }
    }
    /// Cross entropy from logits (N, C) against class indices (N) or class probabilities (N, C).
    public static func crossEntropy(_ logits: Tensor, _ target: Tensor, reduction: Reduction = .mean,
                                    ignoreIndex: Int = -100, labelSmoothing: Double = 0) -> Tensor
    {
        Tensor.make {
            ct_cross_entropy(logits.handle, target.handle, Int32(reduction.rawValue), Int64(ignoreIndex), labelSmoothing, $0)
        }
    }
    public static func mseLoss(_ a: Tensor, _ b: Tensor, reduction: Reduction = .mean) -> Tensor {
        Tensor.make { ct_mse_loss(a.handle, b.handle, reduction.rawValue, $0) }
    }
    public static func l1Loss(_ a: Tensor, _ b: Tensor, reduction: Reduction = .mean) -> Tensor {
        Tensor.make { ct_l1_loss(a.handle, b.handle, reduction.rawValue, $0) }
    }
    /// `x / max(||x||_p, eps)` along `dim`, exactly as `F.normalize` computes it.
    public static func normalize(_ x: Tensor, p: Double = 2, dim: Int = 1, eps: Double = 1e-12) -> Tensor {
        x / x.norm(p, dims: [dim], keepDim: true).clamp(min: eps).expand(as: x)
    }
    public static func cosineSimilarity(_ a: Tensor, _ b: Tensor, dim: Int = 1, eps: Double = 1e-8) -> Tensor {
        Tensor.make { ct_cosine_similarity(a.handle, b.handle, Int64(dim), eps, $0) }
    }
    public static func embedding(_ indices: Tensor, weight: Tensor) -> Tensor {
        Tensor.make { ct_embedding(weight.handle, indices.handle, $0) }
    }
}

extension Tensor {
    public func softmax(_ dim: Int) -> Tensor { F.softmax(self, dim: dim) }
    public func logSoftmax(_ dim: Int) -> Tensor { F.logSoftmax(self, dim: dim) }
    public func relu() -> Tensor { unary(.relu) }
    public func silu() -> Tensor { unary(.silu) }
    public func gelu(approximate: Bool = false) -> Tensor { F.gelu(self, approximate: approximate) }
}
