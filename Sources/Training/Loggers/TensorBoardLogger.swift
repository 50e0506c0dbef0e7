import Foundation
import TensorBoard

/// Training events as TensorBoard scalars, in `<run dir>/tensorboard/` (`tensorboard --logdir runs/demo`):
/// per step `train/loss`, `train/lr` and the family's extras (`train/prior_mse`); per epoch `train/epoch_loss`
/// and each evaluation score (`eval/image_retrieval`, `eval/brain_retrieval`, `eval/cosine`, ...).
/// A resumed run adds a new event file to the same folder; TensorBoard reads them as one run.
public final class TensorBoardLogger: TrainingLogger {
    let writer: TensorBoardWriter

    /// A run resumed within the second its last part started would name the same file: such a part gets a
    /// `.1`, `.2`, ... suffix (TensorBoard reads every `events.out.tfevents.*` file of the folder).
    public init(directory: URL) throws {
        var attempt = 0
        while true {
            do {
                writer = try TensorBoardWriter(directory: directory, fileSuffix: attempt == 0 ? "" : ".\(attempt)")
                return
            } catch let e as TensorBoardError {
                guard case .fileExists = e, attempt < 100 else { throw e }
                attempt += 1
            }
        }
    }

    /// The event file being written.
    public var fileURL: URL { writer.fileURL }

    public func record(_ event: TrainingEvent) throws {
        switch event {
        case .step(let r):
            let t = r.time.timeIntervalSince1970
            try writer.addScalar(tag: "train/loss", value: r.loss, step: r.step, wallTime: t)
            try writer.addScalar(tag: "train/lr", value: r.lr, step: r.step, wallTime: t)
            for (key, value) in r.extras.sorted(by: { $0.key < $1.key }) {
                try writer.addScalar(tag: "train/\(key)", value: value, step: r.step, wallTime: t)
            }
        case .epoch(let r):
            let t = r.time.timeIntervalSince1970
            try writer.addScalar(tag: "train/epoch_loss", value: r.meanLoss, step: r.step, wallTime: t)
            for (key, value) in r.evaluation.sorted(by: { $0.key < $1.key }) {
                try writer.addScalar(tag: "eval/\(key)", value: value, step: r.step, wallTime: t)
            }
            try writer.flush()
        default: break
        }
    }

    public func close() throws { try writer.close() }
}
