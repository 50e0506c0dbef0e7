import Foundation
import Training

/// The console's view of a training run, fed by the trainer's events: on a terminal, a redrawn line with
/// the epoch's bar, the whole run's percentage, a smoothed loss, elapsed time and the whole run's ETA,
/// and a bar while evaluating; when piped, a plain line at most every 10 seconds. Either way one summary
/// line per epoch on standard output. Every line is flushed as it is written, piped or not.
final class ConsoleProgress: TrainingLogger {
    let interactive: Bool
    /// Weight of the loss's exponential moving average (the curves' smoothing too).
    let smoothing = 0.9
    var plan: TrainingPlan?
    var started = Date()
    var lastDraw = Date.distantPast
    var smoothed: Double?
    var evaluation: EvaluationProgressPrinter

    init(interactive: Bool = isatty(STDERR_FILENO) != 0) {
        self.interactive = interactive
        evaluation = EvaluationProgressPrinter(label: "evaluating", interactive: interactive)
    }

    func record(_ event: TrainingEvent) throws {
        switch event {
        case .started(let p):
            plan = p
            started = Date()
            if !interactive { lastDraw = started }  // a log's first progress line comes after 10 s
        case .epochStarted:
            smoothed = nil
        case .phaseSwitch(let epoch, _, let from, let to):
            clear()
            out("epoch \(epoch + 1): \(from) → \(to)\n")
        case .step(let r):
            smoothed = smoothed.map { smoothing * $0 + (1 - smoothing) * r.loss } ?? r.loss
            draw(r)
        case .evaluating(_, let p):
            evaluation.update(p)
        case .epoch(let r):
            evaluation.finish()
            clear()
            var line = String(format: "epoch %d/%d  loss %.4f", r.epoch + 1, r.epochs, r.meanLoss)
            if let image = r.evaluation["image_retrieval"], let brain = r.evaluation["brain_retrieval"] {
                line += String(format: "  image %.3f  brain %.3f", image, brain)
            }
            out(line + String(format: "  %.1fs  (run %@ elapsed)\n", r.seconds, Self.clock(Date().timeIntervalSince(started))))
        case .checkpoint:
            break
        case .stoppedEarly(let step):
            clear()
            out("stopped after step \(step) (train.max_steps)\n")
        case .profiled(let trace, let summary, _):
            clear()
            out("profile: \(trace.relativePath) (top ops in \(summary.lastPathComponent))\n")
        }
    }

    func draw(_ r: StepRecord) {
        let now = Date()
        let throttle = interactive ? 0.1 : 10
        guard r.stepInEpoch == r.stepsInEpoch || now.timeIntervalSince(lastDraw) >= throttle else { return }
        lastDraw = now
        guard let plan else { return }
        let elapsed = now.timeIntervalSince(started)
        let done = r.step - plan.startStep, total = max(plan.totalSteps - plan.startStep, 1)
        let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
        let width = 24
        let filled = r.stepsInEpoch > 0 ? width * r.stepInEpoch / r.stepsInEpoch : width
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let line = String(format: "epoch %d/%d %@ %d/%d  run %.0f%%  loss %.4f  lr %.2e  %@ elapsed  ETA %@",
                          r.epoch + 1, plan.epochs, bar, r.stepInEpoch, r.stepsInEpoch,
                          100 * Double(r.step) / Double(max(plan.epochs * plan.stepsPerEpoch, 1)), smoothed ?? r.loss,
                          r.lr, Self.clock(elapsed), Self.clock(eta))
        if interactive { err("\r\u{1B}[K" + line) } else { err(line + "\n") }
    }

    /// Ends a redrawn line before a summary.
    func clear() { if interactive { err("\r\u{1B}[K") } }

    func out(_ s: String) {
        print(s, terminator: "")
        fflush(nil)  // piped output is block-buffered; a log must show each epoch as it ends
    }
    func err(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
            : String(format: "%d:%02d", s / 60, s % 60)
    }
}
