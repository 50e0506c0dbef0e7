import Torch

// lucidrains' `conformer` 0.3.2 `ConformerBlock`, as Matcha's `ConformerWrapper` builds it (ff_mult 1,
// conv expansion 2, depthwise kernel 31, Shaw relative positions up to 512), under its state-dict names.

/// `torch.nn.BatchNorm1d` over (B, C, T): batch statistics (and running-average updates, momentum 0.1,
/// unbiased variance) in training, the running statistics in evaluation.
/// Names `weight`, `bias`, `running_mean`, `running_var`, `num_batches_tracked`.
public final class BatchNorm1d: Module, UnaryLayer {
    @ParameterInfo public var weight: Tensor
    @ParameterInfo public var bias: Tensor
    @BufferInfo(key: "running_mean") public var runningMean: Tensor
    @BufferInfo(key: "running_var") public var runningVar: Tensor
    @BufferInfo(key: "num_batches_tracked") public var numBatchesTracked: Tensor
    public let eps: Double, momentum: Double

    public init(_ channels: Int, eps: Double = 1e-5, momentum: Double = 0.1) {
        (self.eps, self.momentum) = (eps, momentum)
        weight = Tensor.ones([channels])
        bias = Tensor.zeros([channels])
        _runningMean.wrappedValue = Tensor.zeros([channels])
        _runningVar.wrappedValue = Tensor.ones([channels])
        _numBatchesTracked.wrappedValue = Tensor.zeros([], dtype: .int64)
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let shape = [1, x.shape[1], 1]
        var mean = runningMean.reshape(shape), variance = runningVar.reshape(shape)
        if training {
            mean = x.mean([0, 2], keepDim: true)
            variance = x.variance([0, 2], correction: 0, keepDim: true)
            let count = Double(x.shape[0] * x.shape[2])
            Torch.noGrad {
                let unbiased = variance.detach().reshape([-1]) * (count / Swift.max(count - 1, 1))
                runningMean.copy_(runningMean * (1 - momentum) + mean.detach().reshape([-1]) * momentum)
                runningVar.copy_(runningVar * (1 - momentum) + unbiased * momentum)
                numBatchesTracked.copy_(numBatchesTracked + 1)
            }
        }
        return (x - mean) / (variance + eps).sqrt() * weight.reshape(shape) + bias.reshape(shape)
    }
}

/// lucidrains' `FeedForward` `net`: "0" Linear, "1" Swish, "2" Dropout, "3" Linear, "4" Dropout.
public final class ConformerFeedForwardNet: Module, UnaryLayer {
    @ModuleInfo(key: "0") public var fc1: Linear
    @ModuleInfo(key: "3") public var fc2: Linear
    public let dropout: Double
    public init(_ dim: Int, mult: Int, dropout: Double) {
        self.dropout = dropout
        _fc1.wrappedValue = Linear(dim, dim * mult)
        _fc2.wrappedValue = Linear(dim * mult, dim)
        super.init()
    }
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let h = F.dropout(F.silu(fc1(x)), p: dropout, training: training)
        return F.dropout(fc2(h), p: dropout, training: training)
    }
}

/// `PreNorm(dim, FeedForward)`: `fn.net.*` then `norm`.
public final class PreNormFeedForward: Module, UnaryLayer {
    public final class Body: Module {
        @ModuleInfo public var net: ConformerFeedForwardNet
        init(_ net: ConformerFeedForwardNet) {
            _net.wrappedValue = net
            super.init()
        }
    }
    @ModuleInfo public var fn: Body
    @ModuleInfo public var norm: LayerNorm
    public init(_ dim: Int, mult: Int, dropout: Double) {
        _fn.wrappedValue = Body(ConformerFeedForwardNet(dim, mult: mult, dropout: dropout))
        _norm.wrappedValue = LayerNorm(dim)
        super.init()
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { fn.net(norm(x)) }
}

/// `Scale(0.5, PreNorm(dim, FeedForward))`: the half-step feed-forward; name `fn.*`.
public final class HalfStepFeedForward: Module, UnaryLayer {
    @ModuleInfo public var fn: PreNormFeedForward
    public init(_ dim: Int, mult: Int, dropout: Double) {
        _fn.wrappedValue = PreNormFeedForward(dim, mult: mult, dropout: dropout)
        super.init()
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { fn(x) * 0.5 }
}

/// lucidrains' conformer `Attention`: bias-free `to_q` and `to_kv` (k then v), `to_out`, and Shaw
/// relative position embeddings `rel_pos_emb` (2·512 + 1, head_dim) added to the scores through q;
/// pairs with a padded frame are excluded (−max float), unlike the transformer block's additive mask.
public final class ConformerAttention: Module {
    @ModuleInfo(key: "to_q") public var toQ: Linear
    @ModuleInfo(key: "to_kv") public var toKV: Linear
    @ModuleInfo(key: "to_out") public var toOut: Linear
    @ModuleInfo(key: "rel_pos_emb") public var relPosEmb: Embedding
    public let heads: Int, headDim: Int, maxPosEmb: Int, dropout: Double

    public init(_ dim: Int, heads: Int, headDim: Int, dropout: Double, maxPosEmb: Int = 512) {
        (self.heads, self.headDim, self.maxPosEmb, self.dropout) = (heads, headDim, maxPosEmb, dropout)
        _toQ.wrappedValue = Linear(dim, heads * headDim, bias: false)
        _toKV.wrappedValue = Linear(dim, 2 * heads * headDim, bias: false)
        _toOut.wrappedValue = Linear(heads * headDim, dim)
        _relPosEmb.wrappedValue = Embedding(2 * maxPosEmb + 1, headDim)
        super.init()
    }

    /// x (B, T, C), mask (B, T) of 0/1 -> (B, T, C)
    public func callAsFunction(_ x: Tensor, mask: Tensor) -> Tensor {
        let (b, n) = (x.shape[0], x.shape[1])
        func split(_ t: Tensor) -> Tensor { t.reshape([b, n, heads, headDim]).transpose(1, 2) }  // (B, h, T, d)
        let kv = toKV(x).chunk(2, dim: -1)
        let q = split(toQ(x)), k = split(kv[0]), v = split(kv[1])
        let scale = 1 / Double(headDim).squareRoot()
        var dots = q.matmul(k.transpose(-1, -2)) * scale  // (B, h, T, T)
        let seq = Tensor.arange(n, device: x.device)
        let distance = (seq.unsqueeze(1) - seq.unsqueeze(0)).clamp(min: Double(-maxPosEmb), max: Double(maxPosEmb)) + maxPosEmb
        let rel = relPosEmb(distance.to(.int64)).to(q.dtype)  // (T, T, d)
        // einsum("b h n d, n r d -> b h n r"): per query position n, q_n · rel[n, r]
        let qn = q.permute(2, 0, 1, 3).reshape([n, b * heads, headDim])  // (T, B·h, d)
        let pos = qn.bmm(rel.transpose(1, 2)).reshape([n, b, heads, n]).permute(1, 2, 0, 3)  // (B, h, T, T)
        dots = dots + pos * scale
        let valid = mask .> 0.5  // (B, T) bool
        let pair = valid.reshape([b, 1, n, 1]) .&& valid.reshape([b, 1, 1, n])
        dots = dots.maskedFill(pair.logicalNot(), -Double(Float.greatestFiniteMagnitude))
        let attention = F.dropout(dots.softmax(-1), p: dropout, training: training)
        return toOut(attention.matmul(v).transpose(1, 2).reshape([b, n, heads * headDim]))
    }
}

/// `PreNorm(dim, Attention)`: `fn.*` then `norm`.
public final class PreNormAttention: Module {
    @ModuleInfo public var fn: ConformerAttention
    @ModuleInfo public var norm: LayerNorm
    public init(_ dim: Int, heads: Int, headDim: Int, dropout: Double) {
        _fn.wrappedValue = ConformerAttention(dim, heads: heads, headDim: headDim, dropout: dropout)
        _norm.wrappedValue = LayerNorm(dim)
        super.init()
    }
    public func callAsFunction(_ x: Tensor, mask: Tensor) -> Tensor { fn(norm(x), mask: mask) }
}

/// `DepthWiseConv1d`: zero padding (K//2 each side for odd K) then a depthwise Conv1d named `conv`.
public final class DepthWiseConv1d: Module, UnaryLayer {
    @ModuleInfo public var conv: Conv1d
    public init(_ channels: Int, kernelSize: Int) {
        precondition(kernelSize % 2 == 1, "DepthWiseConv1d: an odd kernel keeps T, got \(kernelSize)")
        _conv.wrappedValue = Conv1d(channels, channels, kernelSize: kernelSize, padding: kernelSize / 2, groups: channels)
        super.init()
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { conv(x) }
}

/// `ConformerConvModule.net`: "0" LayerNorm, "2" Conv1d 1×1 (C → 4C), GLU over channels, "4" depthwise
/// conv, "5" BatchNorm1d, Swish, "7" Conv1d 1×1 (2C → C), "9" Dropout. It reads padded frames too.
public final class ConformerConvNet: Module, UnaryLayer {
    @ModuleInfo(key: "0") public var norm: LayerNorm
    @ModuleInfo(key: "2") public var pointwise1: Conv1d
    @ModuleInfo(key: "4") public var depthwise: DepthWiseConv1d
    @ModuleInfo(key: "5") public var batchNorm: BatchNorm1d
    @ModuleInfo(key: "7") public var pointwise2: Conv1d
    public let dropout: Double

    public init(_ dim: Int, expansion: Int = 2, kernelSize: Int = 31, dropout: Double) {
        self.dropout = dropout
        let inner = dim * expansion
        _norm.wrappedValue = LayerNorm(dim)
        _pointwise1.wrappedValue = Conv1d(dim, 2 * inner, kernelSize: 1)
        _depthwise.wrappedValue = DepthWiseConv1d(inner, kernelSize: kernelSize)
        _batchNorm.wrappedValue = BatchNorm1d(inner)
        _pointwise2.wrappedValue = Conv1d(inner, dim, kernelSize: 1)
        super.init()
    }

    /// (B, T, C) -> (B, T, C)
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let halves = pointwise1(norm(x).transpose(1, 2)).chunk(2, dim: 1)
        let h = F.silu(batchNorm(depthwise(halves[0] * halves[1].sigmoid())))
        return F.dropout(pointwise2(h).transpose(1, 2), p: dropout, training: training)
    }
}

/// The conv module's wrapper: name `net.*`.
public final class ConformerConvModule: Module, UnaryLayer {
    @ModuleInfo public var net: ConformerConvNet
    public init(_ dim: Int, dropout: Double) {
        _net.wrappedValue = ConformerConvNet(dim, dropout: dropout)
        super.init()
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { net(x) }
}

/// The conformer block: x += ½ff1, x += attn, x += conv, x += ½ff2, then `post_norm`.
/// Names `ff1`, `attn`, `conv`, `ff2`, `post_norm`.
public final class ConformerBlock: Module, MaskedSequenceBlock {
    @ModuleInfo public var ff1: HalfStepFeedForward
    @ModuleInfo public var attn: PreNormAttention
    @ModuleInfo public var conv: ConformerConvModule
    @ModuleInfo public var ff2: HalfStepFeedForward
    @ModuleInfo(key: "post_norm") public var postNorm: LayerNorm

    public init(_ dim: Int, heads: Int, headDim: Int, dropout: Double) {
        _ff1.wrappedValue = HalfStepFeedForward(dim, mult: 1, dropout: dropout)
        _attn.wrappedValue = PreNormAttention(dim, heads: heads, headDim: headDim, dropout: dropout)
        _conv.wrappedValue = ConformerConvModule(dim, dropout: dropout)
        _ff2.wrappedValue = HalfStepFeedForward(dim, mult: 1, dropout: dropout)
        _postNorm.wrappedValue = LayerNorm(dim)
        super.init()
    }

    public func callAsFunction(_ x: Tensor, mask: Tensor) -> Tensor {
        var x = ff1(x) + x
        x = attn(x, mask: mask) + x
        x = conv(x) + x
        x = ff2(x) + x
        return postNorm(x)
    }
}
