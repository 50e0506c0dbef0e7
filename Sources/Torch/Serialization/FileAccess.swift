#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Reading files through a memory map and writing them atomically, for the tensor file formats; and the
/// one check every reader of a user's file makes first, that the path is a regular file.
public enum FileAccess {
    /// Why `path` cannot be read as a file, or nil when it is a regular file (or a link to one). Checked
    /// with `stat` before opening, because opening a FIFO for reading blocks until a writer appears, and
    /// a folder or device is never what a reader of tensors, images or tar shards expects.
    public static func regularFileProblem(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else { return "cannot open: \(lastErrorText())" }
        switch info.st_mode & 0o170000 {
        case 0o100000: return nil
        case 0o040000: return "is a folder, not a regular file"
        case 0o010000: return "is a FIFO (named pipe), not a regular file"
        case 0o140000: return "is a socket, not a regular file"
        case 0o020000, 0o060000: return "is a device, not a regular file"
        default: return "is not a regular file"
        }
    }

    /// Runs `body` over the bytes of the file at `url`, mapped read-only: tensors are copied once, from
    /// the page cache into libtorch, with no whole-file copy in between. The bytes are valid only inside
    /// `body`.
    static func withMappedBytes<R>(of url: URL, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        let path = url.path
        if let problem = regularFileProblem(path) { throw SerializationError("\(path): \(problem)") }
        // O_NONBLOCK: should the path become a FIFO after the check, open still returns at once (and
        // fstat below refuses it).
        let fd = open(path, O_RDONLY | O_NONBLOCK)
        guard fd >= 0 else { throw SerializationError("\(path): cannot open: \(lastErrorText())") }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SerializationError("\(path): cannot stat: \(lastErrorText())") }
        guard (info.st_mode & 0o170000) == 0o100000 else {
            throw SerializationError("\(path): not a regular file")
        }
        let size = Int(info.st_size)
        if size == 0 { return try body(UnsafeRawBufferPointer(start: nil, count: 0)) }
        guard let base = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0),
              base != UnsafeMutableRawPointer(bitPattern: -1)
        else { throw SerializationError("\(path): cannot map into memory: \(lastErrorText())") }
        defer { munmap(base, size) }
        return try body(UnsafeRawBufferPointer(start: base, count: size))
    }

    /// Writes a file through `body` into a temporary file in the same folder, then renames it over `url`,
    /// so readers never see a half-written file and a failure leaves any old file untouched.
    static func writeAtomically(to url: URL, _ body: (Sink) throws -> Void) throws {
        let path = url.path
        let temporary = url.deletingLastPathComponent()
            .appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp").path
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o644)
        guard fd >= 0 else { throw SerializationError("\(path): cannot write: \(lastErrorText())") }
        var closed = false
        do {
            try body(Sink(fd: fd, path: path))
            guard fsync(fd) == 0 else { throw SerializationError("\(path): cannot write: \(lastErrorText())") }
            closed = true
            guard close(fd) == 0 else { throw SerializationError("\(path): cannot write: \(lastErrorText())") }
            guard rename(temporary, path) == 0 else {
                throw SerializationError("\(path): cannot write: \(lastErrorText())")
            }
        } catch {
            if !closed { close(fd) }
            unlink(temporary)
            throw error
        }
    }

    /// The open temporary file of `writeAtomically`.
    struct Sink {
        let fd: Int32
        let path: String

        func write(_ bytes: UnsafeRawBufferPointer) throws {
            var done = 0
            while done < bytes.count {
                let n = systemWrite(fd, bytes.baseAddress! + done, bytes.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw SerializationError("\(path): cannot write: \(lastErrorText())")
                }
                done += n
            }
        }
        func write(_ data: Data) throws { try data.withUnsafeBytes { try write($0) } }
    }

    static func lastErrorText() -> String { String(cString: strerror(errno)) }
}

/// The C library's `write`, which `Sink.write` hides inside its own scope.
private func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    write(fd, buffer, count)
}
