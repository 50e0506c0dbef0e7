import Foundation

/// A PyTorch peer script of the bench (scripts/bench_*_peer.py), run with the torch that set-up installed:
/// the Python package folder that holds `.libtorch/torch` (`.libtorch/pkg` for the wheel) goes first on
/// PYTHONPATH; `$VOXELFORMER_BENCH_PYTHON` picks another interpreter than `python3`.
enum PythonPeer {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static let python = ProcessInfo.processInfo.environment["VOXELFORMER_BENCH_PYTHON"] ?? "python3"

    /// Runs `script` and decodes the last line of its standard output as `M`; nil, said on stderr with the
    /// benchmark's name `row`, when the script fails or prints something else.
    static func measure<M: Decodable>(_ type: M.Type, script: String, arguments: [String], row: String) -> M? {
        switch launch(script: script, arguments: arguments) {
        case .success(let output):
            guard let line = output.split(separator: "\n").last,
                  let result = try? JSONDecoder().decode(M.self, from: Data(line.utf8))
            else {
                note("\(row): unreadable output from \(script): \(output.suffix(200))")
                return nil
            }
            return result
        case .failure(let reason):
            note("\(row): the PyTorch peer failed (\(reason)); no reference for this row")
            return nil
        }
    }

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs `script` with `arguments`; its stdout, or why it failed (exit status and last stderr line).
    /// With `forwardErrors`, the script's stderr (progress lines) goes to this process's stderr as it comes.
    static func launch(script: String, arguments: [String], forwardErrors: Bool = true) -> Result<String, Failure> {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [python, script] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: isolationVariable)
        environment[parentVariable] = "\(getpid())"  // the peer exits when this process does
        let torchPackage = root.appendingPathComponent(".libtorch/torch").resolvingSymlinksInPath()
            .deletingLastPathComponent().path
        environment["PYTHONPATH"] = [torchPackage, environment["PYTHONPATH"]].compactMap { $0 }.joined(separator: ":")
        process.environment = environment
        let stdout = Pipe()
        process.standardOutput = stdout
        let stderr = Pipe()
        process.standardError = stderr
        let errorLines = ErrorLines()
        // stderr drained on its own thread, so neither pipe can fill up and block the script.
        let drained = DispatchGroup()
        drained.enter()
        DispatchQueue.global().async {
            while case let data = stderr.fileHandleForReading.availableData, !data.isEmpty {
                if forwardErrors { FileHandle.standardError.write(data) }
                errorLines.append(data)
            }
            drained.leave()
        }
        do { try process.run() } catch {
            try? stderr.fileHandleForWriting.close()
            drained.wait()
            return .failure(Failure(description: "cannot start \(python): \(error)"))
        }
        let output = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        drained.wait()
        guard process.terminationStatus == 0 else {
            let last = errorLines.lastLine.map { ": \($0)" } ?? ""
            let how = process.terminationReason == .uncaughtSignal ? "killed by signal" : "exit status"
            return .failure(Failure(description: "\(script) \(how) \(process.terminationStatus)\(last)"))
        }
        return .success(output)
    }

    /// The child's stderr as it arrives, for the last line of a failure.
    final class ErrorLines: @unchecked Sendable {
        private let lock = NSLock()
        private var text = ""

        func append(_ data: Data) {
            lock.lock()
            defer { lock.unlock() }
            text = String((text + String(decoding: data, as: UTF8.self)).suffix(2000))
        }

        var lastLine: String? {
            lock.lock()
            defer { lock.unlock() }
            return text.split(separator: "\n").last.map(String.init)
        }
    }
}
