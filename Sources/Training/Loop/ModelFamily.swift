import BrainData
import Foundation
import Torch

/// What the trainer needs from a model family (VoxelFormer today; MindEye2, the flow-matching encoder,
/// BrainX and CLIP encoders next): the modules it trains, their optimiser groups, the loss of one batch
/// and an evaluation. The trainer owns everything else: the loop, precision, clipping, the schedule,
/// checkpoints, resume, interrupts, the NaN guard and the loggers. `Families/VoxelFormerFamily.swift` is
/// the one implementation; docs/architecture.md shows how to add another.
public protocol ModelFamily: AnyObject {
    /// Every trained module under its checkpoint name: the checkpoint's `model.*` section is its state dict.
    var modules: Module { get }
    /// AdamW groups over `modules`' parameters; each group's `lr` is its OneCycle maximum.
    func parameterGroups(_ config: TrainConfig) -> [AdamW.ParameterGroup]
    /// The parameters `train.grad_clip` bounds; nil for every optimised parameter.
    func clippedParameters(_ config: TrainConfig) -> [Tensor]?
    /// Switches dropout and friends: true before a training step, false for evaluation.
    func train(_ on: Bool)
    /// The scalar loss of one batch at `epoch` (0-based), run under `autocast`; `extras` are named
    /// scalars for the metrics row (a prior's MSE, say). The trainer calls `backward` on `loss`.
    func loss(for batch: NSDBatch, epoch: Int, autocast: Autocast) throws -> (loss: Tensor, extras: [String: Tensor])
    /// The training phase at `epoch` ("BiMixCo", "SoftCLIP"); a change is reported as a phase switch.
    func phase(epoch: Int) -> String
    /// Retrieval on the test subjects with the current weights.
    func evaluate(data: TrainingData, config: EvalConfig, progress: ((EvaluationProgress) -> Void)?) throws -> EvaluationReport
}

/// Mixed precision for a step: `train.precision` on `train.device`.
public struct Autocast: Sendable {
    public var precision: Precision
    public var device: ComputeDevice
    public init(precision: Precision, device: ComputeDevice) { (self.precision, self.device) = (precision, device) }

    /// Runs `body` under `torch.autocast(device, dtype)`, or plainly for fp32.
    public func callAsFunction<R>(_ body: () throws -> R) rethrows -> R {
        try Torch.autocast(device.torchDevice, dtype: precision.autocastDType ?? .bfloat16,
                           enabled: precision.autocastDType != nil, body)
    }
}
