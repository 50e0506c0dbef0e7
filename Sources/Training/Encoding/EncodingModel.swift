import BrainData
import Encoding
import Foundation
import Torch

/// Stage 2's checkpoint tree: the frozen stage-1 encoder (`stage1.*`, MedARC's names below it) beside the
/// flow-matching model (`flow.*`), so one file evaluates on its own.
public final class EncodingFlowModel: Module {
    @ModuleInfo public var stage1: MultiSubjectConvLinearEncoder
    @ModuleInfo public var flow: LatentCFM
    public init(stage1: MultiSubjectConvLinearEncoder, flow: LatentCFM) {
        _stage1.wrappedValue = stage1
        _flow.wrappedValue = flow
        super.init()
    }
}

/// The encoder of a run at its stage: the losses of a batch of windows and the predictions of whole
/// episodes. Stage 2 trains one `LatentCFM` shared by the subjects (each subject's window is one item of
/// the batch, conditioned on that subject's stage-1 mean); the stage-1 encoder is frozen (no gradients,
/// eval mode, not in the optimiser), as the seed's overfit test caches its output.
public final class EncodingModel {
    /// With the shape keys filled from the data.
    public let config: EncodingRunConfig
    public let encoder: MultiSubjectConvLinearEncoder
    public let flow: LatentCFM?
    /// What the checkpoints hold under `model.*`: the encoder (stage 1) or `EncodingFlowModel` (stage 2).
    public let modules: Module

    /// Builds the modules (seed first: their initial weights follow it).
    public init(config: EncodingRunConfig) {
        self.config = config
        encoder = MultiSubjectConvLinearEncoder(config.model)
        if config.stage == 2 {
            let flow = LatentCFM(config.flowMatching(parcels: config.model.targetDim))
            for p in encoder.parameters() { p.requiresGrad = false }
            self.flow = flow
            modules = EncodingFlowModel(stage1: encoder, flow: flow)
        } else {
            flow = nil
            modules = encoder
        }
    }

    /// The optimised parameters: the encoder's, or the flow model's.
    public var trainedParameters: [Tensor] { flow?.parameters().filter(\.requiresGrad) ?? encoder.parameters() }
    public var parameterCount: Int { trainedParameters.reduce(0) { $0 + $1.count } }

    public func train(_ on: Bool) {
        if let flow {
            encoder.eval()
            flow.train(on)
        } else {
            encoder.train(on)
        }
    }

    /// Loads the stage-1 weights (MedARC's names) strictly into the frozen encoder.
    public func loadStage1(_ weights: [String: Tensor]) throws { try encoder.load(stateDict: weights) }

    /// A batch's loss: fmri (N, S, L, V), features (N, L, D_i). Stage 1: MSE over everything (MedARC's
    /// `F.mse_loss(output, fmri)`); stage 2: the CFM loss + weight · auxiliary loss, with `cfm` and `aux`
    /// as extras.
    public func loss(fmri: Tensor, features: [Tensor]) -> (loss: Tensor, extras: [String: Tensor]) {
        guard let flow else { return (F.mseLoss(encoder(features), fmri), [:]) }
        let (n, s, l, v) = (fmri.shape[0], fmri.shape[1], fmri.shape[2], fmri.shape[3])
        let mu = Torch.noGrad { encoder(features) }
        // (N, S, L, V) -> (N·S, V, L): one item per subject window
        let x1 = fmri.reshape([n * s, l, v]).transpose(1, 2), m = mu.reshape([n * s, l, v]).transpose(1, 2)
        let r = flow.loss(x1: x1, mu: m)
        return (r.total, ["cfm": r.cfm, "aux": r.aux])
    }

    /// Whole episodes: features (T, D_i) each -> (S, T, V). Stage 2 runs `steps` Euler steps (the config's
    /// `n_timesteps` when nil) from noise of libtorch's generator, on the episode padded to the U-Net's
    /// length multiple.
    public func predict(features: [Tensor], steps: Int? = nil) -> Tensor {
        Torch.noGrad {
            let mean = encoder(features.map { $0.unsqueeze(0) }).squeeze(0)  // (S, T, V)
            guard let flow else { return mean }
            let t = mean.shape[1]
            let (mu, mask) = flow.padded(mean.transpose(1, 2))  // (S, V, T')
            return flow.sample(mu: mu, mask: mask, steps: steps).slice(2, start: 0, end: t).transpose(1, 2)
        }
    }

    /// The held-out score of `episodes` (MedARC's `evaluate()`: whole episodes, time-concatenated per
    /// subject). Sampling draws from libtorch's generator seeded with `seed`; its state is restored after,
    /// so evaluating does not change a training run's draws.
    public func evaluate(_ episodes: [AlgonautsEpisodeData], steps: Int? = nil, seed: UInt64)
        throws -> (score: EncodingScore, predictions: [Tensor])
    {
        train(false)
        let saved = Torch.rngState()
        defer { Torch.setRNGState(saved) }
        Torch.manualSeed(seed)
        let predictions = episodes.map { predict(features: $0.features, steps: steps) }
        return (try EncodingScore(stackedTruth: episodes.map(\.fmri), stackedPredictions: predictions), predictions)
    }
}
