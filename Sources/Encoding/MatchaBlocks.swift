import Foundation
import Torch

// The convolutional pieces of Matcha-TTS's 1-D U-Net (`matcha/models/components/decoder.py`), under its
// state-dict names. Tensors are (B, C, T); masks (B, 1, T) hold 1 on valid frames and 0 on padding.

/// Matcha's `SinusoidalPosEmb(dim)`: t (B) or a scalar -> (B, dim) = [sin, cos] of
/// 1000·t·exp(−i·ln(10000)/(dim/2 − 1)), i < dim/2.
public func sinusoidalPosEmb(_ t: Tensor, dim: Int, scale: Double = 1000) -> Tensor {
    precondition(dim % 2 == 0 && dim >= 4, "sinusoidalPosEmb: dim must be even and at least 4, got \(dim)")
    let half = dim / 2
    let freqs = (Tensor.arange(0, Double(half), dtype: .float32, device: t.device) * (-Foundation.log(10000.0) / Double(half - 1))).exp()
    // (scale·t)·f in this order, as the reference rounds it: arguments reach 1000, so order shows at 1e-5.
    let arg = (t.reshape([-1, 1]).to(.float32) * scale) * freqs.unsqueeze(0)  // (B, half)
    return Tensor.cat([arg.sin(), arg.cos()], dim: -1)
}

/// diffusers' `TimestepEmbedding` as Matcha builds it: Linear -> SiLU -> Linear. Names `linear_1`, `linear_2`.
public final class TimestepEmbedding: Module, UnaryLayer {
    @ModuleInfo(key: "linear_1") public var linear1: Linear
    @ModuleInfo(key: "linear_2") public var linear2: Linear

    public init(_ inChannels: Int, _ embedDim: Int) {
        _linear1.wrappedValue = Linear(inChannels, embedDim)
        _linear2.wrappedValue = Linear(embedDim, embedDim)
        super.init()
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { linear2(F.silu(linear1(x))) }
}

/// The `nn.Sequential(Conv1d(k3, p1), GroupNorm(8), Mish)` inside `Block1D`: keys "0" and "1".
public final class ConvNormMish: Module, UnaryLayer {
    @ModuleInfo(key: "0") public var conv: Conv1d
    @ModuleInfo(key: "1") public var norm: GroupNorm

    public init(_ dim: Int, _ dimOut: Int, groups: Int = 8) {
        _conv.wrappedValue = Conv1d(dim, dimOut, kernelSize: 3, padding: 1)
        _norm.wrappedValue = GroupNorm(groups: groups, channels: dimOut)
        super.init()
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { F.mish(norm(conv(x))) }
}

/// Matcha's `Block1D`: the masked conv -> GroupNorm -> Mish, output masked. Name `block.{0,1}`.
public final class Block1D: Module {
    @ModuleInfo public var block: ConvNormMish

    public init(_ dim: Int, _ dimOut: Int, groups: Int = 8) {
        _block.wrappedValue = ConvNormMish(dim, dimOut, groups: groups)
        super.init()
    }
    public func callAsFunction(_ x: Tensor, mask: Tensor) -> Tensor { block(x * mask) * mask }
}

/// The `nn.Sequential(Mish, Linear)` projecting the time embedding: key "1".
public final class MishLinear: Module, UnaryLayer {
    @ModuleInfo(key: "1") public var linear: Linear
    public init(_ inFeatures: Int, _ outFeatures: Int) {
        _linear.wrappedValue = Linear(inFeatures, outFeatures)
        super.init()
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { linear(F.mish(x)) }
}

/// Matcha's `ResnetBlock1D`: block1, plus the projected time embedding, block2, plus a 1×1 residual.
/// Names `mlp.1`, `block1`, `block2`, `res_conv`.
public final class ResnetBlock1D: Module {
    @ModuleInfo public var mlp: MishLinear
    @ModuleInfo public var block1: Block1D
    @ModuleInfo public var block2: Block1D
    @ModuleInfo(key: "res_conv") public var resConv: Conv1d

    public init(_ dim: Int, _ dimOut: Int, timeEmbedDim: Int, groups: Int = 8) {
        _mlp.wrappedValue = MishLinear(timeEmbedDim, dimOut)
        _block1.wrappedValue = Block1D(dim, dimOut, groups: groups)
        _block2.wrappedValue = Block1D(dimOut, dimOut, groups: groups)
        _resConv.wrappedValue = Conv1d(dim, dimOut, kernelSize: 1)
        super.init()
    }

    /// x (B, C_in, T), mask (B, 1, T), time embedding (B, E) -> (B, C_out, T)
    public func callAsFunction(_ x: Tensor, mask: Tensor, time: Tensor) -> Tensor {
        let h = block1(x, mask: mask) + mlp(time).unsqueeze(-1)
        return block2(h, mask: mask) + resConv(x * mask)
    }
}

/// Matcha's `Downsample1D`: Conv1d(k3, stride 2, p1), halving T. Name `conv`.
public final class Downsample1D: Module, UnaryLayer {
    @ModuleInfo public var conv: Conv1d
    public init(_ dim: Int) {
        _conv.wrappedValue = Conv1d(dim, dim, kernelSize: 3, stride: 2, padding: 1)
        super.init()
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { conv(x) }
}

/// Matcha's `Upsample1D` with its transposed convolution: ConvTranspose1d(k4, stride 2, p1), doubling T.
/// Name `conv`.
public final class Upsample1D: Module, UnaryLayer {
    @ModuleInfo public var conv: ConvTranspose1d
    public init(_ dim: Int) {
        _conv.wrappedValue = ConvTranspose1d(dim, dim, kernelSize: 4, stride: 2, padding: 1)
        super.init()
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { conv(x) }
}
