import Foundation

/// Why a `TensorBoardWriter` could not do what it was asked; each case names the file or directory.
public enum TensorBoardError: Error, Equatable, CustomStringConvertible {
    case cannotCreateDirectory(path: String, reason: String)
    case invalidFileSuffix(String)
    case fileExists(path: String)
    case cannotWrite(path: String, reason: String)
    case closed(path: String)
    case emptyTag(path: String)
    case invalidWallTime(path: String, wallTime: Double)

    public var description: String {
        switch self {
        case .cannotCreateDirectory(let path, let reason):
            return "TensorBoard: cannot create the log directory \(path): \(reason)"
        case .invalidFileSuffix(let suffix):
            return "TensorBoard: the file suffix \"\(suffix)\" contains a \"/\"; expected a plain file-name suffix"
        case .fileExists(let path):
            return "TensorBoard: \(path) already exists; expected a new event file (pass another fileSuffix)"
        case .cannotWrite(let path, let reason):
            return "TensorBoard: cannot write \(path): \(reason)"
        case .closed(let path):
            return "TensorBoard: \(path) is closed; expected a write before close()"
        case .emptyTag(let path):
            return "TensorBoard: a scalar for \(path) has an empty tag; expected a name such as \"loss/train\""
        case .invalidWallTime(let path, let wallTime):
            return "TensorBoard: wall time \(wallTime) for \(path) is not a finite number of seconds since 1970"
        }
    }
}

/// Writes scalars to one TensorBoard event file, `events.out.tfevents.<unix-seconds>.<hostname><suffix>` in
/// `directory`: TFRecords of serialized `tensorflow.Event`s, the first with `file_version` "brain.Event:2".
/// Events are buffered in memory and reach the file on `flush()`, `close()`, or when 1 MiB is pending.
/// Safe to use from several threads.
public final class TensorBoardWriter: @unchecked Sendable {
    /// The event file this writer appends to.
    public let fileURL: URL
    private let clock: @Sendable () -> Double
    private let lock = NSLock()
    private var handle: FileHandle?
    private var pending: [UInt8] = []
    private static let autoFlushBytes = 1 << 20

    /// - Parameter clock: seconds since 1970 for the file name, the `file_version` event, and scalars given no
    ///   wall time (tests pass a fixed one).
    public init(
        directory: URL, fileSuffix: String = "",
        clock: @escaping @Sendable () -> Double = { Date().timeIntervalSince1970 }
    ) throws {
        guard !fileSuffix.contains("/") else { throw TensorBoardError.invalidFileSuffix(fileSuffix) }
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw TensorBoardError.cannotCreateDirectory(path: directory.path, reason: Self.reason(error))
        }
        let now = clock()
        guard now.isFinite, now >= 0, now < 1e15 else {
            throw TensorBoardError.invalidWallTime(path: directory.path, wallTime: now)
        }
        // TensorFlow's name: zero-padded to 10 digits, so that files sort by creation time.
        let seconds = String(Int64(now.rounded(.down)))
        let padded = String(repeating: "0", count: max(0, 10 - seconds.count)) + seconds
        let name = "events.out.tfevents.\(padded).\(ProcessInfo.processInfo.hostName)\(fileSuffix)"
        fileURL = directory.appendingPathComponent(name)
        self.clock = clock

        let record = tfRecord(EventEncoding.event(wallTime: now, step: 0, .fileVersion("brain.Event:2")))
        // An existing file (another writer in the same second) is never clobbered; .withoutOverwriting (O_EXCL)
        // also covers one made between this check and the write.
        guard !FileManager.default.fileExists(atPath: fileURL.path) else {
            throw TensorBoardError.fileExists(path: fileURL.path)
        }
        do {
            try Data(record).write(to: fileURL, options: .withoutOverwriting)
            let handle = try FileHandle(forWritingTo: fileURL)
            try handle.seekToEnd()
            self.handle = handle
        } catch CocoaError.fileWriteFileExists {
            throw TensorBoardError.fileExists(path: fileURL.path)
        } catch {
            throw TensorBoardError.cannotWrite(path: fileURL.path, reason: Self.reason(error))
        }
    }

    deinit {
        // Best effort for a writer dropped without close(); close() reports errors, deinit cannot.
        try? close()
    }

    /// Appends one scalar summary event. `value` is stored as a 32-bit float (TensorBoard's `simple_value`).
    public func addScalar(tag: String, value: Double, step: Int, wallTime: Double? = nil) throws {
        guard !tag.isEmpty else { throw TensorBoardError.emptyTag(path: fileURL.path) }
        let time = wallTime ?? clock()
        guard time.isFinite else { throw TensorBoardError.invalidWallTime(path: fileURL.path, wallTime: time) }
        let record = tfRecord(EventEncoding.event(wallTime: time, step: Int64(step), .scalars([(tag, Float(value))])))
        try lock.withLock {
            guard handle != nil else { throw TensorBoardError.closed(path: fileURL.path) }
            pending += record
            if pending.count >= Self.autoFlushBytes { try writePending() }
        }
    }

    /// Writes the buffered events to the file.
    public func flush() throws {
        try lock.withLock {
            guard handle != nil else { throw TensorBoardError.closed(path: fileURL.path) }
            try writePending()
        }
    }

    /// Flushes and closes the file; later writes throw `TensorBoardError.closed`. Closing twice does nothing.
    public func close() throws {
        try lock.withLock {
            guard let handle else { return }
            try writePending()
            self.handle = nil
            do { try handle.close() } catch {
                throw TensorBoardError.cannotWrite(path: fileURL.path, reason: Self.reason(error))
            }
        }
    }

    /// Caller holds `lock`. On failure the events stay pending, so a later flush can retry.
    private func writePending() throws {
        guard let handle, !pending.isEmpty else { return }
        do {
            try handle.write(contentsOf: Data(pending))
        } catch {
            throw TensorBoardError.cannotWrite(path: fileURL.path, reason: Self.reason(error))
        }
        pending.removeAll(keepingCapacity: true)
    }

    private static func reason(_ error: Error) -> String {
        (error as NSError).localizedFailureReason ?? error.localizedDescription
    }
}
