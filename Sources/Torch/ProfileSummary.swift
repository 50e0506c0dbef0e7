import Foundation

/// A profile's events added up by name, as `torch.profiler`'s `key_averages()` does: per name, the number
/// of calls, the total time (the events' durations) and the self time (the durations less those of the
/// events nested directly inside them on the same thread).
public struct ProfileSummary: Sendable {
    public struct Row: Equatable, Sendable {
        public var name: String
        public var count: Int
        public var totalNs: Int64
        public var selfNs: Int64
        public var totalMs: Double { Double(totalNs) / 1e6 }
        public var selfMs: Double { Double(selfNs) / 1e6 }
    }

    public enum SortKey: Sendable { case selfTime, totalTime }

    /// Every recorded event, in libtorch's order.
    public let events: [ProfileEvent]
    /// CPU operators and ranges by name, the most self time first.
    public let rows: [Row]
    /// Device kernels and copies by name (self equals total), the most time first; empty on a CPU.
    public let deviceRows: [Row]
    /// The sum of every CPU row's self time (torch's "Self CPU time total"): the time the recorded threads
    /// spent inside some operator. The percentages are shares of it.
    public let selfTotalNs: Int64

    public init(events: [ProfileEvent]) {
        self.events = events
        let cpu = events.filter { $0.onCPU && !$0.isAsync }
        let selfTimes = Self.selfTimes(cpu)
        var byName: [String: Row] = [:]
        for (e, selfNs) in zip(cpu, selfTimes) {
            byName[e.name, default: Row(name: e.name, count: 0, totalNs: 0, selfNs: 0)].add(e.durationNs, selfNs)
        }
        rows = byName.values.sorted(by: Self.order(.selfTime))
        var device: [String: Row] = [:]
        for e in events where !e.onCPU {
            device[e.name, default: Row(name: e.name, count: 0, totalNs: 0, selfNs: 0)].add(e.durationNs, e.durationNs)
        }
        deviceRows = device.values.sorted(by: Self.order(.totalTime))
        selfTotalNs = rows.reduce(0) { $0 + $1.selfNs }
    }

    /// The row of the operator or range called `name`.
    public func row(_ name: String) -> Row? { rows.first { $0.name == name } }

    /// The `n` CPU rows with the most self (or total) time.
    public func top(_ n: Int, by key: SortKey = .selfTime) -> [Row] {
        Array(rows.sorted(by: Self.order(key)).prefix(n))
    }

    /// A markdown table of the top `limit` rows, with the columns of
    /// `key_averages().table(sort_by="self_cpu_time_total", row_limit=10)`, and its footer.
    public func table(sortedBy key: SortKey = .selfTime, limit: Int = 10) -> String {
        var lines = [
            "| Name | Self CPU % | Self CPU (ms) | CPU total % | CPU total (ms) | CPU avg (ms) | Calls |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for r in top(limit, by: key) {
            lines.append("| \(Self.escape(r.name)) | \(percent(r.selfNs)) | \(Self.ms(r.selfNs)) | \(percent(r.totalNs)) | "
                + "\(Self.ms(r.totalNs)) | \(Self.ms(r.totalNs / Int64(max(r.count, 1)))) | \(r.count) |")
        }
        lines.append("")
        lines.append("Self CPU time total: \(Self.ms(selfTotalNs)) ms")
        return lines.joined(separator: "\n") + "\n"
    }

    /// A markdown table of the device rows (GPU kernels), the most time first; empty without any.
    public func deviceTable(limit: Int = 10) -> String {
        guard !deviceRows.isEmpty else { return "" }
        var lines = ["| Kernel | Device total (ms) | Device avg (ms) | Calls |", "|---|---:|---:|---:|"]
        for r in deviceRows.prefix(limit) {
            lines.append("| \(Self.escape(r.name)) | \(Self.ms(r.totalNs)) | \(Self.ms(r.totalNs / Int64(max(r.count, 1)))) | \(r.count) |")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Self time of each event: its duration less the durations of its direct children, found per thread
    /// as torch does (`_populate_cpu_children`): in start order (longer first on ties), an event is a child
    /// of the innermost open event that contains it entirely.
    static func selfTimes(_ events: [ProfileEvent]) -> [Int64] {
        var selfNs = events.map(\.durationNs)
        let byThread = Dictionary(grouping: events.indices, by: { events[$0].thread })
        for (_, indices) in byThread {
            let ordered = indices.sorted {
                let a = events[$0], b = events[$1]
                return a.startNs != b.startNs ? a.startNs < b.startNs : a.endNs > b.endNs
            }
            var open: [Int] = []
            for i in ordered {
                let e = events[i]
                while let parent = open.last, e.startNs >= events[parent].endNs || e.endNs > events[parent].endNs {
                    open.removeLast()
                }
                if let parent = open.last { selfNs[parent] -= e.durationNs }
                open.append(i)
            }
        }
        return selfNs
    }

    static func order(_ key: SortKey) -> (Row, Row) -> Bool {
        { a, b in
            let (x, y) = key == .selfTime ? (a.selfNs, b.selfNs) : (a.totalNs, b.totalNs)
            return x != y ? x > y : a.name < b.name
        }
    }

    func percent(_ ns: Int64) -> String {
        selfTotalNs > 0 ? String(format: "%.1f%%", 100 * Double(ns) / Double(selfTotalNs)) : "-"
    }
    static func ms(_ ns: Int64) -> String { String(format: "%.3f", Double(ns) / 1e6) }
    static func escape(_ name: String) -> String { name.replacingOccurrences(of: "|", with: "\\|") }
}

extension ProfileSummary.Row {
    mutating func add(_ totalNs: Int64, _ selfNs: Int64) {
        count += 1
        self.totalNs += totalNs
        self.selfNs += selfNs
    }
}
