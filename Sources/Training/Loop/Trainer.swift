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
    /// Another logger (TensorBoard, say) failed; the same as `metricsFailed` for a file the run can do without.
    case loggerFailed(reason: String, step: Int, checkpoint: URL, saved: Bool)

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
        case .loggerFailed(let reason, let step, let c, let saved):
            "a logger failed at step \(step): \(reason); "
                + (saved ? "the state after step \(step) is saved in \(c.path) (--resume continues)"
                         : "the checkpoint could not be saved either; \(c.path) holds the last one written")
        }
    }
}

/// Trains a model family (`ModelFamily`) as the spec describes: AdamW with the family's parameter groups,
/// OneCycle with beta1 cycling stepped every iteration, gradient clipping, autocast, one subject per batch,
/// evaluation every `eval.every_epochs`. Checkpoints hold everything needed to resume exactly. Progress
/// goes to `loggers` as `TrainingEvent`s; metrics.jsonl is always written.
public final class Trainer<Family: ModelFamily> {
    public let family: Family
    public let train: TrainConfig
    public let evalConfig: EvalConfig
    public let data: TrainingData
    public let runDir: URL
    /// Batches assembled ahead of the step (`data.prefetch`).
    let prefetch: Int
    /// The run's whole config as YAML, embedded in every checkpoint.
    let configYAML: String
    let optimizer: AdamW
    var scheduler: OneCycleLR
    var sampler: SubjectBatchSampler
    /// Optimiser steps done.
    public internal(set) var step = 0
    public internal(set) var epoch = 0
    var stepInEpoch = 0
    /// Sampler state at the start of the current epoch (so a mid-epoch resume regenerates its batches).
    var epochSamplerState: SubjectBatchSampler
    /// Called after every step with (step, loss); tests record the loss sequence through it.
    public var onStep: ((Int, Double) -> Void)?
    /// Consumers of the run's events besides metrics.jsonl (the CLI's progress bar, TensorBoard).
    public var loggers: [TrainingLogger] = []
    /// Polled after every step; true saves a checkpoint and stops with `TrainingStop.interrupted` (the CLI
    /// raises it on Ctrl-C).
    public var shouldStop: () -> Bool = { false }
    /// Set when this process is one rank of a data-parallel run (Distributed/DataParallel.swift): the trainer
    /// then trains on its shard, averages gradients, and leaves writing and evaluating to rank 0.
    public var dataParallel: DataParallel?
    /// Whether this process writes the run folder (rank 0, or the only process).
    var writes: Bool { dataParallel?.isWriter ?? true }

    /// Best evaluated image retrieval so far (what `best.safetensors` holds).
    public internal(set) var bestMetric: Double?

    public var checkpointURL: URL { runDir.appendingPathComponent("checkpoint.safetensors") }
    /// The weights and state of the epoch with the best mean image retrieval.
    public var bestCheckpointURL: URL { runDir.appendingPathComponent("best.safetensors") }
    public var metricsURL: URL { runDir.appendingPathComponent("metrics.jsonl") }

    /// Seeds libtorch and sets its threads from `train`: call before building the family's modules, so
    /// their initial weights follow `train.seed`. Keeps freed host memory for the next step
    /// (`HostMemory`) unless activation checkpointing says memory comes first.
    public static func prepare(_ train: TrainConfig) throws {
        try train.device.check()
        if !train.activationCheckpointing { HostMemory.keepFreedMemory() }
        if train.threads > 0 { Torch.threads = train.threads }
        Torch.manualSeed(train.seed)
    }

    /// - Parameters:
    ///   - family: built after `Trainer.prepare(train)`.
    ///   - configYAML: the run's config, embedded in checkpoints (resume reads it back).
    public init(family: Family, train: TrainConfig, eval: EvalConfig, prefetch: Int, configYAML: String,
                data: TrainingData, runDir: URL) throws
    {
        self.family = family
        self.train = train
        self.evalConfig = eval
        self.prefetch = prefetch
        self.configYAML = configYAML
        self.data = data
        self.runDir = runDir
        let counts = Dictionary(uniqueKeysWithValues: data.trainSubjects.map { ($0, data.trainTrialCount(subject: $0)) })
        sampler = SubjectBatchSampler(trialCounts: counts, batchSize: train.batchSize, seed: train.seed,
                                      mixed: family.mixedSubjectBatches, subjectsPerEpoch: family.subjectsPerEpoch)
        epochSamplerState = sampler
        let stepsPerEpoch = sampler.batchesPerEpoch
        guard stepsPerEpoch > 0 else {
            let listed = counts.sorted { $0.key < $1.key }.map { "subject \($0.key): \($0.value)" }.joined(separator: ", ")
            if sampler.mixed {
                throw ConfigError("train.batch_size: \(train.batchSize) trials over \(counts.count) subjects is "
                    + "\(sampler.trialsPerSubject) per subject, more than the fewest train trials of a subject (\(listed))")
            }
            throw ConfigError("train.batch_size: \(train.batchSize) is larger than \(sampler.subjectsPerEpoch > 0 ? "some" : "every") subject's train trials "
                + "(\(listed))")
        }
        let groups = family.parameterGroups(train)
        optimizer = try AdamW(groups: groups, betas: (0.9, 0.999), eps: 1e-8)
        let total = train.epochs * stepsPerEpoch
        // OneCycle sets every group's lr (its start, max_lr / 25) from the groups' maxima right away.
        // the spec's (and MindEye2's) final_div_factor 1000: the lr ends at max_lr / 25 / 1000
        scheduler = OneCycleLR(maxLRs: groups.map(\.lr), totalSteps: total, pctStart: 2 / Double(train.epochs), anneal: .cos,
                               finalDivFactor: 1000)
        scheduler.apply(to: optimizer)
        try FileManager.default.createDirectory(at: runDir, withIntermediateDirectories: true)
    }

    public var stepsPerEpoch: Int { sampler.batchesPerEpoch }

    // MARK: the loop

    /// Trains to the configured number of epochs (or `train.max_steps`), evaluating after every epoch.
    public func run() throws {
        let log = writes ? try MetricsLog(url: metricsURL) : nil
        try startDataParallel()
        defer { for logger in loggers { try? logger.close() } }
        let maxSteps = train.maxSteps > 0 ? train.maxSteps : Int.max
        let plannedSteps = min(train.epochs * stepsPerEpoch, maxSteps)
        try emit(.started(TrainingPlan(epochs: train.epochs, stepsPerEpoch: stepsPerEpoch,
                                       totalSteps: plannedSteps, startStep: step)), log)
        var profiler = !writes ? nil : StepProfiler(train: train, startStep: step, plannedSteps: plannedSteps - step, runDir: runDir)
        defer { profiler?.cancel() }
        while epoch < train.epochs && step < maxSteps {
            if stepInEpoch == 0 { epochSamplerState = sampler }
            var epochSampler = epochSamplerState
            let batches = epochSampler.nextEpoch()
            try emit(.epochStarted(epoch: epoch, steps: batches.count, resumedAt: stepInEpoch), log)
            if epoch > 0 && stepInEpoch == 0 && family.phase(epoch: epoch - 1) != family.phase(epoch: epoch) {
                try emit(.phaseSwitch(epoch: epoch, step: step, from: family.phase(epoch: epoch - 1),
                                      to: family.phase(epoch: epoch)), log)
            }
            var lossSum = 0.0, samples = 0
            let started = Date()
            let pending = Array(batches.dropFirst(stepInEpoch).prefix(maxSteps - step))
            let stream = BatchStream(try pending.map { try dataParallel?.shard($0) ?? $0 }, data: data, prefetch: prefetch)
            while let batch = try stream.next() {
                try profiler?.beforeStep(step)
                let (loss, lr, extras) = try torchStage("training step \(step + 1) (epoch \(epoch + 1), subject \(batch.subject))") {
                    try Profiler.range(StepProfiler.range) { try trainStep(batch) }
                }
                lossSum += loss
                samples += batch.count * (dataParallel?.worldSize ?? 1)
                step += 1
                stepInEpoch += 1
                onStep?(step, loss)
                try emit(.step(StepRecord(step: step, epoch: epoch, stepInEpoch: stepInEpoch, stepsInEpoch: batches.count,
                                          loss: loss, lr: lr, subject: batch.subject, samples: samples, extras: extras,
                                          time: Date())), log)
                try finishProfile(&profiler, ending: false, log: log)
                let stepCheckpoint = train.checkpointEverySteps > 0 && step % train.checkpointEverySteps == 0
                if stepCheckpoint && stepInEpoch < batches.count { try checkpoint() }
                if try stopRequested() {
                    try checkpoint()
                    throw TrainingStop.interrupted(checkpoint: checkpointURL)
                }
            }
            try finishProfile(&profiler, ending: true, log: log)
            let finishedEpoch = stepInEpoch == batches.count
            let seconds = Date().timeIntervalSince(started)
            if finishedEpoch {
                sampler = epochSampler
                epochSamplerState = sampler
                epoch += 1
                stepInEpoch = 0
                let evaluates = epoch % evalConfig.everyEpochs == 0 || epoch == train.epochs
                // data parallel: every rank evaluates its share of the batches (Evaluator, DataParallel.splitAcrossRanks)
                let results = evaluates ? try torchStage("evaluating after epoch \(epoch)") {
                    try DataParallel.within(dataParallel) { try evaluate() }
                } : nil
                var improved = false
                if let metric = results?.average?.imageRetrieval, metric.isFinite, metric > (bestMetric ?? -.infinity) {
                    bestMetric = metric
                    improved = true
                }
                if let dataParallel { improved = try dataParallel.broadcast(improved) }
                try emit(.epoch(EpochRecord(step: step, epoch: epoch - 1, epochs: train.epochs,
                                            meanLoss: lossSum / Double(max(batches.count, 1)), seconds: seconds,
                                            evaluation: results?.scores ?? [:], time: Date())), log)
                let stepCheckpoint = train.checkpointEverySteps > 0 && step % train.checkpointEverySteps == 0
                if stepCheckpoint || epoch % train.checkpointEvery == 0 || epoch == train.epochs {
                    try checkpoint()
                }
                if improved { try checkpoint(best: true) }
            } else {
                try emit(.stoppedEarly(step: step), log)
            }
        }
        try checkpoint()
    }

    /// One optimiser step on one batch; returns the total loss, the learning rate used and the family's
    /// extra scalars.
    func trainStep(_ batch: NSDBatch) throws -> (loss: Double, lr: Double, extras: [String: Double]) {
        family.train(true)
        // The ranges name the step's phases in a profile (train.profile); they cost nothing otherwise.
        let (loss, extras) = try Profiler.range("forward_and_loss") {
            try DataParallel.within(dataParallel) {
                try family.loss(for: batch, epoch: epoch, autocast: Autocast(precision: train.precision, device: train.device))
            }
        }
        // data parallel: the ranks' mean, so every rank takes the NaN guard's branch together
        let value = try dataParallel?.average(loss.item()) ?? loss.item()
        guard value.isFinite else {
            try saveCheckpoint()
            throw TrainingStop.nonFiniteLoss(value: value, epoch: epoch, step: step, checkpoint: checkpointURL)
        }
        let lr = optimizer.lr(group: 0)
        // data parallel: the gradients come back averaged over the ranks, all-reduced while backward runs
        try Profiler.range("backward") {
            if let dataParallel { try dataParallel.backward(loss, parameters: optimizer.parameters) } else { loss.backward() }
        }
        Profiler.range("clip_and_optimizer_step") {
            if train.gradClip.isFinite { clipGradNorm(family.clippedParameters(train) ?? optimizer.parameters, maxNorm: train.gradClip) }
            optimizer.step()
            scheduler.step(optimizer)
            optimizer.zeroGrad()
        }
        return (value, lr, extras.mapValues { $0.item() })
    }

    /// Retrieval on every test subject with the current weights; loggers see its progress.
    public func evaluate() throws -> EvaluationReport {
        let after = epoch
        let report = try family.evaluate(data: data, config: evalConfig) { [loggers] p in
            for logger in loggers { try? logger.record(.evaluating(epoch: after, progress: p)) }
        }
        lastEvaluation = (step, report)
        return report
    }
    /// The latest evaluation and the step it was made at, so a caller can reuse the final epoch's report.
    public private(set) var lastEvaluation: (step: Int, report: EvaluationReport)?
}

extension EvaluationReport {
    /// The scores under their metrics.jsonl keys.
    var scores: [String: Double] {
        var out: [String: Double] = [:]
        if let avg = average {
            out["image_retrieval"] = avg.imageRetrieval
            out["brain_retrieval"] = avg.brainRetrieval
            out["cosine"] = avg.cosine
            if let mse = avg.mse { out["mse"] = mse }
        }
        if let avg = prior?.average {
            out["prior_image_retrieval"] = avg.imageRetrieval
            out["prior_cosine"] = avg.cosine
            out["prior_mse"] = avg.mse ?? .nan
        }
        return out
    }
}
