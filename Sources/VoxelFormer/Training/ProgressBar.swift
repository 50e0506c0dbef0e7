import Foundation

/// A one-line progress bar with ETA, loss, learning rate and throughput. It draws only when standard
/// error is a terminal; otherwise `finishEpoch` prints one plain summary line per epoch.
public final class ProgressBar {
    let total: Int
    let label: String
    let interactive: Bool
    let start = Date()
    var lastDraw = Date.distantPast

    public init(total: Int, label: String, interactive: Bool = isatty(STDERR_FILENO) != 0) {
        self.total = total
        self.label = label
        self.interactive = interactive
    }

    /// `done` steps of `total`; `samples` processed so far in this bar.
    public func update(done: Int, loss: Double, lr: Double, samples: Int) {
        guard interactive else { return }
        let now = Date()
        if done < total && now.timeIntervalSince(lastDraw) < 0.1 { return }
        lastDraw = now
        let elapsed = now.timeIntervalSince(start)
        let eta = done > 0 ? elapsed / Double(done) * Double(total - done) : 0
        let width = 24
        let filled = total > 0 ? width * done / total : width
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let line = String(format: "%@ %@ %d/%d  loss %.4f  lr %.2e  %.1f samples/s  ETA %@",
                          label, bar, done, total, loss, lr, Double(samples) / max(elapsed, 1e-9),
                          ProgressBar.clock(eta))
        FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
    }

    /// Ends the bar's line (terminal) or prints the summary (non-terminal).
    public func finish(summary: String) {
        if interactive { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
        print(summary)
        fflush(nil)
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
            : String(format: "%d:%02d", s / 60, s % 60)
    }
}
