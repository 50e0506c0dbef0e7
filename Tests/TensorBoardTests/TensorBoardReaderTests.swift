import Foundation
import Testing
import TensorBoard

/// Reads TensorBoardWriter's files back with TensorBoard's own reader (Fixtures/read_events.py) in python3.
/// Needs python3 and the `tensorboard` package: `make setup` installs it into .libtorch/python if python3 lacks it.
@Suite struct TensorBoardReaderTests {
    struct ReaderFailed: Error, CustomStringConvertible { let description: String }

    struct ReadBack: Decodable {
        let file_version: String?
        let scalars: [String: [[ScalarField]]]
    }

    enum ScalarField: Decodable {
        case number(Int), text(String)
        init(from decoder: Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let value = try? container.decode(Int.self) { self = .number(value) } else {
                self = .text(try container.decode(String.self))
            }
        }
    }

    /// (wall time, step, value) of each scalar per tag, as tensorboard read them.
    static func read(_ directory: URL) throws -> (fileVersion: String?, scalars: [String: [(Double, Int, Double)]]) {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let scratch = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: scratch) }
        // Files, not pipes: a process that writes much to stderr can never block on a full pipe.
        let out = scratch.appendingPathComponent("stdout"), err = scratch.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: out.path, contents: nil)
        _ = FileManager.default.createFile(atPath: err.path, contents: nil)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", fixtures.appendingPathComponent("read_events.py").path, directory.path]
        var environment = ProcessInfo.processInfo.environment
        let local = repository.appendingPathComponent(".libtorch/python").path
        environment["PYTHONPATH"] = [local, environment["PYTHONPATH"]].compactMap { $0 }.joined(separator: ":")
        process.environment = environment
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let stderr = (try? String(contentsOf: err, encoding: .utf8)) ?? ""
            throw ReaderFailed(description: """
                python3 read_events.py exited with \(process.terminationStatus): this test needs python3 with the \
                tensorboard package (run `make setup`, which installs it into .libtorch/python). stderr: \
                \(stderr.suffix(1500))
                """)
        }
        let decoded = try JSONDecoder().decode(ReadBack.self, from: Data(contentsOf: out))
        var scalars: [String: [(Double, Int, Double)]] = [:]
        for (tag, rows) in decoded.scalars {
            scalars[tag] = try rows.map { row in
                guard row.count == 3, case .text(let wall) = row[0], case .number(let step) = row[1],
                      case .text(let value) = row[2], let w = Double(wall), let v = Double(value)
                else { throw ReaderFailed(description: "unexpected row for \(tag): \(row)") }
                return (w, step, v)
            }
        }
        return (decoded.file_version, scalars)
    }

    @Test func tensorBoardReadsEveryScalar() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let before = Date().timeIntervalSince1970
        let writer = try TensorBoardWriter(directory: directory, fileSuffix: ".reader")
        var expected: [String: [(Double?, Int, Double)]] = [:]
        func add(_ tag: String, _ value: Double, _ step: Int, _ wallTime: Double? = nil) throws {
            try writer.addScalar(tag: tag, value: value, step: step, wallTime: wallTime)
            expected[tag, default: []].append((wallTime, step, value))
        }
        for step in 0..<50 {
            try add("loss/train", 2.0 / Double(step + 1), step, 1_700_000_000 + Double(step) * 0.5)
            if step % 10 == 9 { try add("retrieval/top1", Double(step) / 100, step) }
        }
        try writer.flush()  // a flush in the middle must leave a file the reader parses whole
        try add("special", 0, 1 << 40)
        try add("special", -1.5e-3, (1 << 40) + 1)
        try add("special", .infinity, (1 << 40) + 2)
        try add("special", -.infinity, (1 << 40) + 3)
        try add("special", .nan, (1 << 40) + 4)
        try add("special", 1.0 / 3.0, (1 << 40) + 5)
        try writer.close()
        let after = Date().timeIntervalSince1970

        let read = try Self.read(directory)
        #expect(read.fileVersion == "brain.Event:2")
        #expect(Set(read.scalars.keys) == ["loss/train", "retrieval/top1", "special"])
        for (tag, rows) in expected {
            let got = read.scalars[tag] ?? []
            #expect(got.count == rows.count, "\(tag): \(got.count) scalars read, \(rows.count) written")
            for (want, have) in zip(rows, got) {
                #expect(have.1 == want.1, "\(tag) step")
                // simple_value is a float32: tensorboard gives back the Float nearest to what was written.
                let value = Double(Float(want.2))
                #expect(have.2 == value || (have.2.isNaN && value.isNaN), "\(tag) step \(want.1): \(have.2) vs \(value)")
                if let wall = want.0 {
                    #expect(have.0 == wall, "\(tag) step \(want.1) wall time")
                } else {
                    #expect(have.0 >= before && have.0 <= after, "\(tag) step \(want.1) wall time \(have.0)")
                }
            }
        }
    }

    /// The committed fixture, read by tensorboard itself: a check that the fixture holds what the Swift test
    /// thinks it holds.
    @Test func tensorBoardReadsTheFixture() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try FileManager.default.copyItem(at: fixtures.appendingPathComponent("scalars.tfevents"),
                                         to: directory.appendingPathComponent("events.out.tfevents.1700000000.fixture"))
        let read = try Self.read(directory)
        #expect(read.fileVersion == "brain.Event:2")
        #expect(read.scalars["loss/train"]?.map { $0.1 } == [0, 1, 1000])
        #expect(read.scalars["loss/train"]?.map { $0.2 } == [0.5, 0, -3.25])
        #expect(read.scalars["retrieval/top1"]?.map { $0.1 } == [1 << 40, -1])
        #expect(read.scalars["retrieval/top1"]?.first?.2 == Double(Float(1.0 / 3.0)))
        #expect(read.scalars["größe/µ"]?.first?.0 == 1_700_000_008.75)
    }
}
