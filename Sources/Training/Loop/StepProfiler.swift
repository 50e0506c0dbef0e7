import Foundation
import Torch

/// `train.profile`: records `train.profile_steps` training steps with libtorch's profiler after one warm-up
/// step (the first step pays for allocations and lazy initialisation), then writes `profile.json` (the
/// Chrome trace) and `profile.md` (the top operators) into the run folder. Recording stops early at the
/// end of an epoch or of the run, so an evaluation is never part of the profile.
struct StepProfiler {
    static let range = "training_step"
    let first: Int
    let last: Int
    let warmUp: Bool
    let trace: URL
    let summary: URL
    private(set) var recording = false
    private(set) var done = false

    /// nil unless `train.profile`; `startStep` is the step the process starts after and `plannedSteps`
    /// how many it will take at most.
    init?(train: TrainConfig, startStep: Int, plannedSteps: Int, runDir: URL) {
        guard train.profile, plannedSteps > 0 else { return nil }
        warmUp = plannedSteps > 1
        first = startStep + (warmUp ? 1 : 0)
        last = first + train.profileSteps
        trace = runDir.appendingPathComponent("profile.json")
        summary = runDir.appendingPathComponent("profile.md")
    }

    /// Call with the steps done so far, before the next step.
    mutating func beforeStep(_ step: Int) throws {
        guard !done, !recording, step == first else { return }
        try Profiler.start(recordShapes: true, allThreads: true)
        recording = true
    }

    /// Call with the steps done after a step; returns the event to report once the files are written.
    mutating func afterStep(_ step: Int) throws -> TrainingEvent? {
        recording && step >= last ? try finish(step) : nil
    }

    /// Stops a recording in progress (an epoch or the run ended first) and writes the files.
    mutating func finish(_ step: Int) throws -> TrainingEvent? {
        guard recording else { return nil }
        recording = false
        done = true
        let result = try Profiler.stop(trace: trace)
        let steps = step - first
        try report(result, steps: steps).write(to: summary, atomically: true, encoding: .utf8)
        return .profiled(trace: trace, summary: summary, steps: steps)
    }

    /// Stops a recording without writing anything (the run failed or was interrupted).
    mutating func cancel() {
        guard recording else { return }
        recording = false
        _ = try? Profiler.stop()
    }

    func report(_ s: ProfileSummary, steps: Int) -> String {
        let stepRow = s.row(Self.range)
        var text = """
            # Profile of training steps \(first + 1)-\(first + steps)

            \(steps) training step\(steps == 1 ? "" : "s")\(warmUp ? " after a warm-up step" : ""), recorded by \
            libtorch's profiler (Kineto) on every thread, the batch prefetcher's included.
            The trace is \(trace.lastPathComponent): open it in https://ui.perfetto.dev or chrome://tracing.

            """
        if let stepRow {
            text += String(format: "Mean step (`%@`): %.1f ms, the profiler's overhead included.\n",
                           Self.range, stepRow.totalMs / Double(max(stepRow.count, 1)))
        }
        text += "\n## Top 10 operators by self CPU time\n\n" + s.table(sortedBy: .selfTime, limit: 10)
        text += "\n## Top 10 by total CPU time\n\n" + s.table(sortedBy: .totalTime, limit: 10)
        let device = s.deviceTable(limit: 10)
        if !device.isEmpty { text += "\n## Top 10 device kernels\n\n" + device }
        return text
    }
}

extension Trainer {
    /// After a step (or, with `ending`, after an epoch's last one): ends the recording when it is due and
    /// reports it. A profile that cannot be written stops the run as a failing logger does, state saved.
    func finishProfile(_ profiler: inout StepProfiler?, ending: Bool, log: MetricsLog?) throws {
        guard var p = profiler else { return }
        defer { profiler = p }
        let event: TrainingEvent?
        do {
            event = ending ? try p.finish(step) : try p.afterStep(step)
        } catch {
            let saved = (try? saveCheckpoint()) != nil
            // a TorchError names the trace; anything else came from writing the table
            let reason = error is TorchError ? "\(error)" : "writing \(p.summary.path): \(error)"
            throw TrainingStop.loggerFailed(reason: reason, step: step, checkpoint: checkpointURL, saved: saved)
        }
        if let event { try emit(event, log) }
    }
}
