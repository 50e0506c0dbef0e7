import Foundation
import Testing
import Torch
@testable import Training
@testable import VoxelFormer

/// Checkpoint metadata, run folders and metrics failures (issue 9): each bad state gets its exact message.
@Suite(.serialized) struct CheckpointValidationTests {
    /// A trainer stopped after 3 steps and its checkpoint (8 steps per epoch: 2 subjects x 64 trials / 16).
    func stopped() throws -> (Trainer<VoxelFormerFamily>, Checkpoint) {
        var config = tinyConfig(epochs: 3)
        config.train.maxSteps = 3
        let trainer = try Trainer(config: config, data: InMemoryData(), runDir: temporaryDirectory())
        try trainer.run()
        return (trainer, try Checkpoint.read(trainer.checkpointURL))
    }

    func resumeMessage(_ checkpoint: Checkpoint) throws -> String {
        let dir = temporaryDirectory()
        let url = dir.appendingPathComponent("checkpoint.safetensors")
        try checkpoint.write(to: url)
        let fresh = try Trainer(config: tinyConfig(epochs: 3), data: InMemoryData(), runDir: dir)
        do {
            try fresh.resume(from: url)
            return "no error"
        } catch {
            return "\(error)".replacingOccurrences(of: dir.path, with: "DIR")
        }
    }

    @Test func metadataOutOfRangeIsRefusedByName() throws {
        var (_, c) = try stopped()
        #expect(c.step == 3 && c.stepInEpoch == 3 && c.epoch == 0)
        let good = c
        c.epoch = -4
        #expect(try resumeMessage(c) == "DIR/checkpoint.safetensors: checkpoint metadata 'epoch' is -4; expected 0 or more")
        c = good
        c.stepInEpoch = 999
        #expect(try resumeMessage(c) == "DIR/checkpoint.safetensors: checkpoint metadata 'step_in_epoch' (999) exceeds 'step' (3)")
        c.step = 1000
        #expect(try resumeMessage(c) == "DIR/checkpoint.safetensors: step_in_epoch 999 is not within an epoch of 8 steps")
        c = good
        c.step = 5
        #expect(try resumeMessage(c) == "DIR/checkpoint.safetensors: step 5 does not match epoch 0 x 8 steps + step_in_epoch 3")
        c = good
        c.torchRNG = Tensor.zeros([10], dtype: .uint8)
        let shape = Torch.rngState().shape
        #expect(try resumeMessage(c) == "DIR/checkpoint.safetensors: rng.torch has shape [10] (uint8), expected \(shape) (uint8): "
            + "libtorch's CPU generator state")
        #expect(try resumeMessage(good) == "no error")
    }

    @Test func aSamplerThatDoesNotFitTheRunIsRefused() throws {
        var (_, c) = try stopped()
        let good = c
        var sampler = try JSONSerialization.jsonObject(with: Data(c.samplerState.utf8)) as! [String: Any]
        sampler["batchSize"] = 0
        c.samplerState = String(decoding: try JSONSerialization.data(withJSONObject: sampler), as: UTF8.self)
        #expect(try resumeMessage(c) == "DIR/checkpoint.safetensors: the sampler's batch size is 0, but train.batch_size is 16; "
            + "a run resumes with the batch size it started with")
        c = good
        c.samplerState = "{}"
        #expect(try resumeMessage(c) == "DIR/checkpoint.safetensors: the checkpoint's sampler state cannot be read")
    }

    @Test func aModelOnlyFileIsNotATrainingCheckpoint() throws {
        let url = temporaryDirectory().appendingPathComponent("weights.safetensors")
        try Safetensors.write(["w": Tensor.zeros([2])], to: url)
        #expect(throws: ConfigError("\(url.path): not a VoxelFormer training checkpoint (metadata format is missing, expected "
            + "'voxelformer-checkpoint-1'); a model-only state dict is for evaluate, embed and retrieve (--checkpoint with --config), "
            + "not for --resume")) { try Checkpoint.read(url) }
        let fifo = temporaryDirectory().appendingPathComponent("fifo.safetensors")
        #expect(mkfifo(fifo.path, 0o600) == 0)
        #expect(throws: ConfigError("\(fifo.path): not a regular file; expected a checkpoint")) { try Checkpoint.read(fifo) }
    }
}

@Suite(.serialized) struct RunFolderTests {
    @Test func aSecondWriterIsRefused() throws {
        let dir = temporaryDirectory()
        do {
            let first = try RunFolder(dir)
            #expect(throws: ConfigError("run_dir \(dir.path): another voxelformer process (pid \(getpid())) is writing to this run "
                + "folder; wait for it to finish or choose another run_dir")) { try RunFolder(dir) }
            withExtendedLifetime(first) {}
        }
        _ = try RunFolder(dir)  // the first released the lock when it went away
    }

    @Test func anEarlierRunIsKeptUnlessOverwriteIsAsked() throws {
        let dir = temporaryDirectory()
        for name in ["metrics.jsonl", "checkpoint.safetensors", "notes.txt"] {
            try Data("x".utf8).write(to: dir.appendingPathComponent(name))
        }
        let folder = try RunFolder(dir)
        #expect(throws: ConfigError("run_dir \(dir.path): already holds a run (checkpoint.safetensors, metrics.jsonl); "
            + "continue it with --resume, or replace it with --overwrite")) { try folder.prepareFreshRun(overwrite: false) }
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("metrics.jsonl").path))
        try folder.prepareFreshRun(overwrite: true)
        #expect(folder.existingRunFiles().isEmpty)
        #expect(FileManager.default.fileExists(atPath: dir.appendingPathComponent("notes.txt").path))
    }

    @Test func staleTemporariesOfKilledWritesAreRemoved() throws {
        let dir = temporaryDirectory()
        for name in [".checkpoint.safetensors.1234.tmp", ".best.safetensors.99.tmp", "keep.tmp", ".lockish"] {
            try Data("x".utf8).write(to: dir.appendingPathComponent(name))
        }
        let folder = try RunFolder(dir)
        #expect(try folder.removeStaleTemporaries() == [".best.safetensors.99.tmp", ".checkpoint.safetensors.1234.tmp"])
        #expect(Set(try FileManager.default.contentsOfDirectory(atPath: dir.path)) == [".lock", "keep.tmp", ".lockish"])
    }
}

@Suite(.serialized) struct StepCheckpointTests {
    @Test func stepCheckpointsResumeMidEpochAndBestFollowsTheEvaluation() throws {
        var config = tinyConfig(epochs: 3)
        config.train.checkpointEverySteps = 5
        let full = try Trainer(config: config, data: InMemoryData(), runDir: temporaryDirectory())
        var fullLosses: [Double] = []
        full.onStep = { fullLosses.append($1) }
        try full.run()
        // every epoch is evaluated (eval.every_epochs = 1); best.safetensors holds the best one's metric
        let best = try Checkpoint.read(full.bestCheckpointURL)
        #expect(best.bestMetric == full.bestMetric)
        #expect(full.bestMetric != nil && full.lastEvaluation != nil)

        // a run stopped at step 13 keeps the step-10 checkpoint: resuming from it repeats steps 11...24 exactly
        let dir = temporaryDirectory()
        var stopped = config
        stopped.train.maxSteps = 13
        let first = try Trainer(config: stopped, data: InMemoryData(), runDir: dir)
        var firstLosses: [Double] = []
        first.onStep = { step, loss in
            firstLosses.append(loss)
            if step == 12 { try? FileManager.default.copyItem(at: first.checkpointURL, to: dir.appendingPathComponent("at12")) }
        }
        try first.run()
        let saved = try Checkpoint.read(dir.appendingPathComponent("at12"))
        #expect(saved.step == 10 && saved.epoch == 1 && saved.stepInEpoch == 2)
        try FileManager.default.removeItem(at: first.checkpointURL)
        try FileManager.default.moveItem(at: dir.appendingPathComponent("at12"), to: first.checkpointURL)
        let second = try Trainer(config: config, data: InMemoryData(), runDir: dir)
        try second.resume(from: second.checkpointURL)
        var resumed = Array(firstLosses.prefix(10))
        second.onStep = { resumed.append($1) }
        try second.run()
        #expect(resumed == fullLosses)
        // the metrics log was cut back to step 10, then continued: one record per step, in order
        let steps = MetricsLog.read(second.metricsURL).filter { $0["loss"] != nil }.compactMap { $0["step"].map(Int.init) }
        #expect(steps == Array(1...24))
    }

    @Test func aFullDiskWhileLoggingSavesTheStateAndStops() throws {
        let dir = temporaryDirectory()
        // /dev/full accepts the open and fails every write with ENOSPC, like a full disk
        try FileManager.default.createSymbolicLink(atPath: dir.appendingPathComponent("metrics.jsonl").path,
                                                   withDestinationPath: "/dev/full")
        let trainer = try Trainer(config: tinyConfig(epochs: 3), data: InMemoryData(), runDir: dir)
        do {
            try trainer.run()
            Issue.record("training went on without its metrics")
        } catch let stop as TrainingStop {
            #expect(stop.description == "\(dir.path)/metrics.jsonl: cannot append to the metrics file: No space left on device "
                + "(the record of step 1, which metrics.jsonl will lack); the state after step 1 is saved "
                + "in \(dir.path)/checkpoint.safetensors (free space, then --resume)")
        }
        #expect(try Checkpoint.read(trainer.checkpointURL).step == 1)
    }

    @Test func aTargetWidthThatDoesNotMatchTheModelIsAnError() throws {
        var config = tinyConfig(epochs: 3)
        config.model.clipEmbDim = 6
        let trainer = try Trainer(config: config, data: InMemoryData(), runDir: temporaryDirectory())
        #expect(throws: ConfigError("subject 1: the targets have shape [16, 2, 8], but the model predicts [16, 2, 6] "
            + "(model.clip_seq_dim x model.clip_emb_dim); set those to the targets' shape")) { try trainer.run() }
    }
}
