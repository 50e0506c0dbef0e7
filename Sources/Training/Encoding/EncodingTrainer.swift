import BrainData
import Encoding
import Foundation
import Torch

/// The encoder's training loop (MedARC's `train_feature_encoder.py`): AdamW at a constant lr on windows
/// of `sample_length` TRs, `num_samples / batch_size` steps an epoch, validation on whole held-out
/// episodes, `best.safetensors` at the best mean r, early stopping after `patience` epochs without one.
/// It is not the generic `Trainer` (whose batches, sampler and evaluation are NSD's), but it shares its
/// pieces: `Checkpoint` (atomic, exact resume), `MetricsLog`, `TrainingEvent` and the loggers, `TrainingStop`.
public final class EncodingTrainer {
    public let model: EncodingModel
    public let data: EncodingData
    public let runDir: URL
    public var config: EncodingRunConfig { model.config }
    let optimizer: AdamW
    /// What the checkpoint's `sampler` metadata holds: the window sampler at the start of the epoch, and the
    /// early-stopping count.
    struct LoopState: Codable, Equatable {
        var sampler: AlgonautsWindowSampler
        var staleEpochs = 0
        var stopped = false
    }
    var state: LoopState
    /// `state` at the start of the current epoch (a mid-epoch resume regenerates its windows).
    var epochState: LoopState
    public internal(set) var step = 0
    public internal(set) var epoch = 0
    var stepInEpoch = 0
    /// Best validation mean r so far (what best.safetensors holds).
    public internal(set) var bestMetric: Double?
    /// The last validation score and the step it was made at.
    public internal(set) var lastEvaluation: (step: Int, score: EncodingScore)?
    public var onStep: ((Int, Double) -> Void)?
    public var loggers: [TrainingLogger] = []
    /// Polled after every step; true saves a checkpoint and stops with `TrainingStop.interrupted`.
    public var shouldStop: () -> Bool = { false }

    public var checkpointURL: URL { runDir.appendingPathComponent("checkpoint.safetensors") }
    public var bestCheckpointURL: URL { runDir.appendingPathComponent("best.safetensors") }
    public var metricsURL: URL { runDir.appendingPathComponent("metrics.jsonl") }
    public var stepsPerEpoch: Int { config.data.numSamples / config.train.batchSize }

    /// Seeds libtorch, sets its threads and builds the model from `config` (its shape keys filled from `data`).
    public init(config: EncodingRunConfig, data: EncodingData, runDir: URL) throws {
        HostMemory.keepFreedMemory()
        if config.train.threads > 0 { Torch.threads = config.train.threads }
        Torch.manualSeed(config.train.seed)
        let filled = try config.filled(subjects: config.data.subjects.count, featDims: data.featDims, parcels: data.parcels)
        let c = filled.data, t = filled.train
        guard c.numSamples >= t.batchSize else {
            throw ConfigError("data.num_samples: \(c.numSamples) windows an epoch are fewer than train.batch_size \(t.batchSize)")
        }
        if filled.stage == 2, c.sampleLength % filled.decoder.lengthMultiple != 0 {
            throw ConfigError("data.sample_length: \(c.sampleLength) must be a multiple of \(filled.decoder.lengthMultiple) "
                + "(each of decoder.channels' \(filled.decoder.channels.count) levels but the last halves T)")
        }
        model = EncodingModel(config: filled)
        self.data = data
        self.runDir = runDir
        state = LoopState(sampler: try AlgonautsWindowSampler(episodes: data.train, sampleLength: c.sampleLength, seed: t.seed))
        epochState = state
        optimizer = try AdamW(groups: [AdamW.ParameterGroup(model.trainedParameters, lr: t.lr, weightDecay: t.weightDecay)])
        try FileManager.default.createDirectory(at: runDir, withIntermediateDirectories: true)
    }

    /// Trains to `train.epochs` (or `train.max_steps`, or early stopping).
    public func run() throws {
        let log = try MetricsLog(url: metricsURL)
        defer { for logger in loggers { try? logger.close() } }
        let t = config.train
        let maxSteps = t.maxSteps > 0 ? t.maxSteps : Int.max
        try emit(.started(TrainingPlan(epochs: t.epochs, stepsPerEpoch: stepsPerEpoch,
                                       totalSteps: min(t.epochs * stepsPerEpoch, maxSteps), startStep: step)), log)
        while epoch < t.epochs && step < maxSteps && !state.stopped {
            if stepInEpoch == 0 { epochState = state }
            var next = epochState
            let windows = next.sampler.next(stepsPerEpoch * t.batchSize)
            try emit(.epochStarted(epoch: epoch, steps: stepsPerEpoch, resumedAt: stepInEpoch), log)
            var lossSum = 0.0, taken = 0
            let started = Date()
            while stepInEpoch < stepsPerEpoch && step < maxSteps {
                let batch = data.batch(Array(windows[stepInEpoch * t.batchSize ..< (stepInEpoch + 1) * t.batchSize]))
                let (loss, extras) = try stage("training step \(step + 1) (epoch \(epoch + 1))") { try trainStep(batch) }
                lossSum += loss
                taken += 1
                step += 1
                stepInEpoch += 1
                onStep?(step, loss)
                try emit(.step(StepRecord(step: step, epoch: epoch, stepInEpoch: stepInEpoch, stepsInEpoch: stepsPerEpoch,
                                          loss: loss, lr: t.lr, subject: 0, samples: stepInEpoch * t.batchSize,
                                          extras: extras, time: Date())), log)
                if shouldStop() {
                    try checkpoint()
                    throw TrainingStop.interrupted(checkpoint: checkpointURL)
                }
            }
            guard stepInEpoch == stepsPerEpoch else {
                try emit(.stoppedEarly(step: step), log)
                break
            }
            next.staleEpochs = state.staleEpochs
            state = next
            epoch += 1
            stepInEpoch = 0
            var scores: [String: Double] = [:]
            var improved = false
            if epoch % config.eval.everyEpochs == 0 || epoch == t.epochs {
                let score = try stage("evaluating after epoch \(epoch)") { try evaluate() }
                scores = Self.scores(score)
                if score.score.isFinite, score.score > (bestMetric ?? -.infinity) {
                    bestMetric = score.score
                    improved = true
                    state.staleEpochs = 0
                } else {
                    state.staleEpochs += 1
                    state.stopped = t.patience > 0 && state.staleEpochs >= t.patience
                }
            }
            epochState = state
            try emit(.epoch(EpochRecord(step: step, epoch: epoch - 1, epochs: t.epochs, meanLoss: lossSum / Double(max(taken, 1)),
                                        seconds: Date().timeIntervalSince(started), evaluation: scores, time: Date())), log)
            if epoch % t.checkpointEvery == 0 || epoch == t.epochs || state.stopped { try checkpoint() }
            if improved { try checkpoint(best: true) }
        }
        try checkpoint()
    }

    /// The metrics.jsonl keys of a validation score: `pearson_r` and `pearson_r_sub-0X` per subject.
    static func scores(_ s: EncodingScore) -> [String: Double] {
        var out = ["pearson_r": s.score]
        for (subject, r) in zip(Array(0..<s.subjects.count), s.subjects) { out["pearson_r_s\(subject)"] = r }
        return out
    }

    func trainStep(_ batch: (fmri: Tensor, features: [Tensor])) throws -> (Double, [String: Double]) {
        model.train(true)
        let (loss, extras) = model.loss(fmri: batch.fmri, features: batch.features)
        let value = loss.item()
        guard value.isFinite else {
            try saveCheckpoint()
            throw TrainingStop.nonFiniteLoss(value: value, epoch: epoch, step: step, checkpoint: checkpointURL)
        }
        loss.backward()
        if config.train.gradClip.isFinite { _ = clipGradNorm(model.trainedParameters, maxNorm: config.train.gradClip) }
        optimizer.step()
        optimizer.zeroGrad()
        return (value, extras.mapValues { $0.item() })
    }

    /// Mean r on the held-out episodes with the current weights.
    public func evaluate() throws -> EncodingScore {
        let score = try model.evaluate(data.val, seed: config.eval.seed).score
        lastEvaluation = (step, score)
        return score
    }

    func stage<R>(_ doing: @autoclosure () -> String, _ body: () throws -> R) throws -> R {
        try stoppingOnTorchFailure(doing, body)
    }

    func checkpoint(best: Bool = false) throws {
        let url = best ? bestCheckpointURL : checkpointURL
        try saveCheckpoint(to: url)
        try emit(.checkpoint(url: url, step: step, best: best), nil)
    }

    /// The event's metrics.jsonl row, then every logger; a failed write saves the state and stops.
    func emit(_ event: TrainingEvent, _ log: MetricsLog?) throws {
        try record(event, log: log, loggers: loggers, step: step, checkpoint: checkpointURL) { try saveCheckpoint() }
    }
}
