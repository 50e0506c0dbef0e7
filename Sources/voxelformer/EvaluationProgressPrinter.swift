import Foundation
import Training
import VoxelFormer

/// Shows an evaluation's progress on standard error: a redrawn bar on a terminal, otherwise one line per
/// finished stage and at most one line every 10 seconds in between (so logs stay short).
final class EvaluationProgressPrinter {
    let interactive: Bool
    let label: String
    var lastLine = Date.distantPast

    init(label: String = "evaluating", interactive: Bool = isatty(STDERR_FILENO) != 0) {
        self.label = label
        self.interactive = interactive
    }

    func update(_ p: EvaluationProgress) {
        let now = Date()
        let finished = p.done >= p.total
        let text = "\(label) subject \(p.subject) (\(p.subjectIndex + 1)/\(p.subjectCount)): \(p.stage)"
        if interactive {
            guard finished || now.timeIntervalSince(lastLine) >= 0.1 else { return }
            lastLine = now
            let width = 24, filled = p.total > 0 ? width * min(p.done, p.total) / p.total : width
            let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
            write("\r\u{1B}[K\(text) \(bar) \(p.done)/\(p.total)")
        } else {
            guard (finished && p.done > 0) || now.timeIntervalSince(lastLine) >= 10 else { return }
            lastLine = now
            write("\(text) \(p.done)/\(p.total)\n")
        }
    }

    /// Clears the bar's line before the report is printed.
    func finish() {
        if interactive { write("\r\u{1B}[K") }
    }

    private func write(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }
}
