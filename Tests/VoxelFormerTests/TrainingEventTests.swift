import Foundation
import Testing
import Torch
@testable import Training
@testable import VoxelFormer

/// Keeps every event it is given.
final class RecordingLogger: TrainingLogger {
    var events: [TrainingEvent] = []
    var closed = false
    func record(_ event: TrainingEvent) throws { events.append(event) }
    func close() throws { closed = true }
}

/// Fails on the second step's event, as a logger on a full disk would.
final class FailingLogger: TrainingLogger {
    func record(_ event: TrainingEvent) throws {
        if case .step(let r) = event, r.step == 2 { throw ConfigError("events.out: No space left on device") }
    }
}

@Suite(.serialized) struct TrainingEventTests {
    /// 3 epochs of 8 steps (2 subjects x 64 trials / 16), BiMixCo for int(0.34 x 3) = 1 epoch.
    static func config() -> VoxelFormerConfig {
        var config = tinyConfig(epochs: 3)
        config.train.mixupPct = 0.34
        config.eval.everyEpochs = 2
        return config
    }

    @Test func loggersSeeStepsEpochsThePhaseSwitchAndCheckpointsInOrder() throws {
        let dir = temporaryDirectory()
        let trainer = try Trainer(config: Self.config(), data: InMemoryData(), runDir: dir)
        let logger = RecordingLogger()
        trainer.loggers = [logger]
        try trainer.run()
        #expect(logger.closed)
        var steps: [Int] = [], epochs: [Int] = [], evaluated: [Int] = [], switches: [String] = [], checkpoints = 0
        for event in logger.events {
            switch event {
            case .step(let r): steps.append(r.step)
            case .epoch(let r):
                epochs.append(r.epoch)
                if r.evaluation["image_retrieval"] != nil { evaluated.append(r.epoch) }
            case .phaseSwitch(let e, let step, let from, let to): switches.append("\(e) \(step) \(from) -> \(to)")
            case .checkpoint(_, _, let best): if !best { checkpoints += 1 }
            default: break
            }
        }
        #expect(steps == Array(1...24))
        #expect(epochs == [0, 1, 2])
        // eval.every_epochs 2: after the second epoch, and the last one always
        #expect(evaluated == [1, 2])
        #expect(switches == ["1 8 BiMixCo -> SoftCLIP"])
        // checkpoint_every 1: after each epoch, plus the final save
        #expect(checkpoints == 4)
        if case .started(let plan)? = logger.events.first {
            #expect(plan.totalSteps == 24 && plan.stepsPerEpoch == 8 && plan.startStep == 0)
        } else {
            Issue.record("the first event is not .started")
        }
    }

    /// metrics.jsonl: one typed, timestamped row per step and per epoch, told apart by `type`.
    @Test func metricsRowsAreTypedAndTimestamped() throws {
        let dir = temporaryDirectory()
        let before = Date().timeIntervalSince1970
        let trainer = try Trainer(config: Self.config(), data: InMemoryData(), runDir: dir)
        try trainer.run()
        let text = try String(contentsOf: trainer.metricsURL, encoding: .utf8)
        let rows = try text.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        let steps = rows.filter { $0["type"] as? String == "step" }, epochs = rows.filter { $0["type"] as? String == "epoch" }
        #expect(steps.count == 24 && epochs.count == 3 && rows.count == 27)
        #expect(steps.allSatisfy { $0["loss"] != nil && $0["lr"] != nil && $0["subject"] != nil })
        #expect(epochs.allSatisfy { $0["mean_loss"] != nil && $0["epoch_seconds"] != nil && $0["loss"] == nil })
        let times = rows.compactMap { ($0["time"] as? NSNumber)?.doubleValue }
        #expect(times.count == rows.count)
        #expect(times.first! >= before && zip(times, times.dropFirst()).allSatisfy { $0 <= $1 })
    }

    @Test func aFailingLoggerStopsTrainingAfterSavingTheState() throws {
        let dir = temporaryDirectory()
        let trainer = try Trainer(config: Self.config(), data: InMemoryData(), runDir: dir)
        trainer.loggers = [FailingLogger()]
        do {
            try trainer.run()
            Issue.record("training went on without its logger")
        } catch let stop as TrainingStop {
            #expect(stop.description == "a logger failed at step 2: events.out: No space left on device; the state after "
                + "step 2 is saved in \(dir.path)/checkpoint.safetensors (--resume continues)")
        }
        #expect(try Checkpoint.read(trainer.checkpointURL).step == 2)
    }

    @Test func cudaIsRefusedByName() throws {
        var config = Self.config()
        config.train.device = .cuda
        let expected = Torch.cudaIsAvailable
            ? "train.device: cuda: moving the model and batches to the GPU is not built yet; use train.device=cpu"
            : "train.device: cuda, but this libtorch has no CUDA device (a CPU-only build, or no GPU visible); use train.device=cpu"
        #expect(throws: ConfigError(expected)) {
            try Trainer(config: config, data: InMemoryData(), runDir: temporaryDirectory())
        }
        #expect(ComputeDevice.cuda.torchDevice == .cuda(0) && ComputeDevice.cpu.torchDevice == .cpu)
    }

    @Test func choiceKeysNameTheirChoices() throws {
        #expect(throws: ConfigError("train.device: expected cpu or cuda, got 'tpu'")) {
            try VoxelFormerConfig.load(path: nil, overrides: ["train.device=tpu"])
        }
        #expect(throws: ConfigError("data.betas_dtype: expected float32, float16 or bfloat16, got 'int8'")) {
            try VoxelFormerConfig.load(path: nil, overrides: ["data.betas_dtype=int8"])
        }
        let c = try VoxelFormerConfig.load(path: nil, overrides: ["train.precision=bf16", "data.betas_dtype=float16"])
        #expect(c.train.precision.autocastDType == .bfloat16 && c.data.betasDtype.dtype == .float16)
        #expect(Precision.fp32.autocastDType == nil && Precision.fp16.autocastDType == .float16)
    }
}
