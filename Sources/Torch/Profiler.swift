import CTorch
import Foundation

/// libtorch's profiler (Kineto), driven the way `torch.profiler.profile` drives it: every operator that
/// runs between `start` and `stop` is recorded with its thread and times, and `stop` can write the Chrome
/// trace (open it in chrome://tracing or https://ui.perfetto.dev).
///
///     let summary = try Profiler.record(trace: url) { _ = (a.matmul(b) + c).sum() }
///     print(summary.table(sortedBy: .selfTime, limit: 10))
public enum Profiler {
    /// Starts recording CPU operators, and CUDA kernels when libtorch's CUDA libraries are loaded.
    /// - Parameters:
    ///   - recordShapes: keep the input shapes of every operator (shown in the trace's event arguments).
    ///   - allThreads: also record operators run on threads other than the caller's (a prefetch thread).
    /// Fails with libtorch's message when a profiler is already running.
    public static func start(recordShapes: Bool = true, allThreads: Bool = true) throws {
        var cuda: Int32 = 0
        if ct_profiler_start(recordShapes ? 1 : 0, allThreads ? 1 : 0, &cuda) != 0 {
            throw TorchError(String(cString: ct_last_error()))
        }
    }

    /// Stops recording (on the thread that started it), writes the Chrome trace to `trace` when given,
    /// and returns what was recorded.
    public static func stop(trace: URL? = nil) throws -> ProfileSummary {
        // An older file would hide a failed write (Kineto logs a file it cannot open rather than failing).
        if let trace, (try? FileManager.default.attributesOfItem(atPath: trace.path)[.type] as? FileAttributeType) == .typeRegular {
            try? FileManager.default.removeItem(at: trace)
        }
        var handle: ct_profile?
        let status = trace.map { ct_profiler_stop($0.path, &handle) } ?? ct_profiler_stop(nil, &handle)
        guard status == 0, let handle else {
            let message = String(cString: ct_last_error())
            throw TorchError(trace.map { "writing the profile \($0.path): \(message)" } ?? "stopping the profiler: \(message)")
        }
        defer { ct_profile_free(handle) }
        if let trace, (try? FileManager.default.attributesOfItem(atPath: trace.path)[.type] as? FileAttributeType) != .typeRegular {
            throw TorchError("writing the profile \(trace.path): libtorch could not create the file")
        }
        var pointer: UnsafePointer<ct_profile_event>?
        var count: Int64 = 0
        if ct_profile_events(handle, &pointer, &count) != 0 { throw TorchError(String(cString: ct_last_error())) }
        let events = (0..<Int(count)).map { i in
            let e = pointer![i]
            return ProfileEvent(name: String(cString: e.name), thread: e.thread, startNs: e.start_ns,
                                durationNs: e.duration_ns, onCPU: e.device_type == 0, isAsync: e.is_async != 0)
        }
        return ProfileSummary(events: events)
    }

    /// Profiles `body`; the profiler is stopped (and nothing written) when `body` throws.
    public static func record(trace: URL? = nil, recordShapes: Bool = true, allThreads: Bool = true,
                              _ body: () throws -> Void) throws -> ProfileSummary
    {
        try start(recordShapes: recordShapes, allThreads: allThreads)
        do {
            try body()
        } catch {
            _ = try? stop()
            throw error
        }
        return try stop(trace: trace)
    }

    /// Whether a profiler is recording.
    public static var isRecording: Bool { ct_profiler_enabled() != 0 }

    /// Runs `body` inside a named range (`torch.profiler.record_function`), which the trace shows as one
    /// bar around the operators it ran and the summary counts like an operator. Free when not recording.
    public static func range<R>(_ name: String, _ body: () throws -> R) rethrows -> R {
        guard isRecording else { return try body() }
        var handle: ct_range?
        check(ct_record_range_enter(name, &handle))
        defer { if let handle { check(ct_record_range_exit(handle)) } }
        return try body()
    }
}

/// One recorded event: an operator (`aten::mm`), a named range, or a kernel on a device.
public struct ProfileEvent: Equatable, Sendable {
    public var name: String
    public var thread: UInt64
    public var startNs: Int64
    public var durationNs: Int64
    /// False for GPU kernels and copies, which run on a device rather than a CPU thread.
    public var onCPU: Bool
    public var isAsync: Bool
    public var endNs: Int64 { startNs + durationNs }

    public init(name: String, thread: UInt64, startNs: Int64, durationNs: Int64, onCPU: Bool = true, isAsync: Bool = false) {
        self.name = name
        self.thread = thread
        self.startNs = startNs
        self.durationNs = durationNs
        self.onCPU = onCPU
        self.isAsync = isAsync
    }
}
