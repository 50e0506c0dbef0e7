import BrainData
import Foundation
import Torch

extension Trainer {
    // MARK: checkpoints

    /// Writes the full training state to `url` (the run's `checkpoint.safetensors` by default), atomically.
    public func saveCheckpoint(to url: URL? = nil) throws {
        guard writes else { return }  // data parallel: rank 0 writes, the same state as every rank's
        var checkpoint = Checkpoint(
            model: family.modules.stateDict(), optimizer: optimizer.stateDict(), scheduler: scheduler.stateDict(),
            torchRNG: Torch.rngState(), epoch: epoch, step: step, stepInEpoch: stepInEpoch,
            samplerState: String(decoding: try JSONEncoder().encode(epochSamplerState), as: UTF8.self),
            configYAML: configYAML, bestMetric: bestMetric)
        checkpoint.worldSize = dataParallel?.worldSize ?? 1
        try checkpoint.write(to: url ?? checkpointURL)
    }

    /// Restores a checkpoint written by `saveCheckpoint`; the run then continues exactly where it stopped.
    /// Metadata that does not fit this run (its data, batch size or schedule) is refused by name.
    public func resume(from url: URL) throws {
        let c = try Checkpoint.read(url)
        func fail(_ why: String) -> ConfigError { ConfigError("\(url.path): \(why)") }
        guard let samplerData = c.samplerState.data(using: .utf8),
              let s = try? JSONDecoder().decode(SubjectBatchSampler.self, from: samplerData) else {
            throw fail("the checkpoint's sampler state cannot be read")
        }
        guard s.batchSize == train.batchSize else {
            throw fail("the sampler's batch size is \(s.batchSize), but train.batch_size is \(train.batchSize); "
                + "a run resumes with the batch size it started with")
        }
        guard s.mixed == sampler.mixed else {
            throw fail("the checkpoint's batches were \(s.mixed ? "mixed" : "per subject"), this run's are "
                + "\(sampler.mixed ? "mixed" : "per subject")")
        }
        guard s.subjectsPerEpoch == sampler.subjectsPerEpoch else {
            throw fail("the checkpoint's batches drew \(s.subjectsPerEpoch) subjects an epoch, this run's draw \(sampler.subjectsPerEpoch)")
        }
        guard s.trialCounts == sampler.trialCounts else {
            func list(_ counts: [Int: Int]) -> String { counts.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ") }
            throw fail("the checkpoint was trained on train trials per subject {\(list(s.trialCounts))}, "
                + "but the data now has {\(list(sampler.trialCounts))}")
        }
        if let refusal = worldSizeChangeRefusal(from: c.worldSize) { throw fail(refusal) }
        guard s.epoch == c.epoch else {
            throw fail("the sampler has drawn \(s.epoch) epochs, but the checkpoint's epoch is \(c.epoch)")
        }
        guard c.epoch <= train.epochs else {
            throw fail("epoch \(c.epoch) is past train.epochs (\(train.epochs))")
        }
        guard c.stepInEpoch < stepsPerEpoch else {
            throw fail("step_in_epoch \(c.stepInEpoch) is not within an epoch of \(stepsPerEpoch) steps")
        }
        guard c.step == c.epoch * stepsPerEpoch + c.stepInEpoch else {
            throw fail("step \(c.step) does not match epoch \(c.epoch) x \(stepsPerEpoch) steps + step_in_epoch \(c.stepInEpoch)")
        }
        let rngShape = Torch.rngState().shape
        guard c.torchRNG.shape == rngShape, c.torchRNG.dtype == .uint8 else {
            throw fail("rng.torch has shape \(c.torchRNG.shape) (\(c.torchRNG.dtype)), expected \(rngShape) (uint8): "
                + "libtorch's CPU generator state")
        }
        try family.modules.load(stateDict: c.model)
        try optimizer.load(stateDict: c.optimizer)
        try scheduler.load(stateDict: c.scheduler)
        epochSamplerState = s
        sampler = s
        (epoch, step, stepInEpoch) = (c.epoch, c.step, c.stepInEpoch)
        bestMetric = c.bestMetric
        Torch.setRNGState(c.torchRNG)
        if writes { try MetricsLog.truncate(metricsURL, beforeStep: step) }
    }

    // MARK: failures

    /// Runs one stage of the loop, turning a libtorch failure inside it into `TrainingStop.torchFailure`.
    func torchStage<R>(_ doing: @autoclosure () -> String, _ body: () throws -> R) throws -> R {
        try stoppingOnTorchFailure(doing, body)
    }

    /// Saves the state (to `best.safetensors` when `best`) and tells the loggers.
    func checkpoint(best: Bool = false) throws {
        let url = best ? bestCheckpointURL : checkpointURL
        try saveCheckpoint(to: url)
        try emit(.checkpoint(url: url, step: step, best: best), nil)
        try dataParallel?.barrier("rank 0 writing \(url.lastPathComponent)", long: true)
    }

    /// Writes the event's metrics.jsonl row (when `log` is given and the event has one), then hands it to
    /// every logger. When a write fails (a full disk), saves the state and stops with the reason.
    func emit(_ event: TrainingEvent, _ log: MetricsLog?) throws {
        try record(event, log: log, loggers: loggers, step: step, checkpoint: checkpointURL) { try saveCheckpoint() }
    }
}
