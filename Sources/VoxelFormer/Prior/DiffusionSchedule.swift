import Foundation
import Torch

/// The DDPM noise schedule of the prior (the reference's `NoiseScheduler` with the cosine schedule):
/// every per-step quantity is computed in float64 and kept as a float32 buffer under the reference's name,
/// so a checkpoint's `noise_scheduler.*` entries load one to one.
public final class DiffusionSchedule: Module {
    public let timesteps: Int
    @BufferInfo public var betas: Tensor
    @BufferInfo(key: "alphas_cumprod") public var alphasCumprod: Tensor
    /// `alphas_cumprod` shifted right by one, starting at 1.
    @BufferInfo(key: "alphas_cumprod_prev") public var alphasCumprodPrev: Tensor
    @BufferInfo(key: "sqrt_alphas_cumprod") public var sqrtAlphasCumprod: Tensor
    @BufferInfo(key: "sqrt_one_minus_alphas_cumprod") public var sqrtOneMinusAlphasCumprod: Tensor
    @BufferInfo(key: "log_one_minus_alphas_cumprod") public var logOneMinusAlphasCumprod: Tensor
    @BufferInfo(key: "sqrt_recip_alphas_cumprod") public var sqrtRecipAlphasCumprod: Tensor
    @BufferInfo(key: "sqrt_recipm1_alphas_cumprod") public var sqrtRecipm1AlphasCumprod: Tensor
    @BufferInfo(key: "posterior_variance") public var posteriorVariance: Tensor
    @BufferInfo(key: "posterior_log_variance_clipped") public var posteriorLogVarianceClipped: Tensor
    @BufferInfo(key: "posterior_mean_coef1") public var posteriorMeanCoef1: Tensor
    @BufferInfo(key: "posterior_mean_coef2") public var posteriorMeanCoef2: Tensor
    /// All ones (p2 reweighting off); kept because the reference's state dict holds it.
    @BufferInfo(key: "p2_loss_weight") public var p2LossWeight: Tensor

    /// Nichol & Dhariwal's cosine schedule: `f(t) = cos²((t/T + s)/(1 + s) · π/2)`,
    /// `beta_t = 1 - f(t+1)/f(t)`, clipped to [0, 0.999].
    public static func cosineBetas(timesteps: Int, s: Double = 0.008) -> [Double] {
        let f = (0...timesteps).map { i -> Double in
            let c = Foundation.cos((Double(i) / Double(timesteps) + s) / (1 + s) * Double.pi * 0.5)
            return c * c
        }
        return (0..<timesteps).map { Swift.min(Swift.max(1 - (f[$0 + 1] / f[0]) / (f[$0] / f[0]), 0), 0.999) }
    }

    public init(timesteps: Int) {
        self.timesteps = timesteps
        let b = Self.cosineBetas(timesteps: timesteps)
        var ac: [Double] = []
        var running = 1.0
        for beta in b {
            running *= 1 - beta
            ac.append(running)
        }
        let prev = [1.0] + ac.dropLast()
        let indices = Array(0..<timesteps)
        func buffer(_ f: (Int) -> Double) -> Tensor { Tensor(indices.map(f)).to(.float32) }
        betas = buffer { b[$0] }
        _alphasCumprod.wrappedValue = buffer { ac[$0] }
        _alphasCumprodPrev.wrappedValue = buffer { prev[$0] }
        _sqrtAlphasCumprod.wrappedValue = buffer { ac[$0].squareRoot() }
        _sqrtOneMinusAlphasCumprod.wrappedValue = buffer { (1 - ac[$0]).squareRoot() }
        _logOneMinusAlphasCumprod.wrappedValue = buffer { Foundation.log(1 - ac[$0]) }
        _sqrtRecipAlphasCumprod.wrappedValue = buffer { (1 / ac[$0]).squareRoot() }
        _sqrtRecipm1AlphasCumprod.wrappedValue = buffer { (1 / ac[$0] - 1).squareRoot() }
        let variance = indices.map { b[$0] * (1 - prev[$0]) / (1 - ac[$0]) }
        _posteriorVariance.wrappedValue = buffer { variance[$0] }
        _posteriorLogVarianceClipped.wrappedValue = buffer { Foundation.log(Swift.max(variance[$0], 1e-20)) }
        _posteriorMeanCoef1.wrappedValue = buffer { b[$0] * prev[$0].squareRoot() / (1 - ac[$0]) }
        _posteriorMeanCoef2.wrappedValue = buffer { (1 - prev[$0]) * (1 - b[$0]).squareRoot() / (1 - ac[$0]) }
        _p2LossWeight.wrappedValue = buffer { _ in 1 }
        super.init()
    }

    /// `a[t]` per sample, shaped to broadcast against `x`: (B) -> (B, 1, ..., 1).
    public func extract(_ a: Tensor, _ t: Tensor, like x: Tensor) -> Tensor {
        a.to(x.device).gather(0, t).reshape([t.size(0)] + Array(repeating: 1, count: x.ndim - 1))
    }

    /// The forward process: `sqrt(ᾱ_t) x0 + sqrt(1 - ᾱ_t) noise`.
    public func qSample(_ x0: Tensor, times: Tensor, noise: Tensor) -> Tensor {
        extract(sqrtAlphasCumprod, times, like: x0) * x0 + extract(sqrtOneMinusAlphasCumprod, times, like: x0) * noise
    }

    /// The noise implied by a clean estimate: `(sqrt(1/ᾱ_t) x_t - x0) / sqrt(1/ᾱ_t - 1)`.
    public func predictNoise(from x0: Tensor, xt: Tensor, times: Tensor) -> Tensor {
        (extract(sqrtRecipAlphasCumprod, times, like: xt) * xt - x0) / extract(sqrtRecipm1AlphasCumprod, times, like: xt)
    }

    /// One DDIM update from `time` to `nextTime` (negative: the last step, which returns the clean estimate).
    public struct DDIMStep: Equatable, Sendable {
        public let time: Int
        public let nextTime: Int
        /// The reference indexes `alphas_cumprod_prev` here (ᾱ one step earlier than `time`).
        public let alpha: Float
        public let alphaNext: Float
        /// The weight of fresh noise: `eta · sqrt((1 - α/α_next)(1 - α_next)/(1 - α))`.
        public let c1: Float
        /// The weight of the predicted noise: `sqrt(1 - α_next - c1²)`.
        public let c2: Float
    }

    /// The reference's DDIM time pairs for `steps` steps: `int(linspace(-1, T, steps + 1)[:-1])` reversed and
    /// paired with its successor, so 20 steps over T = 100 run 94 → 89 → ... → 4 → -1 (19 network calls).
    public func ddimTimePairs(steps: Int) -> [(time: Int, next: Int)] {
        let grid = Tensor.linspace(-1, Double(timesteps), steps: steps + 1).to(.int64).toArray(Int.self)
        let times = Array(grid.dropLast().reversed())
        return zip(times.dropLast(), times.dropFirst()).map { ($0, $1) }
    }

    /// The coefficients of every step, in float32 as the reference computes them; the final step to a
    /// negative time carries zeros (it uses none).
    public func ddimSteps(steps: Int, eta: Double) -> [DDIMStep] {
        let alphas = alphasCumprodPrev.toArray(Float.self)
        let eta = Float(eta)
        return ddimTimePairs(steps: steps).map { pair in
            guard pair.next >= 0 else {
                return DDIMStep(time: pair.time, nextTime: pair.next, alpha: alphas[pair.time], alphaNext: 0, c1: 0, c2: 0)
            }
            let a = alphas[pair.time], aNext = alphas[pair.next]
            let c1 = eta * ((1 - a / aNext) * (1 - aNext) / (1 - a)).squareRoot()
            let c2 = ((1 - aNext) - c1 * c1).squareRoot()
            return DDIMStep(time: pair.time, nextTime: pair.next, alpha: a, alphaNext: aNext, c1: c1, c2: c2)
        }
    }
}
