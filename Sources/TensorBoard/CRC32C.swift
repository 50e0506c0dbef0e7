// CRC-32C (Castagnoli), the checksum of TFRecord framing: reflected polynomial 0x82F63B78, initial value and
// final xor 0xFFFFFFFF, one table lookup per byte.

enum CRC32C {
    /// table[i] is the CRC register after shifting the byte i through 8 rounds of the reflected polynomial.
    static let table: [UInt32] = (0..<256).map { index in
        var crc = UInt32(index)
        for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
        return crc
    }

    static func checksum<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }

    /// The masked form TFRecord stores, so that a CRC of data that itself holds CRCs is not degenerate.
    static func masked<Bytes: Sequence>(_ bytes: Bytes) -> UInt32 where Bytes.Element == UInt8 {
        let crc = checksum(bytes)
        return ((crc >> 15) | (crc << 17)) &+ 0xA282_EAD8
    }
}

/// One TFRecord: uint64 little-endian length, masked CRC-32C of those 8 bytes, the data, masked CRC-32C of the data.
func tfRecord(_ data: [UInt8]) -> [UInt8] {
    let length = littleEndianBytes(UInt64(data.count))
    var record = length
    record.reserveCapacity(data.count + 16)
    record += littleEndianBytes(CRC32C.masked(length))
    record += data
    record += littleEndianBytes(CRC32C.masked(data))
    return record
}

private func littleEndianBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    (0..<(T.bitWidth / 8)).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) }
}
