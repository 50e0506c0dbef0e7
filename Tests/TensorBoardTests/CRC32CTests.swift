import Foundation
import Testing
@testable import TensorBoard

@Suite struct CRC32CTests {
    /// Published check values: "123456789" is the CRC catalogue's check input for CRC-32C; the 32-byte ones are
    /// the iSCSI test vectors of RFC 3720, appendix B.4.
    @Test func knownVectors() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(CRC32C.checksum((0..<32).reversed().map { UInt8($0) }) == 0x113F_DB5C)
        #expect(CRC32C.checksum([]) == 0)
    }

    /// By hand: the empty input has CRC 0, so its masked value is the mask constant alone.
    @Test func maskOfZeroIsTheConstant() {
        #expect(CRC32C.masked([]) == 0xA282_EAD8)
    }

    /// Vectors from tensorboard's CRC-32C and masked_crc32c (Fixtures/generate_event_file.py).
    @Test func matchesTensorBoard() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/crc32c.json")
        struct Vector: Decodable { let hex: String; let crc: UInt32; let masked: UInt32 }
        let vectors = try JSONDecoder().decode([Vector].self, from: Data(contentsOf: url))
        #expect(vectors.count == 8)
        for vector in vectors {
            let bytes = stride(from: 0, to: vector.hex.count, by: 2).map { offset -> UInt8 in
                let start = vector.hex.index(vector.hex.startIndex, offsetBy: offset)
                return UInt8(vector.hex[start...vector.hex.index(after: start)], radix: 16)!
            }
            #expect(CRC32C.checksum(bytes) == vector.crc, "crc32c of \(vector.hex.prefix(20))")
            #expect(CRC32C.masked(bytes) == vector.masked, "masked crc32c of \(vector.hex.prefix(20))")
        }
    }

    /// The framing by hand: 8 length bytes, their masked CRC, the data, its masked CRC.
    @Test func recordFraming() {
        let data: [UInt8] = Array("123456789".utf8)
        let record = tfRecord(data)
        let length: [UInt8] = [9, 0, 0, 0, 0, 0, 0, 0]
        let le = { (v: UInt32) in (0..<4).map { UInt8(truncatingIfNeeded: v >> ($0 * 8)) } }
        #expect(record == length + le(CRC32C.masked(length)) + data + le(CRC32C.masked(data)))
        // masked("123456789") = rotr(0xE3069283, 15) + 0xA282EAD8 = 0x2507C60D + 0xA282EAD8 = 0xC78AB0E5.
        #expect(Array(record[(record.count - 4)...]) == [0xE5, 0xB0, 0x8A, 0xC7])
    }
}
