import Foundation
import Testing

/// What one run of the built `voxelformer` binary did.
struct CLIResult {
    let status: Int32
    /// True when a signal ended the process (a Swift trap is SIGILL or SIGTRAP, a libtorch abort SIGABRT).
    let signalled: Bool
    let timedOut: Bool
    let stdout: String
    let stderr: String

    /// The message a user reads: ArgumentParser prints thrown errors as `Error: ...` on stderr.
    var errorLine: String {
        stderr.split(separator: "\n").first { $0.hasPrefix("Error:") }.map(String.init) ?? stderr
    }

    var summary: String {
        let head = stderr.split(separator: "\n").prefix(3).joined(separator: " / ")
        return "status \(status)\(signalled ? " (signal)" : "")\(timedOut ? " (timed out)" : ""); stderr: \(head.prefix(400))"
    }
}

enum CLI {
    /// The debug binary beside the test bundle (both are in `.build/debug`), or $VOXELFORMER_BIN.
    static let binary: URL? = {
        if let path = ProcessInfo.processInfo.environment["VOXELFORMER_BIN"] { return URL(fileURLWithPath: path) }
        let bundleDir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let candidates = [bundleDir.appendingPathComponent("voxelformer"),
                          bundleDir.deletingLastPathComponent().appendingPathComponent("voxelformer"),
                          repository.appendingPathComponent(".build/debug/voxelformer")]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
    }()

    struct Missing: Error, CustomStringConvertible {
        var description: String {
            "the voxelformer binary is not built: run `swift build` (or `make test`) first, or set VOXELFORMER_BIN"
        }
    }

    /// Runs the binary with `arguments`; kills it after `timeout` seconds (a hang). `whileRunning` is called
    /// with the process id once it has started, on the calling thread, before waiting.
    static func run(_ arguments: [String], timeout: TimeInterval = 40, in folder: URL? = nil,
                    whileRunning: ((Int32) -> Void)? = nil) throws -> CLIResult {
        guard let binary else { throw Missing() }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        // Files rather than pipes: a chatty process can never block on a full pipe.
        let out = scratch.appendingPathComponent("stdout"), err = scratch.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.currentDirectoryURL = folder ?? scratch
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardInput = FileHandle.nullDevice
        // A trap's backtrace takes seconds to symbolicate and buries the message; the exit status is what counts.
        var environment = ProcessInfo.processInfo.environment
        environment["SWIFT_BACKTRACE"] = "enable=no"
        process.environment = environment
        try process.run()
        whileRunning?(process.processIdentifier)
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while process.isRunning {
            if Date() > deadline {
                timedOut = true
                kill(process.processIdentifier, SIGKILL)
                break
            }
            usleep(20_000)
        }
        process.waitUntilExit()
        return CLIResult(status: process.terminationStatus, signalled: process.terminationReason == .uncaughtSignal,
                         timedOut: timedOut, stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                         stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
    }
}

/// Expects what issue 9 asks of every bad input: a non-zero exit, without a signal or a hang, and a message
/// naming one of `names` (the file or the key involved).
func expectClearError(_ r: CLIResult, naming names: [String], sourceLocation: SourceLocation = #_sourceLocation) {
    // plain Bools, so that a failure prints the summary rather than the whole result
    let hung = r.timedOut, signalled = r.signalled, exited0 = r.status == 0, trapped = r.stderr.contains("Fatal error")
    let named = names.contains { r.errorLine.contains($0) }
    #expect(!hung, "hung: \(r.summary)", sourceLocation: sourceLocation)
    #expect(!signalled, "killed by a signal instead of an error: \(r.summary)", sourceLocation: sourceLocation)
    #expect(!exited0, "exit 0 on a bad input: \(r.summary)", sourceLocation: sourceLocation)
    #expect(!trapped, "a Swift trap: \(r.summary)", sourceLocation: sourceLocation)
    #expect(named, "the message names none of \(names): \(r.errorLine.prefix(300))", sourceLocation: sourceLocation)
}
