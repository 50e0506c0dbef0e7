import Foundation
import Testing
import Torch
@testable import Training
@testable import VoxelFormer

/// `train.profile`: a few steps recorded by libtorch's profiler, two files in the run folder, and training
/// that goes on unchanged. Counts are the steps the config asks for; nothing is timed.
@Suite(.serialized) struct StepProfilerTests {
    /// tinyConfig's 3 epochs of 8 steps (2 subjects x 64 trials / 16).
    static func config(profileSteps: Int, maxSteps: Int) -> VoxelFormerConfig {
        var config = tinyConfig(epochs: 3)
        config.train.profile = true
        config.train.profileSteps = profileSteps
        config.train.maxSteps = maxSteps
        return config
    }

    @Test func profilingWritesTheTraceAndTheTableAndLeavesTheLossesAsTheyWere() throws {
        let dir = temporaryDirectory()
        let trainer = try Trainer(config: Self.config(profileSteps: 2, maxSteps: 5), data: InMemoryData(), runDir: dir)
        let logger = RecordingLogger()
        trainer.loggers = [logger]
        var losses: [Double] = []
        trainer.onStep = { losses.append($1) }
        try trainer.run()

        var plain = Self.config(profileSteps: 2, maxSteps: 5)
        plain.train.profile = false
        let reference = try Trainer(config: plain, data: InMemoryData(), runDir: temporaryDirectory())
        var referenceLosses: [Double] = []
        reference.onStep = { referenceLosses.append($1) }
        try reference.run()
        #expect(losses.count == 5 && losses == referenceLosses)

        // After step 1 (the warm-up), steps 2 and 3 are recorded; the event follows step 3's.
        let order = logger.events.compactMap { event -> String? in
            switch event {
            case .step(let r): "step \(r.step)"
            case .profiled(let trace, let summary, let steps): "profiled \(steps) \(trace.lastPathComponent) \(summary.lastPathComponent)"
            default: nil
            }
        }
        #expect(order == ["step 1", "step 2", "step 3", "profiled 2 profile.json profile.md", "step 4", "step 5"])
        #expect(!Profiler.isRecording)

        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("profile.json")))
        let traceEvents = try #require((json as? [String: Any])?["traceEvents"] as? [[String: Any]])
        for range in ["training_step", "forward_and_loss", "backward", "clip_and_optimizer_step"] {
            #expect(traceEvents.filter { $0["name"] as? String == range }.count == 2, "\(range)")
        }
        let table = try String(contentsOf: dir.appendingPathComponent("profile.md"), encoding: .utf8)
        #expect(table.hasPrefix("# Profile of training steps 2-3\n"))
        #expect(table.contains("## Top 10 operators by self CPU time"))
        // The by-total table starts with the step range: every operator of the step runs inside it.
        let totals = try #require(table.components(separatedBy: "## Top 10 by total CPU time").last)
        let firstRow = totals.split(separator: "\n").first { $0.hasPrefix("| ") && !$0.hasPrefix("| Name") }
        #expect(firstRow?.hasPrefix("| training_step |") == true && firstRow?.hasSuffix("| 2 |") == true, "\(firstRow ?? "")")
    }

    @Test func anEpochEndStopsTheRecordingBeforeTheEvaluation() throws {
        let dir = temporaryDirectory()
        let trainer = try Trainer(config: Self.config(profileSteps: 100, maxSteps: 10), data: InMemoryData(), runDir: dir)
        let logger = RecordingLogger()
        trainer.loggers = [logger]
        try trainer.run()
        let order = logger.events.compactMap { event -> String? in
            switch event {
            case .profiled(_, _, let steps): "profiled \(steps)"
            case .epoch(let r): "epoch \(r.epoch)"
            default: nil
            }
        }
        // Steps 2-8 of the first epoch, written before the epoch's record (and its evaluation, when due).
        #expect(order == ["profiled 7", "epoch 0"])
        let table = try String(contentsOf: dir.appendingPathComponent("profile.md"), encoding: .utf8)
        #expect(table.hasPrefix("# Profile of training steps 2-8\n"))
    }

    @Test func aProfileThatCannotBeWrittenStopsTheRunAfterSavingTheState() throws {
        let dir = temporaryDirectory()
        // A folder where the trace should go: Kineto cannot write it, and it must not be removed.
        let blocker = dir.appendingPathComponent("profile.json")
        try FileManager.default.createDirectory(at: blocker, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: blocker.appendingPathComponent("notes.txt"))
        let trainer = try Trainer(config: Self.config(profileSteps: 1, maxSteps: 5), data: InMemoryData(), runDir: dir)
        #expect(throws: TrainingStop.loggerFailed(
            reason: "writing the profile \(blocker.path): libtorch could not create the file",
            step: 2, checkpoint: trainer.checkpointURL, saved: true)) { try trainer.run() }
        #expect(FileManager.default.fileExists(atPath: trainer.checkpointURL.path))
        #expect(FileManager.default.fileExists(atPath: blocker.appendingPathComponent("notes.txt").path))
        #expect(!Profiler.isRecording)
    }

    @Test func theOptionsAreReadFromOverridesAndChecked() throws {
        let config = try VoxelFormerConfig.load(path: nil, overrides: ["train.profile=true", "train.profile_steps=4"])
        #expect(config.train.profile && config.train.profileSteps == 4)
        #expect(!VoxelFormerConfig().train.profile && VoxelFormerConfig().train.profileSteps == 3)
        #expect(throws: ConfigError("train.profile_steps: must be between 1 and 100, got 0")) {
            try VoxelFormerConfig.load(path: nil, overrides: ["train.profile_steps=0"])
        }
        // A diagnostic, not part of the run: a resume may turn it on.
        var profiled = VoxelFormerConfig()
        profiled.train.profile = true
        try profiled.checkResumable(from: VoxelFormerConfig(), source: "run/ck")
    }
}
