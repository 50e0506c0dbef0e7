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
    /// true: every batch holds every training subject (`NSDBatch.others`); false: one subject per batch.
    var mixedSubjectBatches: Bool { get }
    /// k > 0: each epoch draws k training subjects and every batch holds `batch_size` trials of each
    /// (UMBRAE's cross-subject training, `NSDBatch.others`); 0: per subject or mixed.
    var subjectsPerEpoch: Int { get }
    /// The data a ridge baseline beside this model fits: `data` with the targets the model is scored on
    /// (BrainX's `targets` options transform them).
    func baselineData(_ data: TrainingData) -> TrainingData
}

extension ModelFamily {
    public var mixedSubjectBatches: Bool { false }
    public var subjectsPerEpoch: Int { 0 }
    public func baselineData(_ data: TrainingData) -> TrainingData { data }
}

/// A family the CLI can train from a config file: `TrainingRun<Family>` builds it from its config, and a
/// resumed run's checkpoint names it by its config's `family` key.
public protocol TrainableFamily: ModelFamily {
    associatedtype Config: RunConfiguration
    /// The run's config, with anything the family filled in from the data (voxel counts, say): what
    /// config.yaml and the checkpoints record.
    var config: Config { get }
    /// Builds the modules: called after `Trainer.prepare(config.train)`, so the weights follow the seed.
    init(config: Config, data: TrainingData) throws
    /// The (tokens, width) shape of the CLIP targets the data must provide.
    static func targetShape(_ config: Config) -> [Int]
    /// The parameter count announced when training starts.
    var parameterCount: Int { get }
    /// Throws, naming `source` and the tensors, when a loaded weight is NaN or infinite.
    func requireFiniteWeights(in source: String) throws
    /// Starts a fresh run from pretrained weights (`train.init_from`, read from `source`); returns a note on
    /// what was loaded, kept fresh and ignored. Throws `Module.LoadError` naming the keys that do not fit.
    func initialise(from weights: [String: Tensor], source: String) throws -> String
}

extension TrainableFamily {
    /// Every weight, strictly: a missing, unexpected or mis-shaped key throws by name.
    public func initialise(from weights: [String: Tensor], source: String) throws -> String {
        try modules.load(stateDict: weights)
        return "initialised all \(weights.count) weight tensors from \(source)"
    }

    public static var familyName: String { Config.familyName }
    public var parameterCount: Int { modules.parameterCount }
    public func requireFiniteWeights(in source: String) throws {
        try Evaluator.requireFiniteWeights(modules, "\(source): the model")
    }
}

extension Trainer where Family: TrainableFamily {
    /// Seeds, builds the family from `config` and prepares training into `runDir`.
    public convenience init(config: Family.Config, data: TrainingData, runDir: URL) throws {
        try Trainer.prepare(config.train)
        let family = try Family(config: config, data: data)
        try self.init(family: family, train: config.train, eval: config.eval, prefetch: config.data.prefetch,
                      configYAML: try family.config.yaml(), data: data, runDir: runDir)
    }

    public var config: Family.Config { family.config }
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
