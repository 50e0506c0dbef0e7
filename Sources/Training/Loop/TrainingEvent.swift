import Foundation
import Torch

/// What the trainer reports as it runs; loggers (`TrainingLogger`) turn events into metrics.jsonl rows,
/// a console progress bar or TensorBoard scalars. The library itself prints nothing.
public enum TrainingEvent: Sendable {
    /// Before the first step of this process (also after a resume): the whole run's shape.
    case started(TrainingPlan)
    /// An epoch begins; `steps` is its length, `resumedAt` the steps of it already done.
    case epochStarted(epoch: Int, steps: Int, resumedAt: Int)
    /// The family's phase changed at `epoch` (BiMixCo → SoftCLIP).
    case phaseSwitch(epoch: Int, step: Int, from: String, to: String)
    case step(StepRecord)
    /// An evaluation's progress (encoding, prior sampling) after `epoch` epochs.
    case evaluating(epoch: Int, progress: EvaluationProgress)
    case epoch(EpochRecord)
    /// A checkpoint was written; `best` for `best.safetensors`.
    case checkpoint(url: URL, step: Int, best: Bool)
    /// `train.max_steps` ended the run inside an epoch.
    case stoppedEarly(step: Int)
    /// `train.profile` recorded `steps` steps: the Chrome trace and the markdown summary of the top operators.
    case profiled(trace: URL, summary: URL, steps: Int)
}

/// The run as the trainer sees it when it starts.
public struct TrainingPlan: Sendable {
    public var epochs: Int
    public var stepsPerEpoch: Int
    /// Steps this process will take at most (train.max_steps counted), and the step it starts after.
    public var totalSteps: Int
    public var startStep: Int
}

/// One optimiser step. `epoch` is 0-based; `step` counts steps done, this one included.
public struct StepRecord: Sendable {
    public var step: Int
    public var epoch: Int
    public var stepInEpoch: Int
    public var stepsInEpoch: Int
    public var loss: Double
    public var lr: Double
    public var subject: Int
    /// Samples seen in this epoch so far.
    public var samples: Int
    /// The family's extra scalars (`prior_mse`).
    public var extras: [String: Double]
    public var time: Date
}

/// One finished epoch (0-based `epoch`), with its evaluation when there was one.
public struct EpochRecord: Sendable {
    public var step: Int
    public var epoch: Int
    public var epochs: Int
    public var meanLoss: Double
    public var seconds: Double
    /// Retrieval scores by metrics.jsonl key (`image_retrieval`, `brain_retrieval`, `cosine`, `prior_*`).
    public var evaluation: [String: Double]
    public var time: Date
}

/// A consumer of training events. A throw stops training with `TrainingStop.loggerFailed` after the state
/// is saved.
public protocol TrainingLogger: AnyObject {
    func record(_ event: TrainingEvent) throws
    /// Called once when the run ends (normally or not), to flush and close files.
    func close() throws
}

extension TrainingLogger {
    public func close() throws {}
}

/// Runs one stage of a training loop, turning a libtorch failure inside it into `TrainingStop.torchFailure`
/// naming what was being done (`doing` is only built on failure). `Trainer` and `EncodingTrainer` use it.
func stoppingOnTorchFailure<R>(_ doing: () -> String, _ body: () throws -> R) throws -> R {
    do {
        return try withTorchError(body)
    } catch let error as TorchError {
        throw TrainingStop.torchFailure(message: error.message, doing: doing())
    }
}

/// Writes `event`'s metrics.jsonl row (when `log` is given and the event has one), then hands it to every
/// logger. When a write fails (a full disk), saves the state with `save` and stops with the reason and
/// whether the state after `step` was saved to `checkpoint`. `Trainer` and `EncodingTrainer` use it.
func record(_ event: TrainingEvent, log: MetricsLog?, loggers: [TrainingLogger], step: Int, checkpoint: URL,
            save: () throws -> Void) throws
{
    if let log, let row = MetricsLog.row(event) {
        do {
            try log.append(row)
        } catch {
            let saved = (try? save()) != nil
            throw TrainingStop.metricsFailed(reason: (error as? ConfigError)?.message ?? "\(error)", metrics: log.url,
                                             step: step, checkpoint: checkpoint, saved: saved)
        }
    }
    for logger in loggers {
        do {
            try logger.record(event)
        } catch {
            let saved = (try? save()) != nil
            throw TrainingStop.loggerFailed(reason: "\(error)", step: step, checkpoint: checkpoint, saved: saved)
        }
    }
}
