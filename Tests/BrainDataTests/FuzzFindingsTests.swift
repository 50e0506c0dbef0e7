import Foundation
import Testing
@testable import BrainData

/// Tar and NIfTI headers that crashed or over-allocated before the readers checked them (found by fuzzing
/// and by reading the readers; `make fuzz`). Each is now a `DataError` naming the file and the field.
@Suite struct FuzzFindingsTests {
    /// A 512-byte ustar header for `name` with the raw 12-byte `size` field, its checksum filled in.
    func header(_ name: String, size: [UInt8], typeflag: Character = "0") -> [UInt8] {
        var h = [UInt8](repeating: 0, count: 512)
        h.replaceSubrange(0..<name.utf8.count, with: name.utf8)
        h.replaceSubrange(100..<108, with: Array("0000644\0".utf8))
        h.replaceSubrange(124..<136, with: size)
        h[156] = typeflag.asciiValue!
        h.replaceSubrange(257..<263, with: Array("ustar\0".utf8))
        h.replaceSubrange(263..<265, with: Array("00".utf8))
        let sum = h.enumerated().reduce(0) { $0 + ((148..<156).contains($1.offset) ? 32 : Int($1.element)) }
        h.replaceSubrange(148..<156, with: Array(String(format: "%06o\0 ", sum).utf8))
        return h
    }
    func octal(_ text: String) -> [UInt8] { Array(text.utf8) + [UInt8](repeating: 0, count: 12 - text.utf8.count) }
    func padded(_ bytes: [UInt8]) -> [UInt8] { bytes + [UInt8](repeating: 0, count: (512 - bytes.count % 512) % 512) }

    func tarMessage(_ bytes: [UInt8]) throws -> String? {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-\(UUID().uuidString).tar")
        try Data(bytes).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        return dataErrorMessage { _ = try TarReader(url).members() }.map {
            $0.replacingOccurrences(of: url.path, with: "<tar>")
        }
    }

    @Test func negativeOctalSizeIsRefused() throws {
        #expect(try tarMessage(header("a.npy", size: octal("-1000")) + padded([]))
            == "<tar>: corrupt tar header at offset 0 (member 'a.npy'): negative size -512")
    }

    @Test func base256SizesOutOfRangeAreRefused() throws {
        let huge: [UInt8] = [0x80] + [UInt8](repeating: 0xff, count: 11)
        let negative: [UInt8] = [UInt8](repeating: 0xff, count: 12)
        for size in [huge, negative] {
            #expect(try tarMessage(header("a.npy", size: size) + padded([]))
                == "<tar>: corrupt tar header at offset 0 (member 'a.npy'): base-256 size out of range")
        }
        // A base-256 size that fits is still read: 3 bytes.
        let three: [UInt8] = [0x80] + [UInt8](repeating: 0, count: 10) + [3]
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("fuzz-\(UUID().uuidString).tar")
        try Data(header("a.npy", size: three) + padded([1, 2, 3]) + [UInt8](repeating: 0, count: 512)).write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(try TarReader(url).members().map(\.data) == [Data([1, 2, 3])])
    }

    @Test func paxSizeNearIntMaxIsATruncatedMember() throws {
        let record = Array("28 size=9223372036854775807\n".utf8)
        let pax = header("PaxHeader/a.npy", size: octal(String(record.count, radix: 8)), typeflag: "x") + padded(record)
        #expect(try tarMessage(pax + header("a.npy", size: octal("0")) + padded([]))
            == "<tar>: truncated tar: member 'a.npy' at offset 0 needs 9223372036854775807 bytes of data "
            + "from offset 1536, but the file ends at 1536")
    }

    @Test func paxRecordLengthsThatDoNotFitAreRefused() throws {
        // A length shorter than its own "N " prefix, and one that overflows when added to the offset.
        for text in ["2 path=a\n", "6 a=b\n9223372036854775807 x=y\n"] {
            let record = Array(text.utf8)
            let pax = header("PaxHeader/a.npy", size: octal(String(record.count, radix: 8)), typeflag: "x") + padded(record)
            #expect(try tarMessage(pax + header("a.npy", size: octal("0")) + padded([]))
                == "<tar>: corrupt PAX header at offset 0")
        }
    }
}
