import Foundation

/// NumPy's `.npy` format (versions 1.0, 2.0 and 3.0), for the dtypes that map to ours. Reading accepts
/// little- and big-endian data in C or Fortran order (`np.argwhere` returns Fortran-ordered arrays) and
/// returns a contiguous native tensor; files are written like `np.save` writes them, byte for byte.
public enum Npy {
    /// `\x93NUMPY`
    static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]
    /// NumPy's `descr` for each dtype it shares with us (bfloat16 has none).
    static let descrs: [(descr: String, dtype: DType)] = [
        ("<f4", .float32), ("<f2", .float16), ("<f8", .float64), ("<i8", .int64), ("<i4", .int32),
        ("<i2", .int16), ("|i1", .int8), ("|u1", .uint8), ("|b1", .bool),
    ]

    /// A parsed header: where the data starts and how many bytes it needs.
    struct Header {
        let descr: String
        let dtype: DType
        let shape: [Int]
        let dataOffset: Int
        let byteCount: Int
        /// `descr` starts with `>`: every element's bytes are reversed on reading.
        var bigEndian = false
        /// `fortran_order: True`: the first axis varies fastest in the data.
        var fortranOrder = false
    }

    // MARK: reading

    /// The array in `data`; `source` names it in errors (a file name, say).
    public static func decode(_ data: Data, source: String = "<memory>") throws -> Tensor {
        try data.withUnsafeBytes { try decode($0, source: source) }
    }

    /// The array in the file at `url`, read through a memory map.
    public static func read(_ url: URL) throws -> Tensor {
        try FileAccess.withMappedBytes(of: url) { try decode($0, source: url.path) }
    }

    /// The dtype, shape and data offset in `data`'s header, without reading the data.
    public static func header(_ data: Data, source: String) throws -> (dtype: DType, shape: [Int], dataOffset: Int) {
        let h = try data.withUnsafeBytes { try parseHeader($0, source: source) }
        return (h.dtype, h.shape, h.dataOffset)
    }

    static func decode(_ bytes: UnsafeRawBufferPointer, source: String) throws -> Tensor {
        let h = try parseHeader(bytes, source: source)
        let available = bytes.count - h.dataOffset
        guard available >= h.byteCount else {
            throw SerializationError(
                "\(source): data holds \(available) bytes, but \(h.descr) \(pythonTuple(h.shape)) needs \(h.byteCount)")
        }
        // Trailing bytes are ignored, as np.load ignores them.
        let data = UnsafeRawBufferPointer(rebasing: bytes[h.dataOffset..<(h.dataOffset + h.byteCount)])
        // Fortran order is C order of the reversed shape, transposed back.
        let stored = h.fortranOrder ? Array(h.shape.reversed()) : h.shape
        var tensor: Tensor
        if h.bigEndian && h.dtype.byteSize > 1 {
            var swapped = [UInt8](data)
            let width = h.dtype.byteSize
            for start in stride(from: 0, to: swapped.count, by: width) {
                swapped[start..<(start + width)].reverse()
            }
            tensor = swapped.withUnsafeBytes { Tensor(bytes: $0, dtype: h.dtype, shape: stored) }
        } else {
            tensor = Tensor(bytes: data, dtype: h.dtype, shape: stored)
        }
        if h.fortranOrder && h.shape.count > 1 {
            tensor = tensor.permute(Array((0..<h.shape.count).reversed())).contiguous()
        }
        return tensor
    }

    static func parseHeader(_ bytes: UnsafeRawBufferPointer, source: String) throws -> Header {
        func fail(_ message: String) -> SerializationError { SerializationError("\(source): \(message)") }
        guard bytes.count > 0, bytes.prefix(magic.count).elementsEqual(magic.prefix(bytes.count)) else {
            throw fail("not a .npy file: it does not start with \\x93NUMPY")
        }
        guard bytes.count >= 8 else {
            throw fail("truncated header: the file holds \(bytes.count) bytes, the preamble needs at least 10")
        }
        let (major, minor) = (bytes[6], bytes[7])
        guard (1...3).contains(major), minor == 0 else {
            throw fail("unsupported .npy format version \(major).\(minor) (supported: 1.0, 2.0, 3.0)")
        }
        // Version 1.0 stores the header length in 2 bytes, later versions in 4.
        let preamble = major == 1 ? 10 : 12
        guard bytes.count >= preamble else {
            throw fail("truncated header: the file holds \(bytes.count) bytes, the version \(major).0 preamble needs \(preamble)")
        }
        var headerLength = 0
        for i in (8..<preamble).reversed() { headerLength = headerLength << 8 | Int(bytes[i]) }
        guard bytes.count - preamble >= headerLength else {
            throw fail("truncated header: the header length is \(headerLength) bytes, "
                + "but only \(bytes.count - preamble) follow the preamble")
        }
        let text = Array(bytes[preamble..<(preamble + headerLength)])

        let literal: PythonLiteral
        do { literal = try PythonLiteral.parse(text) } catch {
            let shown = String(decoding: text, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            throw fail("malformed header (\(error.reason)): \(shown)")
        }
        guard case .dict(let pairs) = literal else { throw fail("malformed header: \(literal) is not a dict") }
        var fields: [String: PythonLiteral] = [:]
        for (key, value) in pairs {
            guard case .string(let name) = key else { throw fail("malformed header: key \(key) is not a string") }
            fields[name] = value
        }
        guard fields.keys.sorted() == ["descr", "fortran_order", "shape"] else {
            throw fail("malformed header: its keys are \(fields.keys.sorted()), expected [\"descr\", \"fortran_order\", \"shape\"]")
        }

        // '>' is big-endian; '=' (native) and '|' (no order) spell the same dtypes on this little-endian host.
        let found = fields["descr"]!
        guard case .string(let descr) = found, let order = descr.first, "<>=|".contains(order),
              let dtype = descrs.first(where: { $0.descr.dropFirst() == descr.dropFirst() })?.dtype
        else {
            throw fail("unsupported dtype \(found); supported: " + descrs.map(\.descr).joined(separator: ", "))
        }
        guard case .bool(let fortran) = fields["fortran_order"]! else {
            throw fail("malformed header: fortran_order is \(fields["fortran_order"]!), expected True or False")
        }
        let shapeField = fields["shape"]!
        guard case .tuple(let items) = shapeField else {
            throw fail("malformed header: shape is \(shapeField), expected a tuple of non-negative integers")
        }
        var shape: [Int] = []
        var count = 1
        // libtorch's strides multiply every size, an empty axis counting as 1: (0, 2**40, 2**40) overflows them.
        var strides = 1
        for item in items {
            guard case .int(let n) = item, n >= 0 else {
                throw fail("malformed header: shape is \(shapeField), expected a tuple of non-negative integers")
            }
            shape.append(n)
            let (product, overflow) = count.multipliedReportingOverflow(by: n)
            let (stride, strideOverflow) = strides.multipliedReportingOverflow(by: max(n, 1))
            guard !overflow, !strideOverflow else { throw fail("shape \(shapeField) is too large") }
            count = product
            strides = stride
        }
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
        guard !overflow else { throw fail("shape \(shapeField) is too large") }
        return Header(descr: descr, dtype: dtype, shape: shape, dataOffset: preamble + headerLength,
                      byteCount: byteCount, bigEndian: descr.first == ">", fortranOrder: fortran)
    }

    // MARK: writing

    /// The .npy bytes of `tensor`, exactly as `np.save` (version 1) or
    /// `np.lib.format.write_array(f, a, version=(2, 0))` (version 2) writes them.
    public static func encode(_ tensor: Tensor, version: Int = 1) throws -> Data {
        let header = try headerBytes(dtype: tensor.dtype, shape: tensor.shape, version: version)
        let body = tensor.bytes()
        var data = Data(capacity: header.count + body.count)
        data.append(header)
        data.append(body)
        return data
    }

    /// Writes `tensor` to `url` as `encode` does, through a temporary file renamed into place.
    public static func write(_ tensor: Tensor, to url: URL, version: Int = 1) throws {
        let header: Data
        do {
            header = try headerBytes(dtype: tensor.dtype, shape: tensor.shape, version: version)
        } catch let error as SerializationError {
            throw SerializationError("\(url.path): \(error.message)")
        }
        try FileAccess.writeAtomically(to: url) { file in
            try file.write(header)
            try file.write(tensor.bytes())
        }
    }

    static func headerBytes(dtype: DType, shape: [Int], version: Int) throws -> Data {
        guard let descr = descrs.first(where: { $0.dtype == dtype })?.descr else {
            throw SerializationError("cannot write \(dtype) as .npy: NumPy has no \(dtype) dtype; convert with .to(.float32) first")
        }
        guard version == 1 || version == 2 else {
            throw SerializationError("cannot write .npy format version \(version) (supported: 1, 2)")
        }
        var text = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(pythonTuple(shape)), }"
        // NumPy leaves room for the first axis to grow to 21 digits in place.
        if let first = shape.first { text += String(repeating: " ", count: max(0, 21 - String(first).count)) }
        // The preamble, header and final newline fill a multiple of 64 bytes; NumPy pads 1...64 spaces.
        let preamble = version == 1 ? 10 : 12
        let padding = 64 - (preamble + text.utf8.count + 1) % 64
        text += String(repeating: " ", count: padding) + "\n"
        let length = text.utf8.count
        if version == 1 && length > 0xFFFF {
            throw SerializationError(
                "cannot write .npy format version 1.0: the header needs \(length) bytes, more than 65535; use version 2")
        }
        var data = Data(magic)
        data.append(contentsOf: [UInt8(version), 0])
        for i in 0..<(preamble - 8) { data.append(UInt8(truncatingIfNeeded: length >> (8 * i))) }
        data.append(contentsOf: Array(text.utf8))
        return data
    }

    /// Python's `repr` of a shape tuple: `()`, `(3,)`, `(2, 3)`.
    static func pythonTuple(_ shape: [Int]) -> String {
        shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
    }
}
