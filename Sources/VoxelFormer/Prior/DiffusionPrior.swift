import Torch

/// MindEye2's diffusion prior (`BrainDiffusionPrior` on DALL-E 2's `DiffusionPrior`): a denoiser that
/// predicts the clean CLIP target tokens from the brain backbone's tokens and a noisy copy of the target.
/// Children are `noise_scheduler` and `net`; `sanitize(weights:)` maps a checkpoint's `diffusion_prior.*`
/// entries onto them.
public final class DiffusionPrior: Module {
    public let config: PriorConfig
    @ModuleInfo(key: "noise_scheduler") public var noiseScheduler: DiffusionSchedule
    @ModuleInfo public var net: PriorNetwork
    /// Activation checkpointing of the denoiser's transformer layers (`train.activation_checkpointing`).
    public var activationCheckpointing: Bool {
        get { net.causalTransformer.activationCheckpointing }
        set { net.causalTransformer.activationCheckpointing = newValue }
    }

    public init(_ config: PriorConfig = PriorConfig()) {
        self.config = config
        _noiseScheduler.wrappedValue = DiffusionSchedule(timesteps: config.timesteps)
        net = PriorNetwork(config)
        super.init()
    }

    /// MindEye2 keeps the prior under `diffusion_prior.` beside the brain model (so do our training
    /// checkpoints, under `model.`); such keys load here with those prefixes removed.
    override public func sanitize(weights: [String: Tensor]) -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (key, value) in weights {
            var rest = Substring(key)
            for wrapper in ["module.", "model."] where rest.hasPrefix(wrapper) { rest = rest.dropFirst(wrapper.count) }
            let prefix = "diffusion_prior."
            out[rest.hasPrefix(prefix) ? String(rest.dropFirst(prefix.count)) : key] = value
        }
        return super.sanitize(weights: out)
    }

    /// The parameter count PyTorch reports (`sum(p.numel() for p in prior.parameters())`): the trainable
    /// parameters plus the rotary `freqs`, a frozen `nn.Parameter` there (counted once) and a buffer here.
    public var referenceParameterCount: Int { parameterCount + net.causalTransformer.rotary.freqs.count }

    /// The training loss: draws diffusion times uniformly in 0..<timesteps, then the noise, then (in
    /// training mode) the classifier-free dropout masks, in the reference's order, and returns the MSE
    /// between the predicted and the true clean target. Unscaled: the trainer applies the prior weight.
    /// `backbone` and `target` are (B, T, dim).
    public func loss(backbone: Tensor, target: Tensor) -> Tensor {
        lossAndPrediction(backbone: backbone, target: target).loss
    }

    /// The loss and the predicted clean target (B, T, dim). Times (B, int64) and noise (like `target`) are
    /// drawn when not given; dropout of the condition and of the noisy target applies in training mode only.
    public func lossAndPrediction(backbone: Tensor, target: Tensor, times: Tensor? = nil, noise: Tensor? = nil)
        -> (loss: Tensor, prediction: Tensor)
    {
        let times = times ?? Tensor.randint(0, config.timesteps, [target.size(0)], device: target.device)
        let noise = noise ?? Tensor.randn(target.shape, dtype: target.dtype, device: target.device)
        let noisy = noiseScheduler.qSample(target, times: times, noise: noise)
        let drop = training ? config.condDropProb : 0
        let prediction = net(noisy, times: times, brain: backbone, brainDropProb: drop, imageDropProb: drop)
        return (F.mseLoss(prediction, target), prediction)
    }

    /// DDIM sampling of the clean target from the condition `backbone` (B, T, dim), starting from standard
    /// normal noise. `steps`, `guidanceScale` and `eta` default to the config's `sampling_steps` (20),
    /// `guidance_scale` (1) and `eta` (0; MindEye2's own sampling call leaves DALL-E 2's default of 1).
    /// `seed` seeds libtorch's generator for the draws and restores its CPU state afterwards; nil draws from
    /// the generator as it stands. `guidanceScale` != 1 mixes in the fully dropped (null) prediction, which
    /// needs a prior trained with condition dropout.
    public func sample(backbone: Tensor, steps: Int? = nil, guidanceScale: Double? = nil, eta: Double? = nil,
                       seed: UInt64? = nil) -> Tensor
    {
        let steps = steps ?? config.samplingSteps
        let guidanceScale = guidanceScale ?? config.guidanceScale
        let eta = eta ?? config.eta
        precondition(steps >= 2 && steps < config.timesteps,
                     "DiffusionPrior.sample: steps must lie in 2..<\(config.timesteps), got \(steps)")
        precondition(guidanceScale == 1 || config.condDropProb > 0,
                     "DiffusionPrior.sample: guidance needs a prior trained with cond_drop_prob > 0")
        let saved = seed.map { seed -> Tensor in
            let state = Torch.rngState()
            Torch.manualSeed(seed)
            return state
        }
        defer { if let saved { Torch.setRNGState(saved) } }
        return Torch.noGrad {
            let b = backbone.size(0)
            var x = Tensor.randn(backbone.shape, dtype: backbone.dtype, device: backbone.device)
            for step in noiseScheduler.ddimSteps(steps: steps, eta: eta) {
                let times = Tensor.full([b], Double(step.time), dtype: .int64, device: backbone.device)
                let x0 = net.guided(x, times: times, brain: backbone, scale: guidanceScale)
                if step.nextTime < 0 {
                    x = x0
                    continue
                }
                let predictedNoise = noiseScheduler.predictNoise(from: x0, xt: x, times: times)
                // The reference draws fresh noise even when eta (so c1) is 0; drawing keeps seeded runs aligned.
                let fresh = step.nextTime > 0 ? Tensor.randn(x.shape, dtype: x.dtype, device: x.device) * Double(step.c1) : nil
                x = x0 * Double(step.alphaNext.squareRoot()) + predictedNoise * Double(step.c2)
                if let fresh { x = x + fresh }
            }
            return x
        }
    }
}
