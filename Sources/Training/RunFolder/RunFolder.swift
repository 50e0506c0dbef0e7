import Foundation
import Torch

/// A run folder owned by one writer: `flock` on `<run>/.lock` for as long as this object lives, so a
/// second `train` into the same folder stops before touching anything. Also the folder's house-keeping:
/// stale temporaries of killed checkpoint writes, and the refusal to replace an earlier run by accident.
public final class RunFolder {
    public let url: URL
    let lockDescriptor: Int32

    /// Files that make a folder hold a run; `--overwrite` removes them.
    public static let runFiles = ["checkpoint.safetensors", "best.safetensors", "metrics.jsonl", "report.json",
                                  "config.yaml", "curves.svg"]

    /// Creates the folder if needed and takes its lock, or throws naming the process that holds it.
    public init(_ url: URL) throws {
        self.url = url
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue {
            throw ConfigError("run_dir \(url.path): exists and is not a folder")
        }
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        let lockPath = url.appendingPathComponent(".lock").path
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else {
            throw ConfigError("run_dir \(url.path): cannot open \(lockPath) (\(String(cString: strerror(errno))))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            var buffer = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &buffer, buffer.count, 0)
            let holder = String(decoding: buffer.prefix(max(n, 0)), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            close(fd)
            throw ConfigError("run_dir \(url.path): another voxelformer process"
                + (holder.isEmpty ? "" : " (pid \(holder))") + " is writing to this run folder; "
                + "wait for it to finish or choose another run_dir")
        }
        let pid = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = pid.withCString { pwrite(fd, $0, strlen($0), 0) }
        lockDescriptor = fd
    }
    deinit { close(lockDescriptor) }  // closing releases the flock

    /// The run files already present (see `runFiles`), sorted.
    public func existingRunFiles() -> [String] {
        Self.runFiles.filter { FileManager.default.fileExists(atPath: url.appendingPathComponent($0).path) }
    }

    /// Throws when the folder holds an earlier run and neither resuming nor overwriting was asked for;
    /// with `overwrite`, removes that run's files.
    public func prepareFreshRun(overwrite: Bool) throws {
        let existing = existingRunFiles()
        guard !existing.isEmpty else { return }
        guard overwrite else {
            throw ConfigError("run_dir \(url.path): already holds a run (\(existing.joined(separator: ", "))); "
                + "continue it with --resume, or replace it with --overwrite")
        }
        for name in existing { try FileManager.default.removeItem(at: url.appendingPathComponent(name)) }
    }

    /// Removes the temporaries (`.<name>.<uuid>.tmp`) that checkpoint writes killed mid-way leave; returns their names.
    @discardableResult
    public func removeStaleTemporaries() throws -> [String] {
        let names = try FileManager.default.contentsOfDirectory(atPath: url.path)
        let stale = names.filter { $0.hasPrefix(".") && $0.hasSuffix(".tmp") }.sorted()
        for name in stale { try FileManager.default.removeItem(at: url.appendingPathComponent(name)) }
        return stale
    }
}
