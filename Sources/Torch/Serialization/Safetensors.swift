import Foundation

/// Hugging Face's safetensors format: an 8-byte little-endian header length, a JSON header naming each
/// tensor's dtype, shape and byte range, then the tensors' bytes packed back to back.
/// Files are written like the Python library writes them, byte for byte.
public enum Safetensors {
    /// The format's dtype names, in the order of the Rust library's `Dtype` enum (its writer stores the
    /// largest first).
    static let dtypeNames: [(name: String, dtype: DType)] = [
        ("BOOL", .bool), ("U8", .uint8), ("I8", .int8), ("I16", .int16), ("F16", .float16),
        ("BF16", .bfloat16), ("I32", .int32), ("F32", .float32), ("F64", .float64), ("I64", .int64),
    ]
    /// The Python library refuses headers larger than this.
    static let maxHeaderLength = 100_000_000

    struct Entry {
        let name: String
        let dtype: DType
        let shape: [Int]
        let begin: Int
        let end: Int
    }

    struct Header {
        var entries: [Entry] = []
        var metadata: [String: String] = [:]
        /// Where the data area starts in the file.
        var dataStart = 0
    }

    // MARK: reading

    /// Every tensor in the file, each copied once from the memory-mapped file into libtorch.
    public static func read(_ url: URL) throws -> [String: Tensor] {
        try FileAccess.withMappedBytes(of: url) { try tensors(in: $0, source: url.path) }
    }

    /// The tensors in a whole file's bytes; `source` names the file in errors.
    static func tensors(in bytes: UnsafeRawBufferPointer, source: String) throws -> [String: Tensor] {
        let header = try parseHeader(bytes, source: source)
        var tensors: [String: Tensor] = [:]
        for e in header.entries {
            let data = UnsafeRawBufferPointer(rebasing: bytes[(header.dataStart + e.begin)..<(header.dataStart + e.end)])
            tensors[e.name] = Tensor(bytes: data, dtype: e.dtype, shape: e.shape)
        }
        return tensors
    }

    /// The `__metadata__` string map (empty when the file has none).
    public static func readMetadata(_ url: URL) throws -> [String: String] {
        try FileAccess.withMappedBytes(of: url) { try parseHeader($0, source: url.path).metadata }
    }

    /// Each tensor's dtype and shape, from the header alone.
    public static func header(of url: URL) throws -> [String: (dtype: DType, shape: [Int])] {
        try FileAccess.withMappedBytes(of: url) { bytes in
            var out: [String: (dtype: DType, shape: [Int])] = [:]
            for e in try parseHeader(bytes, source: url.path).entries { out[e.name] = (e.dtype, e.shape) }
            return out
        }
    }

    /// Parses and validates the header against the file's size, as the Python library does: every tensor's
    /// byte range matches its dtype and shape, and the ranges tile the data area without gaps or overlaps.
    static func parseHeader(_ bytes: UnsafeRawBufferPointer, source: String) throws -> Header {
        func fail(_ message: String) -> SerializationError { SerializationError("\(source): \(message)") }
        guard bytes.count >= 8 else {
            throw fail("the file holds \(bytes.count) bytes, too few for the 8-byte header length")
        }
        var length: UInt64 = 0
        for i in (0..<8).reversed() { length = length << 8 | UInt64(bytes[i]) }
        guard length <= UInt64(bytes.count - 8) else {
            throw fail("the header length is \(length) bytes, but only \(bytes.count - 8) follow it")
        }
        let headerLength = Int(length)
        guard headerLength <= maxHeaderLength else {
            throw fail("the header length is \(headerLength) bytes, more than the format's limit of \(maxHeaderLength)")
        }
        let json: JSONValue
        do {
            json = try JSONDecoder().decode(JSONValue.self, from: Data(bytes[8..<(8 + headerLength)]))
        } catch {
            throw fail("the header is not valid JSON")
        }
        guard case .object(let fields) = json else { throw fail("the header is not a JSON object") }

        var header = Header(dataStart: 8 + headerLength)
        let dataLength = bytes.count - header.dataStart
        for (name, value) in fields.sorted(by: { $0.key < $1.key }) {
            if name == "__metadata__" {
                guard case .object(let map) = value else { throw fail("__metadata__ must map strings to strings") }
                for (key, item) in map {
                    guard case .string(let s) = item else { throw fail("__metadata__ must map strings to strings") }
                    header.metadata[key] = s
                }
                continue
            }
            header.entries.append(try entry(name, value, dataLength: dataLength, fail: { fail("tensor '\(name)': \($0)") }))
        }

        // The ranges must tile the data area exactly.
        var end = 0
        for e in header.entries.sorted(by: { ($0.begin, $0.end) < ($1.begin, $1.end) }) {
            if e.begin < end {
                throw fail("tensor '\(e.name)': data_offsets [\(e.begin), \(e.end)] overlap the tensor before, which ends at \(end)")
            }
            if e.begin > end {
                throw fail("tensor '\(e.name)': data_offsets [\(e.begin), \(e.end)] leave a gap after byte \(end)")
            }
            end = e.end
        }
        guard end == dataLength else {
            throw fail("the tensors cover \(end) bytes, but the data area holds \(dataLength)")
        }
        return header
    }

    private static func entry(_ name: String, _ value: JSONValue, dataLength: Int,
                              fail: (String) -> SerializationError) throws -> Entry
    {
        guard case .object(let fields) = value else { throw fail("the entry is not a JSON object") }
        guard let dtypeField = fields["dtype"] else { throw fail("the entry has no 'dtype'") }
        guard let shapeField = fields["shape"] else { throw fail("the entry has no 'shape'") }
        guard let offsetsField = fields["data_offsets"] else { throw fail("the entry has no 'data_offsets'") }

        guard case .string(let dtypeName) = dtypeField, let dtype = dtypeNames.first(where: { $0.name == dtypeName })?.dtype
        else {
            throw fail("unsupported dtype \(dtypeField); supported: " + dtypeNames.map(\.name).joined(separator: ", "))
        }
        guard case .array(let dims) = shapeField else { throw fail("shape must be a list of non-negative integers") }
        var shape: [Int] = []
        var count = 1
        // libtorch's strides multiply every size, an empty axis counting as 1: [0, 2**40, 2**40] overflows them.
        var strides = 1
        for dim in dims {
            guard case .int(let n) = dim, n >= 0 else { throw fail("shape must be a list of non-negative integers") }
            shape.append(n)
            let (product, overflow) = count.multipliedReportingOverflow(by: n)
            let (stride, strideOverflow) = strides.multipliedReportingOverflow(by: max(n, 1))
            guard !overflow, !strideOverflow else { throw fail("shape \(shape) is too large") }
            count = product
            strides = stride
        }
        guard case .array(let offsets) = offsetsField, offsets.count == 2,
              case .int(let begin) = offsets[0], case .int(let end) = offsets[1], begin >= 0, begin <= end
        else { throw fail("data_offsets must be [begin, end] with 0 <= begin <= end") }
        let (needed, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow else { throw fail("shape \(shape) is too large") }
        guard end - begin == needed else {
            throw fail("data_offsets [\(begin), \(end)] hold \(end - begin) bytes, but \(dtypeName) \(shape) needs \(needed)")
        }
        guard end <= dataLength else {
            throw fail("data_offsets [\(begin), \(end)] run past the end of the data area, which holds \(dataLength) bytes")
        }
        return Entry(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
    }

    // MARK: writing

    /// Writes `tensors` (and `metadata`, if any) to `url` through a temporary file renamed into place.
    /// Like the Python library, the tensors are stored largest dtype first, then by name, and the header is
    /// padded with spaces to a multiple of 8 bytes. Tensors are copied out one at a time.
    public static func write(_ tensors: [String: Tensor], metadata: [String: String] = [:], to url: URL) throws {
        if tensors["__metadata__"] != nil {
            throw SerializationError("\(url.path): '__metadata__' is reserved for the metadata and cannot name a tensor")
        }
        let ordered = try tensors.map { name, tensor in
            let dtype = tensor.dtype
            guard let rank = dtypeNames.firstIndex(where: { $0.dtype == dtype }) else {
                throw SerializationError("\(url.path): tensor '\(name)': \(dtype) has no safetensors dtype")
            }
            return (name: name, tensor: tensor, dtypeName: dtypeNames[rank].name, rank: rank)
        }.sorted {
            $0.rank != $1.rank ? $0.rank > $1.rank : $0.name.utf8.lexicographicallyPrecedes($1.name.utf8)
        }

        var parts: [String] = []
        if !metadata.isEmpty {
            let pairs = metadata.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
            parts.append("\"__metadata__\":{" + pairs.map { jsonString($0.key) + ":" + jsonString($0.value) }.joined(separator: ",") + "}")
        }
        var offset = 0
        for t in ordered {
            let shape = t.tensor.shape
            let size = shape.reduce(1, *) * dtypeNames[t.rank].dtype.byteSize
            parts.append(jsonString(t.name) + ":{\"dtype\":\"\(t.dtypeName)\",\"shape\":["
                + shape.map(String.init).joined(separator: ",") + "],\"data_offsets\":[\(offset),\(offset + size)]}")
            offset += size
        }
        var json = Array(("{" + parts.joined(separator: ",") + "}").utf8)
        json += Array(repeating: UInt8(ascii: " "), count: (8 - json.count % 8) % 8)

        try FileAccess.writeAtomically(to: url) { file in
            var length = Data()
            for i in 0..<8 { length.append(UInt8(truncatingIfNeeded: json.count >> (8 * i))) }
            try file.write(length)
            try json.withUnsafeBytes { try file.write($0) }
            for t in ordered { try file.write(t.tensor.bytes()) }
        }
    }

    /// A JSON string literal escaped as serde_json escapes it (non-ASCII characters stay as UTF-8).
    static func jsonString(_ s: String) -> String {
        var out = "\""
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case let c where c.value < 0x20: out += String(format: "\\u%04x", c.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }
}

/// Any JSON value, for validating a header field by field.
enum JSONValue: Decodable, CustomStringConvertible {
    case string(String)
    case int(Int)
    case number(Double)
    case bool(Bool)
    case null
    case array([JSONValue])
    case object([String: JSONValue])

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let i = try? c.decode(Int.self) { self = .int(i) }
        else if let d = try? c.decode(Double.self) { self = .number(d) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }

    /// Compact JSON, for error messages.
    var description: String {
        switch self {
        case .string(let s): Safetensors.jsonString(s)
        case .int(let i): String(i)
        case .number(let d): String(d)
        case .bool(let b): String(b)
        case .null: "null"
        case .array(let items): "[" + items.map(\.description).joined(separator: ",") + "]"
        case .object(let fields):
            "{" + fields.sorted { $0.key < $1.key }.map { Safetensors.jsonString($0.key) + ":" + $0.value.description }
                .joined(separator: ",") + "}"
        }
    }
}
