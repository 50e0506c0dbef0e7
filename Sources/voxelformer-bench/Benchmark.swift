import Foundation

/// One line of the results table: `value` `unit` of `metric`, measured by the benchmark `name`.
struct BenchmarkRow: Encodable {
    let name: String
    let metric: String
    let value: Double
    let unit: String
    /// The same quantity measured elsewhere (the reference PyTorch), in `unit`; shown in a "reference" column.
    var reference: Double? = nil
}

/// A named measurement that produces rows. Add one by appending to `Benchmark.all` (see main.swift).
struct Benchmark {
    let name: String
    let summary: String
    let run: () -> [BenchmarkRow]
}

/// The rows as a markdown table.
func markdownTable(_ rows: [BenchmarkRow]) -> String {
    let withReference = rows.contains { $0.reference != nil }
    let header = ["benchmark", "metric", "value", "unit"] + (withReference ? ["reference"] : [])
    let cells = rows.map {
        [$0.name, $0.metric, formatValue($0.value), $0.unit] + (withReference ? [$0.reference.map(formatValue) ?? ""] : [])
    }
    let widths = header.indices.map { i in ([header[i]] + cells.map { $0[i] }).map(\.count).max()! }
    let numeric: Set<Int> = withReference ? [2, 4] : [2]
    func line(_ items: [String], rightAligned: Set<Int>) -> String {
        let padded = items.enumerated().map { i, s in
            let pad = String(repeating: " ", count: widths[i] - s.count)
            return rightAligned.contains(i) ? pad + s : s + pad
        }
        return "| " + padded.joined(separator: " | ") + " |"
    }
    let rule = "|" + widths.enumerated().map { i, w in
        numeric.contains(i) ? " " + String(repeating: "-", count: w - 1) + ": " : " " + String(repeating: "-", count: w) + " "
    }.joined(separator: "|") + "|"
    return ([line(header, rightAligned: []), rule] + cells.map { line($0, rightAligned: numeric) }).joined(separator: "\n")
}

/// Below 1 in magnitude, three significant digits (0.0123 images/s).
private func formatValue(_ v: Double) -> String {
    abs(v) >= 100 ? String(format: "%.0f", v) : abs(v) >= 1 || v == 0 ? String(format: "%.1f", v) : String(format: "%.3g", v)
}

/// Monotonic nanoseconds.
@inline(__always)
func nanoseconds() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Nanoseconds per call of each body, one value per sample. Every sample times `batch` back-to-back calls of
/// each body in turn (the order alternating between samples), so slow drifts of a shared machine hit all
/// bodies alike; the first `warmup` samples are discarded.
func interleavedTimings(samples: Int, batch: Int, warmup: Int, _ bodies: [() -> Void]) -> [[Double]] {
    var times = [[Double]](repeating: [], count: bodies.count)
    for sample in 0..<(warmup + samples) {
        let order = sample % 2 == 0 ? Array(bodies.indices) : bodies.indices.reversed()
        for b in order {
            let body = bodies[b]
            let start = nanoseconds()
            for _ in 0..<batch { body() }
            let elapsed = Double(nanoseconds() - start) / Double(batch)
            if sample >= warmup { times[b].append(elapsed) }
        }
    }
    return times
}

func median(_ values: [Double]) -> Double {
    let s = values.sorted()
    precondition(!s.isEmpty, "median of no values")
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

/// The median absolute deviation from the median: the spread that a difference of medians must clear.
func medianAbsoluteDeviation(_ values: [Double]) -> Double {
    let m = median(values)
    return median(values.map { abs($0 - m) })
}
