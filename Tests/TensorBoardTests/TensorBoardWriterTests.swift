import Foundation
import Testing
import TensorBoard

/// A fresh directory under the system temporary folder.
func scratchDirectory() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("tensorboard-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

@Suite struct TensorBoardWriterTests {
    /// The events of Fixtures/generate_event_file.py, written by TensorBoardWriter, must equal tensorboard's bytes.
    @Test func bytesMatchTensorBoardRecordWriter() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let writer = try TensorBoardWriter(directory: directory, fileSuffix: ".fixture", clock: { 1_700_000_000.25 })
        let scalars: [(String, Double, Int, Double)] = [
            ("loss/train", 0.5, 0, 1_700_000_001.5),
            ("loss/train", 0.0, 1, 1_700_000_002.0),
            ("loss/train", -3.25, 1000, 1_700_000_003.125),
            ("retrieval/top1", 1.0 / 3.0, 1 << 40, 1_700_000_004.0),
            ("retrieval/top1", 1e-40, -1, 1_700_000_005.0),
            ("lr", .infinity, 7, 1_700_000_006.0),
            ("lr", .nan, 8, 1_700_000_007.0),
            ("größe/µ", 2.5, 9, 1_700_000_008.75),
        ]
        for (tag, value, step, wallTime) in scalars {
            try writer.addScalar(tag: tag, value: value, step: step, wallTime: wallTime)
        }
        try writer.close()
        let written = try Data(contentsOf: writer.fileURL)
        let expected = try Data(contentsOf: fixtures.appendingPathComponent("scalars.tfevents"))
        #expect(expected.count == 429)
        #expect(written == expected)
    }

    @Test func fileNameIsTensorFlowsPattern() throws {
        let directory = try scratchDirectory().appendingPathComponent("nested/run")
        defer { try? FileManager.default.removeItem(at: directory.deletingLastPathComponent().deletingLastPathComponent()) }
        let writer = try TensorBoardWriter(directory: directory, fileSuffix: ".v2", clock: { 123_456.9 })
        try writer.close()
        let host = ProcessInfo.processInfo.hostName
        #expect(writer.fileURL.lastPathComponent == "events.out.tfevents.0000123456.\(host).v2")
        #expect(writer.fileURL.deletingLastPathComponent().path == directory.path)
    }

    /// The file_version record is on disk from init on; scalars reach it on flush, not before.
    @Test func scalarsReachTheFileOnFlush() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let writer = try TensorBoardWriter(directory: directory, clock: { 1_700_000_000 })
        let initial = try Data(contentsOf: writer.fileURL)
        // 8 length + 4 crc + 24 event (wall_time: 9, file_version: 2 + 13) + 4 crc.
        #expect(initial.count == 40)
        try writer.addScalar(tag: "a", value: 1, step: 1)
        #expect(try Data(contentsOf: writer.fileURL) == initial)
        try writer.flush()
        let flushed = try Data(contentsOf: writer.fileURL)
        // The event: wall_time 9 + step 2 + summary (2 + value (2 + tag 3 + simple_value 5)) = 23 bytes, framed.
        #expect(flushed.count == 40 + 16 + 23)
        #expect(flushed.prefix(40) == initial)
        try writer.close()
        #expect(try Data(contentsOf: writer.fileURL) == flushed)
    }

    /// Writes from many threads at once all land whole and unmixed: with one-byte steps and one tag every record
    /// has the same size, so the file's length and the steps found at each record's offset tell.
    @Test func concurrentWritesAllLand() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let writer = try TensorBoardWriter(directory: directory, clock: { 1_700_000_000 })
        let failures = Failures()
        DispatchQueue.concurrentPerform(iterations: 100) { step in
            do { try writer.addScalar(tag: "loss", value: Double(step), step: step) } catch { failures.add(error) }
        }
        try writer.close()
        #expect(failures.count == 0)
        let bytes = [UInt8](try Data(contentsOf: writer.fileURL))
        // Each event: wall_time 9 + step 2 + summary (2 + value (2 + tag 6 + simple_value 5)) = 26 bytes, framed 42;
        // step 0 is not written (proto3 default), so that record is 2 bytes shorter.
        #expect(bytes.count == 40 + 100 * 42 - 2)
        var steps: [Int] = []
        var offset = 40
        while offset + 12 <= bytes.count {
            let length = Int(bytes[offset])  // every length here is under 256
            let data = bytes[(offset + 12)..<(offset + 12 + length)]
            steps.append(data.count == 26 ? Int(data[data.startIndex + 10]) : 0)  // the byte after step's tag 0x10
            offset += 16 + length
        }
        #expect(steps.sorted() == Array(0..<100))
    }

    @Test func closedWriterRefusesWrites() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let writer = try TensorBoardWriter(directory: directory)
        try writer.close()
        try writer.close()  // a second close does nothing
        let path = writer.fileURL.path
        #expect(throws: TensorBoardError.closed(path: path)) {
            try writer.addScalar(tag: "loss", value: 1, step: 0)
        }
        #expect(throws: TensorBoardError.closed(path: path)) { try writer.flush() }
        #expect(TensorBoardError.closed(path: path).description.contains(path))
    }

    /// A second writer in the same second and directory must not clobber the first one's file.
    @Test func existingFileIsNotOverwritten() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let first = try TensorBoardWriter(directory: directory, clock: { 1_700_000_000 })
        try first.addScalar(tag: "loss", value: 2, step: 3)
        try first.close()
        let before = try Data(contentsOf: first.fileURL)
        #expect(throws: TensorBoardError.fileExists(path: first.fileURL.path)) {
            _ = try TensorBoardWriter(directory: directory, clock: { 1_700_000_000.5 })
        }
        #expect(try Data(contentsOf: first.fileURL) == before)
        let other = try TensorBoardWriter(directory: directory, fileSuffix: ".2", clock: { 1_700_000_000.5 })
        try other.close()
        #expect(other.fileURL != first.fileURL)
    }

    @Test func badInputIsRefused() throws {
        let directory = try scratchDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        #expect(throws: TensorBoardError.invalidFileSuffix("/x")) {
            _ = try TensorBoardWriter(directory: directory, fileSuffix: "/x")
        }
        #expect(throws: TensorBoardError.invalidWallTime(path: directory.path, wallTime: -.infinity)) {
            _ = try TensorBoardWriter(directory: directory, clock: { -.infinity })
        }
        let writer = try TensorBoardWriter(directory: directory)
        let path = writer.fileURL.path
        #expect(throws: TensorBoardError.emptyTag(path: path)) { try writer.addScalar(tag: "", value: 1, step: 0) }
        #expect(throws: TensorBoardError.invalidWallTime(path: path, wallTime: .infinity)) {
            try writer.addScalar(tag: "loss", value: 1, step: 0, wallTime: .infinity)
        }
        try writer.close()
        // A regular file where the directory should be.
        let file = directory.appendingPathComponent("plain")
        _ = FileManager.default.createFile(atPath: file.path, contents: Data([1]))
        do {
            _ = try TensorBoardWriter(directory: file)
            Issue.record("expected cannotCreateDirectory for \(file.path)")
        } catch let error as TensorBoardError {
            guard case .cannotCreateDirectory(let path, _) = error else { Issue.record("got \(error)"); return }
            #expect(path == file.path)
        }
    }
}

/// Errors collected from concurrent work.
final class Failures: @unchecked Sendable {
    private let lock = NSLock()
    private var errors: [Error] = []
    func add(_ error: Error) { lock.withLock { errors.append(error) } }
    var count: Int { lock.withLock { errors.count } }
}
