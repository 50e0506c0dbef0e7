import Foundation
import Testing
@testable import Torch

@Suite struct SafetensorsTests {
    typealias Fixtures = SerializationFixtures

    static let allDtypeNames = SerializationFixtures.npyNames.filter { $0 != "empty" } + ["bf16"]

    static func numpyFileTensors() -> [String: Tensor] {
        [
            "layer.0.weight": Fixtures.tensor("f32"),
            "layer.0.bias": Tensor([0.5, -0.25] as [Float]),
            "scalar": Tensor([2.5], shape: []),
            "empty": Tensor.zeros([0, 3]),
        ]
    }

    /// Writes a safetensors file from a hand-written header into `folder`; `length` overrides the
    /// header length field.
    static func file(in folder: URL, header: String, data: [UInt8] = [], length: UInt64? = nil) throws -> URL {
        let json = Array(header.utf8)
        let n = length ?? UInt64(json.count)
        var bytes = Data((0..<8).map { UInt8(truncatingIfNeeded: n >> (8 * $0)) })
        bytes.append(contentsOf: json + data)
        let url = folder.appendingPathComponent("bad-\(UUID().uuidString).safetensors")
        try bytes.write(to: url)
        return url
    }

    static func message(_ body: () throws -> Any) -> String? {
        do { _ = try body() } catch { return "\(error)" }
        return nil
    }

    // MARK: files Python wrote

    @Test func readsEveryDtypeThatPyTorchSaved() throws {
        let tensors = try Safetensors.read(Fixtures.url("torch_all_dtypes.safetensors"))
        #expect(tensors.keys.sorted() == Self.allDtypeNames.sorted())
        for name in Self.allDtypeNames {
            let expected = Fixtures.tensor(name)
            #expect(tensors[name]?.dtype == expected.dtype, "\(name)")
            #expect(tensors[name]?.shape == expected.shape, "\(name)")
            #expect(tensors[name]?.bytes() == expected.bytes(), "\(name)")
        }
        #expect(tensors["bf16"]?.toArray(Float.self) == [1, -2, 0.5, 3.140625])
        #expect(tensors["i64"]?.toArray(Int64.self) == [Int64.min, Int64.max, 0, -1])
    }

    @Test func readsWhatNumPySaved() throws {
        let tensors = try Safetensors.read(Fixtures.url("numpy.safetensors"))
        #expect(tensors.keys.sorted() == ["empty", "layer.0.bias", "layer.0.weight", "scalar"])
        #expect(tensors["layer.0.weight"]?.shape == [2, 3])
        #expect(tensors["layer.0.weight"]?.toArray(Float.self) == [-1.5, 0, 2.25, 0.001, .infinity, 0])
        #expect(tensors["layer.0.bias"]?.toArray(Float.self) == [0.5, -0.25])
        #expect(tensors["scalar"]?.shape == [])
        #expect(tensors["scalar"]?.dtype == .float64)
        #expect(tensors["scalar"]?.item() == 2.5)
        #expect(tensors["empty"]?.shape == [0, 3])
    }

    @Test func readsMetadata() throws {
        #expect(try Safetensors.readMetadata(Fixtures.url("torch_all_dtypes.safetensors")) == ["format": "pt"])
        #expect(try Safetensors.readMetadata(Fixtures.url("numpy.safetensors")) == [:])
    }

    @Test func headerListsDtypesAndShapes() throws {
        let header = try Safetensors.header(of: Fixtures.url("numpy.safetensors"))
        #expect(header.keys.sorted() == ["empty", "layer.0.bias", "layer.0.weight", "scalar"])
        #expect(header["layer.0.weight"]?.dtype == .float32 && header["layer.0.weight"]?.shape == [2, 3])
        #expect(header["scalar"]?.dtype == .float64 && header["scalar"]?.shape == [])
        #expect(header["empty"]?.shape == [0, 3])
    }

    /// Tensors own their memory: the mapping is gone once `read` returns.
    @Test func tensorsOutliveTheFile() throws {
        let folder = try Fixtures.temporaryFolder()
        let url = folder.appendingPathComponent("copy.safetensors")
        try FileManager.default.copyItem(at: Fixtures.url("numpy.safetensors"), to: url)
        let tensors = try Safetensors.read(url)
        try FileManager.default.removeItem(at: folder)
        #expect(tensors["layer.0.bias"]?.toArray(Float.self) == [0.5, -0.25])
    }

    // MARK: bytes Python would write

    @Test func writesTheBytesPyTorchWrites() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("all.safetensors")
        let tensors = Dictionary(uniqueKeysWithValues: Self.allDtypeNames.map { ($0, Fixtures.tensor($0)) })
        try Safetensors.write(tensors, metadata: ["format": "pt"], to: url)
        #expect(try Data(contentsOf: url) == Data(contentsOf: Fixtures.url("torch_all_dtypes.safetensors")))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["all.safetensors"])
    }

    @Test func writesTheBytesNumPyWrites() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("np.safetensors")
        try Safetensors.write(Self.numpyFileTensors(), to: url)
        #expect(try Data(contentsOf: url) == Data(contentsOf: Fixtures.url("numpy.safetensors")))
    }

    /// The header is padded with spaces to a multiple of 8 and escapes names as serde_json does.
    @Test func headerLayout() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("x.safetensors")
        try Safetensors.write(["x": Tensor([7] as [UInt8])], metadata: ["é\"": "a\\b\n"], to: url)
        let bytes = try Data(contentsOf: url)
        let expectedHeader = "{\"__metadata__\":{\"é\\\"\":\"a\\\\b\\n\"},\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}  "
        #expect(bytes.prefix(8) == Data([88, 0, 0, 0, 0, 0, 0, 0]))
        #expect(String(decoding: bytes.dropFirst(8).prefix(88), as: UTF8.self) == expectedHeader)
        #expect(bytes.last == 7)
        #expect(try Safetensors.readMetadata(url) == ["é\"": "a\\b\n"])
    }

    @Test func writesNonContiguousTensorsInRowMajorOrder() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("t.safetensors")
        try Safetensors.write(["t": Tensor([1, 2, 3, 4, 5, 6] as [Float], shape: [3, 2]).transpose(0, 1)], to: url)
        let t = try #require(try Safetensors.read(url)["t"])
        #expect(t.shape == [2, 3])
        #expect(t.toArray(Float.self) == [1, 3, 5, 2, 4, 6])
    }

    @Test func writeErrorsNameTheFile() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("m.safetensors")
        #expect(Self.message { try Safetensors.write(["__metadata__": Tensor([1] as [Float])], to: url) }
            == "\(url.path): '__metadata__' is reserved for the metadata and cannot name a tensor")
        let missing = folder.appendingPathComponent("no/such/folder/m.safetensors")
        #expect(Self.message { try Safetensors.write(["a": Tensor([1] as [Float])], to: missing) }
            == "\(missing.path): cannot write: No such file or directory")
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == [])
    }

    // MARK: files we refuse

    @Test func missingFilesNameThePath() {
        let url = URL(fileURLWithPath: "/nonexistent-\(UUID().uuidString).safetensors")
        #expect(Self.message { try Safetensors.read(url) } == "\(url.path): cannot open: No such file or directory")
    }

    @Test func headerLengthErrors() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let short = folder.appendingPathComponent("short.safetensors")
        try Data([1, 2, 3, 4, 5]).write(to: short)
        #expect(Self.message { try Safetensors.read(short) }
            == "\(short.path): the file holds 5 bytes, too few for the 8-byte header length")
        let long = try Self.file(in: folder, header: "{}", data: Array(repeating: 0, count: 18), length: 1000)
        #expect(Self.message { try Safetensors.read(long) }
            == "\(long.path): the header length is 1000 bytes, but only 20 follow it")
        let huge = try Self.file(in: folder, header: "{}", length: UInt64.max)
        #expect(Self.message { try Safetensors.header(of: huge) }
            == "\(huge.path): the header length is 18446744073709551615 bytes, but only 2 follow it")
    }

    @Test func headerJSONErrors() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        func error(_ header: String, _ data: [UInt8] = []) throws -> String? {
            let url = try Self.file(in: folder, header: header, data: data)
            guard let message = Self.message({ try Safetensors.read(url) }) else { return nil }
            return message.replacingOccurrences(of: url.path, with: "f")
        }
        #expect(try error("{\"a\": {\"dtype\": ") == "f: the header is not valid JSON")
        #expect(try error("[1, 2]") == "f: the header is not a JSON object")
        #expect(try error("{\"__metadata__\": {\"n\": 3}}") == "f: __metadata__ must map strings to strings")
        #expect(try error("{\"a\": [1]}") == "f: tensor 'a': the entry is not a JSON object")
        #expect(try error("{\"a\": {\"dtype\": \"F32\", \"data_offsets\": [0, 4]}}", [0, 0, 0, 0])
            == "f: tensor 'a': the entry has no 'shape'")
        #expect(try error("{\"a\": {\"dtype\": \"F8_E4M3\", \"shape\": [1], \"data_offsets\": [0, 1]}}", [0])
            == "f: tensor 'a': unsupported dtype \"F8_E4M3\"; supported: BOOL, U8, I8, I16, F16, BF16, I32, F32, F64, I64")
        #expect(try error("{\"a\": {\"dtype\": \"F32\", \"shape\": [-1], \"data_offsets\": [0, 4]}}", [0, 0, 0, 0])
            == "f: tensor 'a': shape must be a list of non-negative integers")
        #expect(try error("{\"a\": {\"dtype\": \"F32\", \"shape\": [1.5], \"data_offsets\": [0, 4]}}", [0, 0, 0, 0])
            == "f: tensor 'a': shape must be a list of non-negative integers")
        #expect(try error("{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 0]}}", [0, 0, 0, 0])
            == "f: tensor 'a': data_offsets must be [begin, end] with 0 <= begin <= end")
        #expect(try error("{\"a\": {\"dtype\": \"U8\", \"shape\": [4294967296, 4294967296], \"data_offsets\": [0, 1]}}", [0])
            == "f: tensor 'a': shape [4294967296, 4294967296] is too large")
    }

    @Test func offsetErrors() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = try Self.file(in: folder, header: "{\"a.weight\":{\"dtype\":\"F32\",\"shape\":[2,2],\"data_offsets\":[0,12]}}",
                                data: Array(repeating: 0, count: 12))
        #expect(Self.message { try Safetensors.read(url) }
            == "\(url.path): tensor 'a.weight': data_offsets [0, 12] hold 12 bytes, but F32 [2, 2] needs 16")

        func error(_ entries: String, bytes: Int) throws -> String? {
            let url = try Self.file(in: folder, header: "{\(entries)}", data: Array(repeating: 0, count: bytes))
            return Self.message { try Safetensors.read(url) }?.replacingOccurrences(of: url.path, with: "f")
        }
        func f32(_ name: String, _ begin: Int) -> String {
            "\"\(name)\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[\(begin),\(begin + 8)]}"
        }
        #expect(try error(f32("a", 0), bytes: 4)
            == "f: tensor 'a': data_offsets [0, 8] run past the end of the data area, which holds 4 bytes")
        #expect(try error(f32("a", 0) + "," + f32("b", 4), bytes: 12)
            == "f: tensor 'b': data_offsets [4, 12] overlap the tensor before, which ends at 8")
        #expect(try error(f32("a", 0) + "," + f32("b", 12), bytes: 20)
            == "f: tensor 'b': data_offsets [12, 20] leave a gap after byte 8")
        #expect(try error(f32("a", 0), bytes: 10) == "f: the tensors cover 8 bytes, but the data area holds 10")
        #expect(try error(f32("a", 8) + "," + f32("b", 0), bytes: 16) == nil)
    }

    /// Every prefix of a valid file, and corrupted headers, throw or read; none crashes. (In memory: the
    /// same parsing `read` does on the mapped file.)
    @Test func corruptInputsNeverCrash() throws {
        let data = try Data(contentsOf: Fixtures.url("numpy.safetensors"))
        func read(_ bytes: Data) throws -> [String: Tensor] {
            try bytes.withUnsafeBytes { try Safetensors.tensors(in: $0, source: "c.safetensors") }
        }
        #expect(try read(data).count == 4)
        for n in 0..<data.count {
            #expect(throws: SerializationError.self) { try read(data.prefix(n)) }
        }
        let headerEnd = 8 + Int(data[0]) + Int(data[1]) << 8
        var corrupter = Fixtures.Corrupter(state: 0x2545_F491_4F6C_DD1D)
        for _ in 0..<1000 {
            let bad = corrupter.corrupt(data, within: 0..<headerEnd)
            if let tensors = try? read(bad) {
                #expect(tensors.values.map { $0.count * $0.dtype.byteSize }.reduce(0, +) <= data.count)
            }
        }
    }
}
