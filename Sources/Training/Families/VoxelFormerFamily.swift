import BrainData
import Foundation
import Torch
import VoxelFormer

/// VoxelFormer as a `ModelFamily`: the brain model and, with `train.use_prior`, MindEye2's diffusion
/// prior trained jointly; BiMixCo then SoftCLIP on the normalised CLIP embeddings; the reference's AdamW
/// groups; retrieval through `Evaluator`.
public final class VoxelFormerFamily: TrainableFamily {
    public let config: VoxelFormerConfig
    public let model: VoxelFormerModel
    /// The diffusion prior, trained jointly when `train.use_prior` is set.
    public let prior: DiffusionPrior?
    public let modules: Module
    let schedule: ContrastiveSchedule
    let evaluator: Evaluator
    /// (V, 3) voxel positions per subject, read once from the data.
    var coordinates: [Int: Tensor] = [:]
    let data: TrainingData

    /// Builds the modules: call after `Trainer.prepare(config.train)` so the weights follow the seed.
    public init(config: VoxelFormerConfig, data: TrainingData) throws {
        self.config = config
        self.data = data
        model = VoxelFormerModel(config.model)
        prior = config.train.usePrior ? DiffusionPrior(config.prior) : nil
        model.activationCheckpointing = config.train.activationCheckpointing
        prior?.activationCheckpointing = config.train.activationCheckpointing
        modules = TrainedModules(model: model, prior: prior)
        schedule = ContrastiveSchedule(config.train)
        evaluator = Evaluator(config: config.eval, prior: prior)
    }

    /// AdamW groups as in the reference: no weight decay for biases and LayerNorm parameters named
    /// `LayerNorm.*` (so the encoder's norm1/norm2 weights are decayed). With `train.siren_lr_scale` other
    /// than 1, the SIREN code's `pos_embed.linear` gets two groups of its own (decayed weight, bias) at
    /// max_lr times the scale (0 freezes it: AdamW with lr 0 leaves it exactly as initialised).
    public func parameterGroups(_ config: TrainConfig) -> [AdamW.ParameterGroup] {
        Self.parameterGroups(modules, config: config)
    }

    static func parameterGroups(_ model: Module, config: TrainConfig) -> [AdamW.ParameterGroup] {
        let named = model.namedParameters()
        let noDecay = ["bias", "LayerNorm.bias", "LayerNorm.weight"]
        let isNoDecay: (String) -> Bool = { name in noDecay.contains { name.contains($0) } }
        let separate = config.sirenLRScale != 1
        let isSiren: (String) -> Bool = { name in separate && name.contains("pos_embed.linear.") }
        let rest = named.filter { !isSiren($0.name) }, siren = named.filter { isSiren($0.name) }
        var groups = [
            AdamW.ParameterGroup(rest.filter { !isNoDecay($0.name) }.map(\.tensor), lr: config.maxLR,
                                 weightDecay: config.weightDecay),
            AdamW.ParameterGroup(rest.filter { isNoDecay($0.name) }.map(\.tensor), lr: config.maxLR, weightDecay: 0),
        ]
        if !siren.isEmpty {
            let lr = config.maxLR * config.sirenLRScale
            groups.append(AdamW.ParameterGroup(siren.filter { !isNoDecay($0.name) }.map(\.tensor), lr: lr,
                                               weightDecay: config.weightDecay))
            groups.append(AdamW.ParameterGroup(siren.filter { isNoDecay($0.name) }.map(\.tensor), lr: lr, weightDecay: 0))
        }
        return groups
    }

    /// The reference clips the brain model only; `train.clip_prior_grads` clips everything.
    public func clippedParameters(_ config: TrainConfig) -> [Tensor]? {
        config.clipPriorGrads ? nil : model.parameters()
    }

    public func train(_ on: Bool) {
        model.train(on)
        prior?.train(on)
    }

    public func phase(epoch: Int) -> String { schedule.usesBiMixCo(epoch: epoch) ? "BiMixCo" : "SoftCLIP" }

    public func loss(for batch: NSDBatch, epoch: Int, autocast: Autocast) throws -> (loss: Tensor, extras: [String: Tensor]) {
        let (voxels, targets) = (batch.voxels, batch.targets)
        let b = voxels.size(0)
        let expected = [b, config.model.clipSeqDim, config.model.clipEmbDim]
        guard targets.shape == expected || targets.shape == [b, config.model.clipSeqDim * config.model.clipEmbDim] else {
            throw ConfigError("subject \(batch.subject): the targets have shape \(targets.shape), but the model predicts "
                + "\(expected) (model.clip_seq_dim x model.clip_emb_dim); set those to the targets' shape")
        }
        let coords = try coordinates(for: batch.subject)
        // Data parallel: the losses see the global batch, and MixCo draws for it (the same on every rank).
        let parallel = DataParallel.current
        var input = voxels
        var mixco: MixCo?
        if schedule.usesBiMixCo(epoch: epoch) {
            let m = MixCo(voxels: try parallel?.gather(voxels) ?? voxels)
            input = parallel?.localRows(m.mixed) ?? m.mixed
            mixco = m
        }
        let (clipVoxels, priorLoss) = autocast { () -> (Tensor, Tensor?) in
            let out = model(input, coords: coords)
            // MindEye2's order: the prior denoises the targets conditioned on the (mixed) batch's backbone.
            let p = prior.map { $0.loss(backbone: out.backbone, target: targets.to(out.backbone.dtype)).to(.float32) }
            return (out.clipVoxels, p)
        }
        return schedule.loss(clipVoxels: try parallel?.gatherWithGradient(clipVoxels) ?? clipVoxels,
                             targets: try parallel?.gather(targets) ?? targets, mixco: mixco, priorLoss: priorLoss, epoch: epoch,
                             train: config.train)
    }

    func coordinates(for subject: Int) throws -> Tensor {
        if let c = coordinates[subject] { return c }
        let c = try data.coordinates(subject: subject)
        coordinates[subject] = c
        return c
    }

    public func evaluate(data: TrainingData, config: EvalConfig, progress: ((EvaluationProgress) -> Void)?) throws
        -> EvaluationReport
    {
        var evaluator = evaluator
        evaluator.config = config
        evaluator.onProgress = progress
        return try evaluator.evaluate(model: model, data: data)
    }
}

/// A brain model's children and, when trained, the prior under `diffusion_prior.` (MindEye2's checkpoint
/// layout, which VoxelFormer shares): one name space for parameter groups and checkpoints.
final class TrainedModules: Module {
    init(model: Module, prior: DiffusionPrior?) {
        super.init()
        for (name, child) in model.namedChildren { register(module: name, child) }
        if let prior { register(module: "diffusion_prior", prior) }
    }
}

extension VoxelFormerFamily {
    public static func targetShape(_ config: VoxelFormerConfig) -> [Int] { [config.model.clipSeqDim, config.model.clipEmbDim] }
    /// The brain model's count (the prior's, when trained, is reported by `info`).
    public var parameterCount: Int { model.parameterCount }
    public func requireFiniteWeights(in source: String) throws {
        try Evaluator.requireFiniteWeights(model: model, prior: prior, in: source)
    }
}

extension Trainer where Family == VoxelFormerFamily {
    /// `Trainer(config: VoxelFormerConfig, ...)` without naming the family (the generic initialiser's twin).
    public convenience init(config: VoxelFormerConfig, data: TrainingData, runDir: URL) throws {
        try Trainer.prepare(config.train)
        let family = try VoxelFormerFamily(config: config, data: data)
        try self.init(family: family, train: config.train, eval: config.eval, prefetch: config.data.prefetch,
                      configYAML: try family.config.yaml(), data: data, runDir: runDir)
    }

    public var model: VoxelFormerModel { family.model }
    public var prior: DiffusionPrior? { family.prior }
}

extension ContrastiveSchedule {
    /// The families' loss of one batch: BiMixCo (given `mixco`) or SoftCLIP at this epoch's temperature on
    /// the L2-normalised flattened predictions (B, Q, E) and targets, times `train.clip_loss_scale`, plus
    /// `train.prior_loss_scale` times the prior's MSE when there is one (also returned as `prior_mse`).
    func loss(clipVoxels: Tensor, targets: Tensor, mixco: MixCo?, priorLoss: Tensor?, epoch: Int, train: TrainConfig)
        -> (loss: Tensor, extras: [String: Tensor])
    {
        let b = targets.size(0)
        let p = F.normalize(clipVoxels.reshape(b, -1).to(.float32), dim: 1)
        let t = F.normalize(targets.reshape(b, -1).to(.float32), dim: 1)
        var loss = mixco.map { biMixCoLoss(predictions: p, targets: t, mixco: $0, temperature: mixcoTemperature, form: train.bimixcoForm) }
            ?? softCLIPLoss(predictions: p, targets: t, temperature: softCLIPTemperature(epoch: epoch))
        loss = loss * train.clipLossScale
        if let priorLoss { loss = loss + priorLoss * train.priorLossScale }
        return (loss, priorLoss.map { ["prior_mse": $0] } ?? [:])
    }

    /// BiMixCo then SoftCLIP as `train` sets them: the switch epoch and the three temperatures.
    init(_ train: TrainConfig) {
        self.init(epochs: train.epochs, mixupFraction: train.mixupPct)
        mixcoTemperature = train.mixcoTemperature
        softCLIPStartTemperature = train.softclipStartTemperature
        softCLIPEndTemperature = train.softclipEndTemperature
    }
}
