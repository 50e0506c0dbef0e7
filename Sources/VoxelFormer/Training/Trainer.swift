import BrainData
import Foundation
import Torch

/// Why training stopped early. Each case says what the run folder holds to resume from.
public enum TrainingStop: Error, CustomStringConvertible, Equatable {
    case nonFiniteLoss(value: Double, epoch: Int, step: Int, checkpoint: URL)
    case interrupted(checkpoint: URL)
    /// libtorch failed inside a step or an evaluation; `doing` names which. The checkpoint is left as it was.
    case torchFailure(message: String, doing: String)
    /// Appending to metrics.jsonl failed (a full disk, say); `saved` tells whether the state after `step` was saved.
    case metricsFailed(reason: String, metrics: URL, step: Int, checkpoint: URL, saved: Bool)

    public var description: String {
        switch self {
        case .nonFiniteLoss(let v, let e, let s, let c):
            "the loss became \(v) at epoch \(e), step \(s); the last good state is saved in \(c.path) "
                + "(resume with --resume after lowering train.max_lr or checking the data)"
        case .interrupted(let c):
            "interrupted; the state is saved in \(c.path) (continue with --resume)"
        case .torchFailure(let message, let doing):
            "libtorch failed while \(doing): \(message)"
        case .metricsFailed(let reason, let m, let step, let c, let saved):
            "\(reason) (the record of step \(step), which \(m.lastPathComponent) will lack); "
                + (saved ? "the state after step \(step) is saved in \(c.path) (free space, then --resume)"
                         : "the checkpoint could not be saved either; \(c.path) holds the last one written")
        }
    }
}

/// Trains a VoxelFormer model as the spec describes: BiMixCo then SoftCLIP, AdamW with the reference's
/// parameter groups, OneCycle with beta1 cycling stepped every iteration, gradient clipping on the brain
/// model, one subject per batch. Checkpoints hold everything needed to resume exactly.
public final class Trainer {
    public let config: VoxelFormerConfig
    public let model: VoxelFormerModel
    /// The diffusion prior, trained jointly when `train.use_prior` is set.
    public let prior: DiffusionPrior?
    public let data: TrainingData
    public let runDir: URL
    let optimizer: AdamW
    var scheduler: OneCycleLR
    var sampler: SubjectBatchSampler
    let schedule: ContrastiveSchedule
    let evaluator: Evaluator
    var coordinates: [Int: Tensor] = [:]
    /// Optimiser steps done.
    public internal(set) var step = 0
    public internal(set) var epoch = 0
    var stepInEpoch = 0
    /// Sampler state at the start of the current epoch (so a mid-epoch resume regenerates its batches).
    var epochSamplerState: SubjectBatchSampler
    /// Called after every step with (step, loss); tests record the loss sequence through it.
    public var onStep: ((Int, Double) -> Void)?
    /// Draws the progress bar; off in tests.
    public var showProgress = true

    /// Best evaluated image retrieval so far (what `best.safetensors` holds).
    public internal(set) var bestMetric: Double?

    public var checkpointURL: URL { runDir.appendingPathComponent("checkpoint.safetensors") }
    /// The weights and state of the epoch with the best mean image retrieval.
    public var bestCheckpointURL: URL { runDir.appendingPathComponent("best.safetensors") }
    public var metricsURL: URL { runDir.appendingPathComponent("metrics.jsonl") }

    public init(config: VoxelFormerConfig, data: TrainingData, runDir: URL) throws {
        self.config = config
        self.data = data
        self.runDir = runDir
        if config.train.threads > 0 { Torch.threads = config.train.threads }
        Torch.manualSeed(config.train.seed)
        model = VoxelFormerModel(config.model)
        prior = config.train.usePrior ? DiffusionPrior(config.prior) : nil
        let counts = Dictionary(uniqueKeysWithValues: data.trainSubjects.map { ($0, data.trainTrialCount(subject: $0)) })
        sampler = SubjectBatchSampler(trialCounts: counts, batchSize: config.train.batchSize, seed: config.train.seed)
        epochSamplerState = sampler
        let stepsPerEpoch = sampler.batchesPerEpoch
        guard stepsPerEpoch > 0 else {
            throw ConfigError("train.batch_size: \(config.train.batchSize) is larger than every subject's train trials "
                + "(\(counts.sorted { $0.key < $1.key }.map { "subject \($0.key): \($0.value)" }.joined(separator: ", ")))")
        }
        let groups = Trainer.parameterGroups(TrainedModules(model: model, prior: prior), config: config.train)
        optimizer = try AdamW(groups: groups, betas: (0.9, 0.999), eps: 1e-8)
        let total = config.train.epochs * stepsPerEpoch
        scheduler = OneCycleLR(maxLRs: groups.map(\.lr), totalSteps: total,
                               pctStart: 2 / Double(config.train.epochs), anneal: .cos)
        scheduler.apply(to: optimizer)
        var schedule = ContrastiveSchedule(epochs: config.train.epochs, mixupFraction: config.train.mixupPct)
        schedule.mixcoTemperature = config.train.mixcoTemperature
        schedule.softCLIPStartTemperature = config.train.softclipStartTemperature
        schedule.softCLIPEndTemperature = config.train.softclipEndTemperature
        self.schedule = schedule
        evaluator = Evaluator(config: config.eval, prior: prior)
        try FileManager.default.createDirectory(at: runDir, withIntermediateDirectories: true)
    }

    /// AdamW groups as in the reference: no weight decay for biases and LayerNorm parameters named
    /// `LayerNorm.*` (so the encoder's norm1/norm2 weights are decayed). With `train.siren_lr_scale` other
    /// than 1, the SIREN code's `pos_embed.linear` gets two groups of its own (decayed weight, bias) at
    /// max_lr times the scale (0 freezes it: AdamW with lr 0 leaves it exactly as initialised).
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

    public var stepsPerEpoch: Int { sampler.batchesPerEpoch }

    // MARK: the loop

    /// Trains to the configured number of epochs (or `train.max_steps`), evaluating after every epoch.
    public func run() throws {
        let log = try MetricsLog(url: metricsURL)
        let maxSteps = config.train.maxSteps > 0 ? config.train.maxSteps : Int.max
        while epoch < config.train.epochs && step < maxSteps {
            if stepInEpoch == 0 { epochSamplerState = sampler }
            var epochSampler = epochSamplerState
            let batches = epochSampler.nextEpoch()
            let bar = ProgressBar(total: batches.count, label: "epoch \(epoch + 1)/\(config.train.epochs)",
                                  interactive: showProgress && isatty(STDERR_FILENO) != 0)
            var lossSum = 0.0, samples = 0
            let started = Date()
            let pending = Array(batches.dropFirst(stepInEpoch).prefix(maxSteps - step))
            let source = BatchSource(pending, data: data, prefetch: config.data.prefetch)
            for batch in pending {
                let tensors = try source.next()
                let (loss, lr, priorLoss) = try torchStage("training step \(step + 1) (epoch \(epoch + 1), subject \(batch.subject))") {
                    try trainStep(batch, voxels: tensors.voxels, targets: tensors.targets)
                }
                lossSum += loss
                samples += batch.trials.count
                step += 1
                stepInEpoch += 1
                onStep?(step, loss)
                var record: [String: MetricValue] = ["step": .integer(step), "epoch": .integer(epoch),
                                                     "loss": .number(loss), "lr": .number(lr), "subject": .integer(batch.subject)]
                if let priorLoss { record["prior_mse"] = .number(priorLoss) }
                try append(record, to: log)
                bar.update(done: stepInEpoch, loss: loss, lr: lr, samples: samples)
                let stepCheckpoint = config.train.checkpointEverySteps > 0 && step % config.train.checkpointEverySteps == 0
                if stepCheckpoint && stepInEpoch < batches.count { try saveCheckpoint() }
                if InterruptFlag.isRaised {
                    try saveCheckpoint()
                    throw TrainingStop.interrupted(checkpoint: checkpointURL)
                }
            }
            let finishedEpoch = stepInEpoch == batches.count
            let seconds = Date().timeIntervalSince(started)
            if finishedEpoch {
                sampler = epochSampler
                epochSamplerState = sampler
                epoch += 1
                stepInEpoch = 0
                let evaluates = epoch % config.eval.everyEpochs == 0 || epoch == config.train.epochs
                let results = evaluates ? try torchStage("evaluating after epoch \(epoch)") { try evaluate() } : nil
                var improved = false
                if let metric = results?.average?.imageRetrieval, metric.isFinite, metric > (bestMetric ?? -.infinity) {
                    bestMetric = metric
                    improved = true
                }
                var record: [String: MetricValue] = ["step": .integer(step), "epoch": .integer(epoch - 1),
                                                     "epoch_seconds": .number(seconds)]
                if let avg = results?.average {
                    record["image_retrieval"] = .number(avg.imageRetrieval)
                    record["brain_retrieval"] = .number(avg.brainRetrieval)
                    record["cosine"] = .number(avg.cosine)
                }
                if let avg = results?.prior?.average {
                    record["prior_image_retrieval"] = .number(avg.imageRetrieval)
                    record["prior_cosine"] = .number(avg.cosine)
                    record["prior_mse"] = .number(avg.mse ?? .nan)
                }
                try append(record, to: log)
                bar.finish(summary: String(
                    format: "epoch %d/%d  loss %.4f  %@  %.1fs", epoch, config.train.epochs,
                    lossSum / Double(max(batches.count, 1)),
                    results?.average.map { String(format: "image %.3f  brain %.3f", $0.imageRetrieval, $0.brainRetrieval) } ?? "",
                    seconds))
                let stepCheckpoint = config.train.checkpointEverySteps > 0 && step % config.train.checkpointEverySteps == 0
                if stepCheckpoint || epoch % config.train.checkpointEvery == 0 || epoch == config.train.epochs {
                    try saveCheckpoint()
                }
                if improved { try saveCheckpoint(to: bestCheckpointURL) }
            } else {
                bar.finish(summary: "stopped after step \(step) (train.max_steps)")
            }
        }
        try saveCheckpoint()
    }

    /// One optimiser step on one batch; returns the total loss, the learning rate used and the prior's
    /// unweighted MSE when a prior is trained.
    func trainStep(_ batch: Batch, voxels: Tensor, targets: Tensor) throws -> (loss: Double, lr: Double, prior: Double?) {
        let b = voxels.size(0)
        let expected = [b, config.model.clipSeqDim, config.model.clipEmbDim]
        guard targets.shape == expected || targets.shape == [b, config.model.clipSeqDim * config.model.clipEmbDim] else {
            throw ConfigError("subject \(batch.subject): the targets have shape \(targets.shape), but the model predicts "
                + "\(expected) (model.clip_seq_dim x model.clip_emb_dim); set those to the targets' shape")
        }
        model.train()
        let coords = try coordinates(for: batch.subject)
        var input = voxels
        var mixco: MixCo?
        if schedule.usesBiMixCo(epoch: epoch) {
            let m = MixCo(voxels: voxels)
            input = m.mixed
            mixco = m
        }
        let precision = config.train.precision
        prior?.train()
        let (clipVoxels, priorLoss) = Torch.autocast(.cpu, dtype: precision == "fp16" ? .float16 : .bfloat16,
                                                     enabled: precision != "fp32") { () -> (Tensor, Tensor?) in
            let out = model(input, coords: coords)
            // MindEye2's order: the prior denoises the targets conditioned on the (mixed) batch's backbone.
            let p = prior.map { $0.loss(backbone: out.backbone, target: targets.to(out.backbone.dtype)).to(.float32) }
            return (out.clipVoxels, p)
        }
        let p = F.normalize(clipVoxels.reshape(b, -1).to(.float32), dim: 1)
        let t = F.normalize(targets.reshape(b, -1).to(.float32), dim: 1)
        var loss: Tensor
        if let mixco {
            loss = biMixCoLoss(predictions: p, targets: t, mixco: mixco, temperature: schedule.mixcoTemperature,
                               form: config.train.bimixcoForm)
        } else {
            loss = softCLIPLoss(predictions: p, targets: t, temperature: schedule.softCLIPTemperature(epoch: epoch))
        }
        loss = loss * config.train.clipLossScale
        if let priorLoss { loss = loss + priorLoss * config.train.priorLossScale }
        let value = loss.item()
        guard value.isFinite else {
            try saveCheckpoint()
            throw TrainingStop.nonFiniteLoss(value: value, epoch: epoch, step: step, checkpoint: checkpointURL)
        }
        let lr = optimizer.lr(group: 0)
        loss.backward()
        let clipped = config.train.clipPriorGrads ? optimizer.parameters : model.parameters()
        if config.train.gradClip.isFinite { clipGradNorm(clipped, maxNorm: config.train.gradClip) }
        optimizer.step()
        scheduler.step(optimizer)
        optimizer.zeroGrad()
        return (value, lr, priorLoss?.item())
    }

    func coordinates(for subject: Int) throws -> Tensor {
        if let c = coordinates[subject] { return c }
        let c = try data.coordinates(subject: subject)
        coordinates[subject] = c
        return c
    }

    /// Retrieval on every test subject with the current weights.
    public func evaluate() throws -> EvaluationReport {
        let report = try evaluator.evaluate(model: model, data: data)
        lastEvaluation = (step, report)
        return report
    }
    /// The latest evaluation and the step it was made at, so a caller can reuse the final epoch's report.
    public private(set) var lastEvaluation: (step: Int, report: EvaluationReport)?
}

/// The tensors of an epoch's batches, read ahead on a background thread when `prefetch > 0`.
final class BatchSource {
    let prefetcher: Prefetcher<(voxels: Tensor, targets: Tensor)>?
    var batches: IndexingIterator<[Batch]>
    let data: TrainingData

    init(_ batches: [Batch], data: TrainingData, prefetch: Int) {
        self.batches = batches.makeIterator()
        self.data = data
        prefetcher = prefetch > 0 && !batches.isEmpty
            // the scope turns a libtorch failure on the prefetch thread into an error for `next()`
            ? Prefetcher(batches, capacity: prefetch) { b in try withTorchError { try data.trainBatch(subject: b.subject, trials: b.trials) } }
            : nil
    }

    func next() throws -> (voxels: Tensor, targets: Tensor) {
        let batch = batches.next()!
        if let prefetcher {
            guard let tensors = try prefetcher.next() else {
                throw ConfigError("the batch prefetcher ended early at subject \(batch.subject)")
            }
            return tensors
        }
        return try data.trainBatch(subject: batch.subject, trials: batch.trials)
    }
}

/// The brain model and, when trained, the prior under `diffusion_prior.` (MindEye2's checkpoint layout):
/// one name space for parameter groups and checkpoints.
final class TrainedModules: Module {
    init(model: VoxelFormerModel, prior: DiffusionPrior?) {
        super.init()
        for (name, child) in model.namedChildren { register(module: name, child) }
        if let prior { register(module: "diffusion_prior", prior) }
    }
}
