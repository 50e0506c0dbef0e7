import Torch

/// A block of the U-Net's levels: (B, T, C) and a (B, T) float mask -> (B, T, C). Transformer and
/// conformer blocks both take the decoder's mask this way, as Matcha hands it to either.
public protocol MaskedSequenceBlock: Module {
    func callAsFunction(_ x: Tensor, mask: Tensor) -> Tensor
}

/// Matcha's `SnakeBeta` activation with its input projection: x = proj(x), then
/// x + 1/(exp(β) + 1e-9) · sin²(exp(α)·x), α and β per channel in log scale (initialised to 0).
/// Names `proj`, `alpha`, `beta`.
public final class SnakeBeta: Module, UnaryLayer {
    @ModuleInfo public var proj: Linear
    @ParameterInfo public var alpha: Tensor
    @ParameterInfo public var beta: Tensor

    public init(_ inFeatures: Int, _ outFeatures: Int) {
        _proj.wrappedValue = Linear(inFeatures, outFeatures)
        alpha = Tensor.zeros([outFeatures])
        beta = Tensor.zeros([outFeatures])
        super.init()
    }
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let x = proj(x)
        return x + (1.0 / (beta.exp() + 1e-9)) * (x * alpha.exp()).sin().pow(2)
    }
}

/// The `net` ModuleList of Matcha's `FeedForward`: "0" SnakeBeta(C → 4C), "1" Dropout, "2" Linear(4C → C).
public final class SnakeFeedForwardNet: Module {
    @ModuleInfo(key: "0") public var act: SnakeBeta
    @ModuleInfo(key: "1") public var dropout: Dropout
    @ModuleInfo(key: "2") public var out: Linear
    public init(_ dim: Int, mult: Int = 4, dropout: Double) {
        _act.wrappedValue = SnakeBeta(dim, dim * mult)
        _dropout.wrappedValue = Dropout(dropout)
        _out.wrappedValue = Linear(dim * mult, dim)
        super.init()
    }
}

/// Matcha's `FeedForward` with `activation_fn: snakebeta`. Name `net.{0,2}`.
public final class FeedForward: Module, UnaryLayer {
    @ModuleInfo public var net: SnakeFeedForwardNet
    public init(_ dim: Int, dropout: Double) {
        _net.wrappedValue = SnakeFeedForwardNet(dim, dropout: dropout)
        super.init()
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { net.out(net.dropout(net.act(x))) }
}

/// diffusers' `Attention` as Matcha's transformer block uses it: self-attention, no positional encoding,
/// bias-free q/k/v, scale head_dim^−½. Names `to_q`, `to_k`, `to_v`, `to_out.0` (`to_out.1` is Dropout).
///
/// The mask is what diffusers does with Matcha's float (B, T) mask: an additive bias on the scores
/// (+1 on valid keys, +0 on padded ones), not an exclusion, so padded frames still receive attention.
/// With no padding it is a no-op (softmax ignores a constant shift). Kept for bit-compatibility.
public final class Attention: Module {
    @ModuleInfo(key: "to_q") public var toQ: Linear
    @ModuleInfo(key: "to_k") public var toK: Linear
    @ModuleInfo(key: "to_v") public var toV: Linear
    @ModuleInfo(key: "to_out") public var toOut: [Module]
    public let heads: Int, headDim: Int

    public init(_ dim: Int, heads: Int, headDim: Int, dropout: Double) {
        (self.heads, self.headDim) = (heads, headDim)
        let inner = heads * headDim
        _toQ.wrappedValue = Linear(dim, inner, bias: false)
        _toK.wrappedValue = Linear(dim, inner, bias: false)
        _toV.wrappedValue = Linear(dim, inner, bias: false)
        _toOut.wrappedValue = [Linear(inner, dim), Dropout(dropout)]
        super.init()
    }

    /// x (B, T, C), mask (B, T) -> (B, T, C)
    public func callAsFunction(_ x: Tensor, mask: Tensor) -> Tensor {
        let (b, n) = (x.shape[0], x.shape[1])
        func split(_ t: Tensor) -> Tensor { t.reshape([b, n, heads, headDim]).transpose(1, 2) }  // (B, h, T, d)
        let bias = mask.reshape([b, 1, 1, n]).to(x.dtype)
        let out = F.scaledDotProductAttention(split(toQ(x)), split(toK(x)), split(toV(x)), mask: bias)
        let merged = out.transpose(1, 2).reshape([b, n, heads * headDim])
        return (toOut[1] as! Dropout)((toOut[0] as! Linear)(merged))
    }
}

/// Matcha's `BasicTransformerBlock` (layer norm, self-attention only): x + attn1(norm1 x), then
/// x + ff(norm3 x). Names `norm1`, `attn1`, `norm3`, `ff`.
public final class BasicTransformerBlock: Module, MaskedSequenceBlock {
    @ModuleInfo public var norm1: LayerNorm
    @ModuleInfo public var attn1: Attention
    @ModuleInfo public var norm3: LayerNorm
    @ModuleInfo public var ff: FeedForward

    public init(_ dim: Int, heads: Int, headDim: Int, dropout: Double) {
        _norm1.wrappedValue = LayerNorm(dim)
        _attn1.wrappedValue = Attention(dim, heads: heads, headDim: headDim, dropout: dropout)
        _norm3.wrappedValue = LayerNorm(dim)
        _ff.wrappedValue = FeedForward(dim, dropout: dropout)
        super.init()
    }

    public func callAsFunction(_ x: Tensor, mask: Tensor) -> Tensor {
        let x = x + attn1(norm1(x), mask: mask)
        return x + ff(norm3(x))
    }
}
