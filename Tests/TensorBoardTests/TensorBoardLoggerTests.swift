import Foundation
import Testing
@testable import Training

/// TensorBoardLogger's scalars as TensorBoard's own reader (Fixtures/read_events.py) finds them: a short run
/// of events (start, two steps of one epoch, its evaluation, a checkpoint, then one step of the next epoch)
/// gives exactly these tags, steps, values and wall times.
@Suite struct TensorBoardLoggerTests {
    static func step(_ step: Int, loss: Double, lr: Double, priorMSE: Double, time: Double) -> TrainingEvent {
        .step(StepRecord(step: step, epoch: (step - 1) / 2, stepInEpoch: (step - 1) % 2 + 1, stepsInEpoch: 2,
                         loss: loss, lr: lr, subject: 1, samples: 8, extras: ["prior_mse": priorMSE],
                         time: Date(timeIntervalSince1970: time)))
    }

    @Test func eventsBecomeTheNamedScalars() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let logger = try TensorBoardLogger(directory: directory)
        let t0 = 1_700_000_000.0
        let events: [TrainingEvent] = [
            .started(TrainingPlan(epochs: 2, stepsPerEpoch: 2, totalSteps: 3, startStep: 0)),
            .epochStarted(epoch: 0, steps: 2, resumedAt: 0),
            Self.step(1, loss: 2.5, lr: 1e-4, priorMSE: 0.75, time: t0 + 1),
            Self.step(2, loss: 2.25, lr: 3e-4, priorMSE: 0.5, time: t0 + 2.5),
            .evaluating(epoch: 1, progress: EvaluationProgress(subject: 1, stage: "encoding", done: 1, total: 2,
                                                               subjectIndex: 0, subjectCount: 1)),
            .epoch(EpochRecord(step: 2, epoch: 0, epochs: 2, meanLoss: 2.375, seconds: 3,
                               evaluation: ["image_retrieval": 0.25, "brain_retrieval": 0.125, "cosine": 0.1],
                               time: Date(timeIntervalSince1970: t0 + 4))),
            .checkpoint(url: directory.appendingPathComponent("checkpoint.safetensors"), step: 2, best: true),
            .phaseSwitch(epoch: 1, step: 2, from: "bimixco", to: "softclip"),
            .epochStarted(epoch: 1, steps: 2, resumedAt: 0),
            Self.step(3, loss: 1.5, lr: 2e-4, priorMSE: 0.25, time: t0 + 5.25),
            .stoppedEarly(step: 3),
        ]
        for event in events { try logger.record(event) }
        try logger.close()

        let read = try TensorBoardReaderTests.read(directory)
        #expect(read.fileVersion == "brain.Event:2")
        // (wall time, step, value); values are float32 in the file, so each is the Float nearest to it.
        let expected: [String: [(Double, Int, Double)]] = [
            "train/loss": [(t0 + 1, 1, 2.5), (t0 + 2.5, 2, 2.25), (t0 + 5.25, 3, 1.5)],
            "train/lr": [(t0 + 1, 1, 1e-4), (t0 + 2.5, 2, 3e-4), (t0 + 5.25, 3, 2e-4)],
            "train/prior_mse": [(t0 + 1, 1, 0.75), (t0 + 2.5, 2, 0.5), (t0 + 5.25, 3, 0.25)],
            "train/epoch_loss": [(t0 + 4, 2, 2.375)],
            "eval/image_retrieval": [(t0 + 4, 2, 0.25)],
            "eval/brain_retrieval": [(t0 + 4, 2, 0.125)],
            "eval/cosine": [(t0 + 4, 2, 0.1)],
        ]
        #expect(Set(read.scalars.keys) == Set(expected.keys))
        for (tag, rows) in expected {
            let got = read.scalars[tag] ?? []
            #expect(got.map(\.1) == rows.map(\.1), "\(tag) steps")
            #expect(got.map(\.2) == rows.map { Double(Float($0.2)) }, "\(tag) values")
            #expect(got.map(\.0) == rows.map(\.0), "\(tag) wall times")
        }
    }

    /// An epoch's scalars are on disk when the epoch ends, before close: a run killed later keeps them.
    @Test func anEpochFlushesItsScalars() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let logger = try TensorBoardLogger(directory: directory)
        try logger.record(Self.step(1, loss: 2, lr: 0.5, priorMSE: 1, time: 1_700_000_000))
        #expect(try TensorBoardReaderTests.read(directory).scalars.isEmpty)
        try logger.record(.epoch(EpochRecord(step: 1, epoch: 0, epochs: 1, meanLoss: 2, seconds: 1, evaluation: [:],
                                             time: Date(timeIntervalSince1970: 1_700_000_001))))
        let read = try TensorBoardReaderTests.read(directory)
        #expect(Set(read.scalars.keys) == ["train/loss", "train/lr", "train/prior_mse", "train/epoch_loss"])
        #expect(read.scalars["train/epoch_loss"]?.map(\.1) == [1])
        try logger.close()
    }

    /// A resume within the same second as the run it continues: the second part gets its own file.
    @Test func twoPartsStartedInOneSecondWriteTwoFiles() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try TensorBoardLogger(directory: directory), second = try TensorBoardLogger(directory: directory)
        #expect(first.fileURL != second.fileURL)
        if first.fileURL.lastPathComponent.dropLast(2) == second.fileURL.lastPathComponent.dropLast(2) {
            #expect(second.fileURL.lastPathComponent == first.fileURL.lastPathComponent + ".1")
        }
        try first.close()
        try second.close()
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).count == 2)
    }
}
