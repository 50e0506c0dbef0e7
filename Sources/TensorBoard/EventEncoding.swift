// The protobuf wire form of the two messages an event file of scalars holds, `tensorflow.Event` and
// `tensorflow.Summary` (field numbers and types in Proto/event.proto and Proto/summary.proto, tensorflow's).
// Written out here instead of through SwiftProtobuf's generated code: two messages of five fields do not
// warrant a 29,000-line runtime in every build of the `voxelformer` binary. The bytes are what protoc's code
// writes (fields in number order; proto3's defaults omitted, oneof members always written);
// TensorBoardWriterTests compares them with a file tensorboard's own Python writer made, and
// TensorBoardReaderTests reads ours back with tensorboard's reader.

/// Protobuf's wire form of the few field kinds the two messages use.
struct ProtoWriter {
    private(set) var bytes: [UInt8] = []

    private enum WireType: UInt64 {
        case varint = 0, fixed64 = 1, lengthDelimited = 2, fixed32 = 5
    }

    private mutating func tag(_ field: UInt64, _ type: WireType) { varint(field << 3 | type.rawValue) }

    private mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// `double`: 8 little-endian bytes.
    mutating func double(_ field: UInt64, _ value: Double) {
        tag(field, .fixed64)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 }
    }

    /// `float`: 4 little-endian bytes.
    mutating func float(_ field: UInt64, _ value: Float) {
        tag(field, .fixed32)
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes += $0 }
    }

    /// `int64`: a varint of the two's complement (ten bytes when negative).
    mutating func int64(_ field: UInt64, _ value: Int64) {
        tag(field, .varint)
        varint(UInt64(bitPattern: value))
    }

    /// `string` or `bytes`, and embedded messages: the length, then the bytes.
    mutating func lengthDelimited(_ field: UInt64, _ payload: [UInt8]) {
        tag(field, .lengthDelimited)
        varint(UInt64(payload.count))
        bytes += payload
    }
}

/// `tensorflow.Event` with one of its `what` members.
enum EventEncoding {
    enum What {
        /// field 3, `file_version`
        case fileVersion(String)
        /// field 5, `summary`, holding one `Summary.Value` per scalar: field 1 `tag`, field 2 `simple_value`.
        case scalars([(tag: String, simpleValue: Float)])
    }

    static func event(wallTime: Double, step: Int64, _ what: What) -> [UInt8] {
        var event = ProtoWriter()
        // proto3 leaves out a scalar at its default; a double's default is +0.0 only (-0.0 is written).
        if wallTime.bitPattern != 0 { event.double(1, wallTime) }
        if step != 0 { event.int64(2, step) }
        switch what {
        case .fileVersion(let version):
            event.lengthDelimited(3, Array(version.utf8))
        case .scalars(let scalars):
            var summary = ProtoWriter()
            for scalar in scalars {
                var value = ProtoWriter()
                if !scalar.tag.isEmpty { value.lengthDelimited(1, Array(scalar.tag.utf8)) }
                value.float(2, scalar.simpleValue)
                summary.lengthDelimited(1, value.bytes)
            }
            event.lengthDelimited(5, summary.bytes)
        }
        return event.bytes
    }
}
