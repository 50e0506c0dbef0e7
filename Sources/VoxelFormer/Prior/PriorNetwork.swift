import Foundation
import Torch

/// The time MLP of the prior: Linear(dim, 2·dim), SiLU, Linear(2·dim, 2·dim), SiLU, Linear(2·dim, dim),
/// under the names of the reference's `MLP` (`net.0.0`, `net.1.0`, `net.2`).
public final class TimeMLP: Module, UnaryLayer {
    @ModuleInfo public var net: Sequential

    public init(_ dim: Int, expansion: Int = 2) {
        let hidden = expansion * dim
        net = Sequential(
            Sequential(Linear(dim, hidden), Lambda { $0.silu() }),
            Sequential(Linear(hidden, hidden), Lambda { $0.silu() }),
            Linear(hidden, dim))
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { net(x.to(.float32)) }
}

/// Sinusoidal embedding of (continuous) diffusion times: `[sin(t·f), cos(t·f)]` with
/// `f_i = exp(-i · ln(10000) / (dim/2 - 1))`, (B) -> (B, dim).
public func sinusoidalTimeEmbedding(_ t: Tensor, dim: Int) -> Tensor {
    let half = dim / 2
    let rates = (Tensor.arange(0, Double(half), dtype: t.dtype, device: t.device) * -(Foundation.log(10000.0) / Double(half - 1))).exp()
    let angles = t.unsqueeze(1) * rates.unsqueeze(0)  // (B, dim/2)
    return Tensor.cat([angles.sin(), angles.cos()], dim: -1)
}

/// The denoiser of the diffusion prior (MindEye2's `PriorNetwork`). It reads the tokens
/// `[condition (T) | time (1) | noisy target + learned position embedding (T)]` and returns the last T
/// outputs of the transformer: its estimate of the clean target.
///
/// Classifier-free guidance: with probability `brainDropProb` a sample's condition becomes the learned
/// `null_brain_embeds`, and independently with `imageDropProb` its noisy target becomes `null_image_embed`.
public final class PriorNetwork: Module {
    public let config: PriorConfig
    /// Sinusoidal embedding then `TimeMLP`, one token: (B) -> (B, 1, dim).
    @ModuleInfo(key: "to_time_embeds") public var toTimeEmbeds: Sequential
    /// (T, dim), added to the noisy target tokens ("pos_emb" mode).
    @ParameterInfo(key: "learned_query") public var learnedQuery: Tensor
    @ModuleInfo(key: "causal_transformer") public var causalTransformer: PriorTransformer
    /// (T, dim)
    @ParameterInfo(key: "null_brain_embeds") public var nullBrainEmbeds: Tensor
    /// (T, dim)
    @ParameterInfo(key: "null_image_embed") public var nullImageEmbed: Tensor

    public init(_ config: PriorConfig) {
        self.config = config
        let dim = config.dim
        _toTimeEmbeds.wrappedValue = Sequential(
            Sequential(Lambda { sinusoidalTimeEmbedding($0, dim: dim) }, TimeMLP(dim)),
            Lambda { $0.unsqueeze(1) })
        _learnedQuery.wrappedValue = Tensor.randn([config.numTokens, dim]) * (1 / Double(dim).squareRoot())
        _causalTransformer.wrappedValue = PriorTransformer(
            dim: dim, depth: config.depth, dimHead: config.dimHead, heads: config.heads, ffMult: config.ffMult,
            causal: config.causal)
        _nullBrainEmbeds.wrappedValue = Tensor.randn([config.numTokens, dim])
        _nullImageEmbed.wrappedValue = Tensor.randn([config.numTokens, dim])
        super.init()
    }

    /// Which samples keep their input, (B, 1, 1) bool: all for p = 0, none for p = 1, else a uniform draw
    /// below `1 - p` (one draw per sample, as the reference's `prob_mask_like`).
    public static func keepMask(batch: Int, dropProb: Double, device: Device = .cpu) -> Tensor {
        let keep: Tensor
        if dropProb <= 0 {
            keep = Tensor.ones([batch], dtype: .bool, device: device)
        } else if dropProb >= 1 {
            keep = Tensor.zeros([batch], dtype: .bool, device: device)
        } else {
            keep = Tensor.rand([batch], device: device) .< (1 - dropProb)
        }
        return keep.view(batch, 1, 1)
    }

    /// noisy target `image` (B, T, dim), diffusion `times` (B) int64, condition `brain` (B, T, dim)
    /// -> predicted clean target (B, T, dim). The condition's keep mask is drawn before the target's.
    public func callAsFunction(_ image: Tensor, times: Tensor, brain: Tensor, brainDropProb: Double = 0,
                               imageDropProb: Double = 0) -> Tensor
    {
        let b = image.size(0), t = config.numTokens
        precondition(image.shape == [b, t, config.dim] && brain.shape == image.shape,
                     "PriorNetwork: expected target and condition of shape [\(b), \(t), \(config.dim)], got \(image.shape) and \(brain.shape)")
        let keepBrain = Self.keepMask(batch: b, dropProb: brainDropProb, device: image.device)
        let keepImage = Self.keepMask(batch: b, dropProb: imageDropProb, device: image.device)
        let brain = Tensor.where(keepBrain, brain, nullBrainEmbeds.to(brain.dtype).unsqueeze(0))
        let image = Tensor.where(keepImage, image, nullImageEmbed.to(image.dtype).unsqueeze(0))
        let time = toTimeEmbeds(times.to(image.dtype))  // (B, 1, dim)
        let tokens = Tensor.cat([brain, time, image + learnedQuery.unsqueeze(0)], dim: 1)  // (B, 2T+1, dim)
        return causalTransformer(tokens, outputsFrom: t + 1)  // (B, T, dim)
    }

    /// Classifier-free guidance: `null + (conditional - null) · scale`, where `null` drops both the
    /// condition and the noisy target. Scale 1 runs the conditional pass only.
    public func guided(_ image: Tensor, times: Tensor, brain: Tensor, scale: Double) -> Tensor {
        let conditional = self(image, times: times, brain: brain)
        if scale == 1 { return conditional }
        let null = self(image, times: times, brain: brain, brainDropProb: 1, imageDropProb: 1)
        return null + (conditional - null) * scale
    }
}
