import Torch

/// MedARC's depthwise temporal convolution over `(*, L, C)`: one K-tap kernel per channel (or one shared
/// kernel, `blockwise`), PyTorch `padding="same"` (zeros, K//2 on the left for odd K), cross-correlation.
/// `causal` zeroes the taps after the centre through the `attn_mask` buffer, so output t reads
/// x[t−K//2 … t]; `positive` uses |w|. Names: `weight` (C, 1, K) or (1, 1, K), `bias` (C), `attn_mask` (K).
public final class DepthConv1d: Module, UnaryLayer {
    @ParameterInfo public var weight: Tensor
    @ParameterInfo public var bias: Tensor?
    /// The causal mask is state (a buffer in the reference), so a checkpoint carries it.
    @BufferInfo(key: "attn_mask") public var attnMask: Tensor
    public let channels: Int, kernelSize: Int
    public let causal: Bool, positive: Bool, blockwise: Bool

    public init(_ channels: Int, kernelSize: Int, causal: Bool = false, positive: Bool = false,
                blockwise: Bool = false, bias: Bool = true)
    {
        precondition(!causal || kernelSize % 2 == 1, "DepthConv1d: a causal convolution needs an odd kernel, got \(kernelSize)")
        (self.channels, self.kernelSize) = (channels, kernelSize)
        (self.causal, self.positive, self.blockwise) = (causal, positive, blockwise)
        let w = Tensor.empty(blockwise ? [1, 1, kernelSize] : [channels, 1, kernelSize])
        Init.truncNormal_(w, std: 0.02)
        weight = w
        self.bias = bias ? Tensor.zeros([channels]) : nil
        let mask = Tensor.ones([kernelSize])
        if causal { Torch.noGrad { mask.slice(0, start: kernelSize / 2 + 1).fill_(0) } }
        _attnMask.wrappedValue = mask
        super.init()
    }

    /// (*, L, C) -> (*, L, C)
    public func callAsFunction(_ x: Tensor) -> Tensor {
        let shape = x.shape
        let (l, c) = (shape[shape.count - 2], shape[shape.count - 1])
        precondition(c == channels, "DepthConv1d: expected \(channels) channels last, got \(shape)")
        var input = x.reshape([-1, l, c]).transpose(1, 2)  // (N, C, L)
        var w = weight * attnMask
        if positive { w = w.abs() }
        if blockwise { w = w.expand([channels, 1, kernelSize]) }
        // "same": K−1 zeros in all, the smaller half on the left (they differ only for an even K).
        let left = (kernelSize - 1) / 2, right = kernelSize - 1 - left
        var padding = left
        if left != right {
            let n = input.shape[0]
            input = Tensor.cat([Tensor.zeros([n, c, left], dtype: x.dtype, device: x.device), input,
                                Tensor.zeros([n, c, right], dtype: x.dtype, device: x.device)], dim: 2)
            padding = 0
        }
        let y = F.conv1d(input, weight: w, bias: bias, padding: padding, groups: channels)  // (N, C, L)
        return y.transpose(1, 2).reshape(shape)
    }
}

/// MedARC's per-stream feature encoder: `fc` (Linear D → d) first, then `conv` (DepthConv1d over d).
/// Names: `fc.{weight,bias}`, `conv.{weight,bias,attn_mask}`.
public final class LinearConv: Module, UnaryLayer {
    @ModuleInfo public var fc: Linear
    @ModuleInfo public var conv: DepthConv1d

    public init(_ inFeatures: Int, _ outFeatures: Int, kernelSize: Int, causal: Bool = false,
                positive: Bool = false, blockwise: Bool = false)
    {
        _fc.wrappedValue = Linear(inFeatures, outFeatures)
        _conv.wrappedValue = DepthConv1d(outFeatures, kernelSize: kernelSize, causal: causal,
                                         positive: positive, blockwise: blockwise)
        super.init()
    }

    /// (*, L, D) -> (*, L, d)
    public func callAsFunction(_ x: Tensor) -> Tensor { conv(fc(x)) }
}

/// MedARC's `LinearPoolLatent` (`global_pool: linear`): a learned weight per (feature layer, channel),
/// summed over the layers. Name: `weight` (total L, d).
public final class LinearPoolLatent: Module, UnaryLayer {
    @ParameterInfo public var weight: Tensor

    public init(embedDim: Int, featureCount: Int) {
        let w = Tensor.empty([featureCount, embedDim])
        Init.truncNormal_(w, std: 0.02)
        weight = w
        super.init()
    }

    /// (*, L, d) -> (*, d)
    public func callAsFunction(_ x: Tensor) -> Tensor { (x * weight).sum(-2) }
}
