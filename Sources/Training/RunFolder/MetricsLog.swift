import Foundation
import Torch

/// Appends one JSON object per line (`metrics.jsonl`): the record of a run that plots and resumes read.
/// Rows are typed and timestamped: `"type": "step"` (step, epoch, loss, lr, subject, the family's extras)
/// or `"type": "epoch"` (step, epoch, mean_loss, epoch_seconds and the evaluation's scores); `time` is
/// seconds since 1970. `epoch` is 0-based in both.
public final class MetricsLog {
    public let url: URL
    let handle: FileHandle

    public init(url: URL) throws {
        self.url = url
        if !FileManager.default.fileExists(atPath: url.path) {
            _ = FileManager.default.createFile(atPath: url.path, contents: nil)  // a failure shows just below
        }
        guard let h = FileHandle(forWritingAtPath: url.path) else {
            throw ConfigError("\(url.path): cannot open the metrics file for writing")
        }
        _ = try? h.seekToEnd()
        handle = h
    }
    deinit { try? handle.close() }

    /// Appends one record; throws when the write fails (a full disk), leaving the earlier records intact.
    public func append(_ record: [String: MetricValue]) throws {
        let body = record.keys.sorted().map { "\"\($0)\": \(record[$0]!.json)" }.joined(separator: ", ")
        do {
            try handle.write(contentsOf: Data(("{" + body + "}\n").utf8))
        } catch {
            throw ConfigError("\(url.path): cannot append to the metrics file: \(Self.reason(error))")
        }
    }

    /// The metrics.jsonl row of an event; nil for events that have none (progress, checkpoints).
    public static func row(_ event: TrainingEvent) -> [String: MetricValue]? {
        switch event {
        case .step(let r):
            var row: [String: MetricValue] = ["type": "step", "time": .number(r.time.timeIntervalSince1970),
                                              "step": .integer(r.step), "epoch": .integer(r.epoch),
                                              "loss": .number(r.loss), "lr": .number(r.lr), "subject": .integer(r.subject)]
            for (k, v) in r.extras { row[k] = .number(v) }
            return row
        case .epoch(let r):
            var row: [String: MetricValue] = ["type": "epoch", "time": .number(r.time.timeIntervalSince1970),
                                              "step": .integer(r.step), "epoch": .integer(r.epoch),
                                              "mean_loss": .number(r.meanLoss), "epoch_seconds": .number(r.seconds)]
            for (k, v) in r.evaluation { row[k] = .number(v) }
            return row
        default:
            return nil
        }
    }

    /// The system's words for a write failure ("No space left on device"), not Foundation's paraphrase.
    static func reason(_ error: Error) -> String {
        let e = error as NSError
        if e.domain == NSPOSIXErrorDomain { return String(cString: strerror(Int32(e.code))) }
        if let underlying = e.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
            return String(cString: strerror(Int32(underlying.code)))
        }
        if e.domain == NSCocoaErrorDomain && e.code == CocoaError.fileWriteOutOfSpace.rawValue { return String(cString: strerror(ENOSPC)) }
        return e.localizedDescription
    }

    /// Every record of a metrics file, for plots (numbers only; strings are skipped).
    public static func read(_ url: URL) -> [[String: Double]] {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return obj.compactMapValues { ($0 as? NSNumber)?.doubleValue }
        }
    }

    /// Keeps only the records written before `step` (a resumed run rewrites what followed its checkpoint).
    public static func truncate(_ url: URL, beforeStep step: Int) throws {
        guard let text = try? String(contentsOf: url, encoding: .utf8) else { return }
        let kept = text.split(separator: "\n").filter { line in
            guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                  let s = (obj["step"] as? NSNumber)?.intValue else { return true }
            return s <= step
        }
        try (kept.joined(separator: "\n") + (kept.isEmpty ? "" : "\n")).write(to: url, atomically: true, encoding: .utf8)
    }
}

public enum MetricValue: Sendable, ExpressibleByFloatLiteral, ExpressibleByIntegerLiteral, ExpressibleByStringLiteral {
    case number(Double), integer(Int), text(String)
    public init(floatLiteral v: Double) { self = .number(v) }
    public init(integerLiteral v: Int) { self = .integer(v) }
    public init(stringLiteral v: String) { self = .text(v) }
    var json: String {
        switch self {
        case .number(let v): v.isFinite ? String(v) : "null"
        case .integer(let v): String(v)
        case .text(let s): "\"" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
        }
    }
}
