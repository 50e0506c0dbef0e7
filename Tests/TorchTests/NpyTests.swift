import Foundation
import Testing
@testable import Torch

@Suite struct NpyTests {
    typealias Fixtures = SerializationFixtures

    /// Raw .npy bytes around a hand-written header (no padding), for the error paths.
    static func npy(header: String, version: UInt8 = 1, data: [UInt8] = []) -> Data {
        var out = Data(Npy.magic + [version, 0])
        let length = header.utf8.count
        out.append(contentsOf: (0..<(version == 1 ? 2 : 4)).map { UInt8(truncatingIfNeeded: length >> (8 * $0)) })
        out.append(contentsOf: Array(header.utf8))
        out.append(contentsOf: data)
        return out
    }

    static func message(_ body: () throws -> Any) -> String? {
        do { _ = try body() } catch { return "\(error)" }
        return nil
    }

    // MARK: files NumPy wrote

    @Test(arguments: SerializationFixtures.npyNames)
    func readsWhatNumPySaved(name: String) throws {
        let tensor = try Npy.read(Fixtures.url("\(name).npy"))
        let expected = Fixtures.tensor(name)
        #expect(tensor.dtype == expected.dtype)
        #expect(tensor.shape == expected.shape)
        #expect(tensor.bytes() == expected.bytes())
    }

    @Test func readValuesAreTheOnesNumPyWrote() throws {
        let f32 = try Npy.read(Fixtures.url("f32.npy"))
        #expect(f32.toArray(Float.self) == [-1.5, 0, 2.25, 0.001, .infinity, 0])
        #expect(f32.toArray(Float.self)[5].sign == .minus)
        #expect(try Npy.read(Fixtures.url("f16.npy")).toArray(Float.self) == [1, -2.5, 65504])
        #expect(try Npy.read(Fixtures.url("i64.npy")).toArray(Int64.self) == [Int64.min, Int64.max, 0, -1])
        #expect(try Npy.read(Fixtures.url("i8.npy")).itemInt() == -128)
        #expect(try Npy.read(Fixtures.url("u8.npy")).toArray(UInt8.self) == [0, 1, 127, 128, 255])
        #expect(try Npy.read(Fixtures.url("bool.npy")).bytes() == Data([1, 0, 0, 1]))
    }

    /// A behav.npy-like float64 (1, 17) array straight into Swift doubles.
    @Test func decodesIntoSwiftArrays() throws {
        let behav = try Npy.read(Fixtures.url("f64.npy"))
        #expect(behav.shape == [1, 17])
        #expect(behav.toArray(Double.self) == (0..<17).map { Double($0) * 0.1 - 0.5 })
    }

    @Test(arguments: ["f32_v2", "bool_v2", "i64_v2", "f32_v3"])
    func readsFormatVersions2And3(name: String) throws {
        let tensor = try Npy.read(Fixtures.url("\(name).npy"))
        let expected = Fixtures.tensor(String(name.prefix { $0 != "_" }))
        #expect(tensor.dtype == expected.dtype)
        #expect(tensor.shape == expected.shape)
        #expect(tensor.bytes() == expected.bytes())
    }

    @Test func headerParsesWithoutTheData() throws {
        let data = try Data(contentsOf: Fixtures.url("f32.npy"))
        let header = try Npy.header(data.prefix(128), source: "f32.npy")
        #expect(header.dtype == .float32)
        #expect(header.shape == [2, 3])
        #expect(header.dataOffset == 128)
        let v2 = try Npy.header(Data(contentsOf: Fixtures.url("i64_v2.npy")), source: "i64_v2.npy")
        #expect(v2.dtype == .int64 && v2.shape == [2, 2] && v2.dataOffset == 128)
    }

    // MARK: bytes NumPy would write

    @Test(arguments: SerializationFixtures.npyNames)
    func encodesTheBytesNpSaveWrites(name: String) throws {
        let expected = try Data(contentsOf: Fixtures.url("\(name).npy"))
        #expect(try Npy.encode(Fixtures.tensor(name)) == expected)
    }

    @Test(arguments: ["f32", "bool", "i64"])
    func encodesVersion2LikeWriteArray(name: String) throws {
        let expected = try Data(contentsOf: Fixtures.url("\(name)_v2.npy"))
        #expect(try Npy.encode(Fixtures.tensor(name), version: 2) == expected)
    }

    /// When the unpadded header already ends on 64 bytes, NumPy pads a whole 64 more.
    @Test func padsAnAlignedHeaderLikeNumPy() throws {
        let shape = [0, 1, 1, 1, 10, 10, 10, 10, 10, 10, 10, 10]
        let expected = try Data(contentsOf: Fixtures.url("aligned.npy"))
        #expect(expected.count == 192)
        #expect(try Npy.encode(Tensor.zeros(shape)) == expected)
        #expect(try Npy.read(Fixtures.url("aligned.npy")).shape == shape)
    }

    @Test func encodesNonContiguousTensorsInRowMajorOrder() throws {
        let transposed = Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [3, 2]).transpose(0, 1)
        let decoded = try Npy.decode(Npy.encode(transposed))
        #expect(decoded.shape == [2, 3])
        #expect(decoded.toArray(Float.self) == [1, 3, 5, 2, 4, 6])
    }

    @Test func writeIsAtomicAndReadsBack() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("x.npy")
        try Data("old".utf8).write(to: url)
        try Npy.write(Fixtures.tensor("i16"), to: url)
        #expect(try Data(contentsOf: url) == Data(contentsOf: Fixtures.url("i16.npy")))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["x.npy"])
        #expect(try Npy.read(url).toArray(Int16.self) == [-32768, 32767, 1, -1])
    }

    @Test func bfloat16CannotBeWritten() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("b.npy")
        let bf16 = Fixtures.tensor("bf16")
        #expect(Self.message { try Npy.encode(bf16) }
            == "cannot write bfloat16 as .npy: NumPy has no bfloat16 dtype; convert with .to(.float32) first")
        #expect(Self.message { try Npy.write(bf16, to: url) }
            == "\(url.path): cannot write bfloat16 as .npy: NumPy has no bfloat16 dtype; convert with .to(.float32) first")
        #expect(!FileManager.default.fileExists(atPath: url.path))
        #expect(try Npy.decode(Npy.encode(bf16.to(.float32))).toArray(Float.self) == [1, -2, 0.5, 3.140625])
    }

    @Test func writingIntoAMissingFolderNamesThePath() {
        let url = URL(fileURLWithPath: "/nonexistent-\(UUID().uuidString)/x.npy")
        #expect(Self.message { try Npy.write(Fixtures.tensor("f32"), to: url) }
            == "\(url.path): cannot write: No such file or directory")
    }

    // MARK: files we refuse

    // MARK: layouts NumPy writes that we convert

    /// `np.save` of a Fortran-ordered (2, 3) float32: the values come back in C order.
    @Test func fortranOrderIsConverted() throws {
        let tensor = try Npy.read(Fixtures.url("fortran.npy"))
        #expect(tensor.shape == [2, 3])
        #expect(tensor.toArray(Float.self) == [-1.5, 0.0, 2.25, 0.001, .infinity, -0.0])
    }

    /// `np.save('coords.npy', np.argwhere(mask))` (argwhere returns Fortran order): mask ones at the
    /// (i, j, k) the generator lists.
    @Test func argwhereCoordinatesReadInRowOrder() throws {
        let tensor = try Npy.read(Fixtures.url("argwhere.npy"))
        #expect(tensor.dtype == .int64)
        #expect(tensor.shape == [4, 3])
        #expect(tensor.toArray(Int64.self) == [0, 1, 2, 1, 0, 4, 2, 3, 0, 2, 3, 1])
    }

    /// value = 100 i + 10 j + k at [i, j, k], stored with i fastest.
    @Test func fortranOrderInThreeDimensions() throws {
        let tensor = try Npy.read(Fixtures.url("fortran3d.npy"))
        #expect(tensor.shape == [2, 3, 4])
        var expected: [Float] = []
        for i in 0..<2 { for j in 0..<3 { for k in 0..<4 { expected.append(Float(100 * i + 10 * j + k)) } } }
        #expect(tensor.toArray(Float.self) == expected)
    }

    @Test func bigEndianIsConverted() throws {
        let f4 = try Npy.read(Fixtures.url("bigendian.npy"))
        #expect(f4.dtype == .float32)
        #expect(f4.shape == [2, 3])
        #expect(f4.toArray(Float.self) == [-1.5, 0.0, 2.25, 0.001, .infinity, -0.0])
        #expect(try Npy.read(Fixtures.url("bigendian_f8.npy")).toArray(Double.self) == [1.5, -2.25, 1e300])
        let i8 = try Npy.read(Fixtures.url("bigendian_i8.npy"))
        #expect(i8.dtype == .int64)
        #expect(i8.toArray(Int64.self) == [1, -2, 1 << 40, -(1 << 62)])
        #expect(try Npy.read(Fixtures.url("bigendian_i4.npy")).toArray(Int32.self) == [7, -7, Int32.max])
        #expect(try Npy.read(Fixtures.url("bigendian_f2.npy")).toArray(Float.self) == [1, -2.5, 65504])
        #expect(try Npy.read(Fixtures.url("bigendian_i2.npy")).toArray(Int16.self) == [-32768, 32767, 258])
    }

    @Test func bigEndianFortranOrderIsConverted() throws {
        let tensor = try Npy.read(Fixtures.url("bigendian_fortran.npy"))
        #expect(tensor.shape == [2, 3])
        #expect(tensor.toArray(Int32.self) == [1, 2, 3, 4, 5, 6])
    }

    // MARK: files we refuse

    /// A FIFO must be refused before it is opened: opening one for reading blocks until a writer comes.
    @Test func aFIFOIsRefusedWithoutBlocking() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("npy-fifo-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("x.npy")
        #expect(mkfifo(fifo.path, 0o600) == 0)
        #expect(Self.message { try Npy.read(fifo) } == "\(fifo.path): is a FIFO (named pipe), not a regular file")
        #expect(Self.message { try Npy.read(dir) } == "\(dir.path): is a folder, not a regular file")
    }

    @Test(arguments: [("complex.npy", "'<c8'"), ("object.npy", "'|O'")])
    func unsupportedDtypesAreRefused(file: String, descr: String) {
        let url = Fixtures.url(file)
        #expect(Self.message { try Npy.read(url) }
            == "\(url.path): unsupported dtype \(descr); supported: <f4, <f2, <f8, <i8, <i4, <i2, |i1, |u1, |b1")
    }

    @Test func structuredDtypesAreRefused() {
        let data = Self.npy(header: "{'descr': [('a', '<f4'), ('b', '<i8')], 'fortran_order': False, 'shape': (1,), }\n")
        #expect(Self.message { try Npy.decode(data, source: "s.npy") }
            == "s.npy: unsupported dtype [('a', '<f4'), ('b', '<i8')]; supported: <f4, <f2, <f8, <i8, <i4, <i2, |i1, |u1, |b1")
    }

    @Test func badMagicIsRefused() {
        #expect(Self.message { try Npy.decode(Data("PK\u{3}\u{4} a zip file".utf8), source: "x.npy") }
            == "x.npy: not a .npy file: it does not start with \\x93NUMPY")
        #expect(Self.message { try Npy.decode(Data(), source: "empty.npy") }
            == "empty.npy: not a .npy file: it does not start with \\x93NUMPY")
    }

    @Test func truncatedHeadersAreRefused() throws {
        let data = try Data(contentsOf: Fixtures.url("f32.npy"))
        #expect(Self.message { try Npy.decode(data.prefix(7), source: "x.npy") }
            == "x.npy: truncated header: the file holds 7 bytes, the preamble needs at least 10")
        #expect(Self.message { try Npy.decode(data.prefix(9), source: "x.npy") }
            == "x.npy: truncated header: the file holds 9 bytes, the version 1.0 preamble needs 10")
        #expect(Self.message { try Npy.decode(data.prefix(50), source: "x.npy") }
            == "x.npy: truncated header: the header length is 118 bytes, but only 40 follow the preamble")
        let v2 = try Data(contentsOf: Fixtures.url("f32_v2.npy"))
        #expect(Self.message { try Npy.decode(v2.prefix(11), source: "y.npy") }
            == "y.npy: truncated header: the file holds 11 bytes, the version 2.0 preamble needs 12")
    }

    @Test func truncatedDataIsRefused() throws {
        let data = try Data(contentsOf: Fixtures.url("f32.npy"))
        #expect(Self.message { try Npy.decode(data.prefix(140), source: "x.npy") }
            == "x.npy: data holds 12 bytes, but <f4 (2, 3) needs 24")
        let i8 = try Data(contentsOf: Fixtures.url("i8.npy"))
        #expect(Self.message { try Npy.decode(i8.prefix(128), source: "s.npy") }
            == "s.npy: data holds 0 bytes, but |i1 () needs 1")
    }

    @Test func unknownVersionsAreRefused() throws {
        var data = try Data(contentsOf: Fixtures.url("f32.npy"))
        data[6] = 4
        #expect(Self.message { try Npy.decode(data, source: "x.npy") }
            == "x.npy: unsupported .npy format version 4.0 (supported: 1.0, 2.0, 3.0)")
    }

    @Test func malformedHeadersAreRefused() {
        func decode(_ header: String) -> String? { Self.message { try Npy.decode(Self.npy(header: header), source: "m.npy") } }
        #expect(decode("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), ")
            == "m.npy: malformed header (unexpected end): {'descr': '<f4', 'fortran_order': False, 'shape': (2, 3),")
        #expect(decode("{'descr': '<f4' 'fortran_order': False}")
            == "m.npy: malformed header (unexpected ''' at offset 16): {'descr': '<f4' 'fortran_order': False}")
        #expect(decode("{'descr': '<f4', 'fortran_order': Nope, 'shape': ()}")
            == "m.npy: malformed header (unexpected 'N' at offset 34): {'descr': '<f4', 'fortran_order': Nope, 'shape': ()}")
        #expect(decode("['descr', '<f4']") == "m.npy: malformed header: ['descr', '<f4'] is not a dict")
        #expect(decode("{'descr': '<f4', 'shape': (3,)}")
            == "m.npy: malformed header: its keys are [\"descr\", \"shape\"], expected [\"descr\", \"fortran_order\", \"shape\"]")
        #expect(decode("{'descr': '<f4', 'fortran_order': 0, 'shape': (3,)}")
            == "m.npy: malformed header: fortran_order is 0, expected True or False")
        #expect(decode("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3)}")
            == "m.npy: malformed header: shape is (2, -3), expected a tuple of non-negative integers")
        #expect(decode("{'descr': '<f4', 'fortran_order': False, 'shape': (3)}")
            == "m.npy: malformed header: shape is 3, expected a tuple of non-negative integers")
        #expect(decode("{'descr': '<f4', 'fortran_order': False, 'shape': [2, 3]}")
            == "m.npy: malformed header: shape is [2, 3], expected a tuple of non-negative integers")
        #expect(decode("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}")
            == "m.npy: malformed header (integer '99999999999999999999' at offset 51 is out of range): {'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}")
        #expect(decode("{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296)}")
            == "m.npy: shape (4294967296, 4294967296) is too large")
        #expect(decode(String(repeating: "(", count: 40))
            == "m.npy: malformed header (nested more than 32 levels deep): " + String(repeating: "(", count: 40))
    }

    /// Python 2's NumPy wrote `(3L,)`; double quotes are Python too.
    @Test func acceptsOtherSpellingsNumPyAccepts() throws {
        let data = Self.npy(header: "{\"descr\": \"|u1\", \"fortran_order\": False, \"shape\": (3L,)}\n", data: [7, 8, 9])
        let tensor = try Npy.decode(data)
        #expect(tensor.shape == [3])
        #expect(tensor.toArray(UInt8.self) == [7, 8, 9])
    }

    /// Every prefix of a valid file, and corrupted headers, throw or decode; none crashes.
    @Test func corruptInputsNeverCrash() throws {
        let data = try Data(contentsOf: Fixtures.url("f32.npy"))
        for n in 0..<data.count {
            #expect(throws: SerializationError.self) { try Npy.decode(data.prefix(n)) }
        }
        var corrupter = Fixtures.Corrupter(state: 0x9E37_79B9_7F4A_7C15)
        for _ in 0..<2000 {
            let bad = corrupter.corrupt(data, within: 0..<128)
            if let tensor = try? Npy.decode(bad) { #expect(tensor.count * tensor.dtype.byteSize <= bad.count - 10) }
        }
    }
}
