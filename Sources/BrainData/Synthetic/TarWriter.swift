import Foundation

/// Writes tar archives the way webdataset's `TarWriter` does (Python `tarfile`, PAX format, float mtime):
/// every member is preceded by its own PAX extended header (typeflag `x`, name `././@PaxHeader`) that
/// carries `mtime`, then a ustar header, then the data padded to 512 bytes. The archive ends with two zero
/// blocks and is padded to a 10,240-byte record. A sample of the four NSD `behav` members therefore
/// takes exactly 12,800 bytes, as in MindEye2's release.
public struct TarWriter {
    public static let blockSize = 512
    public static let recordSize = 20 * 512

    /// Seconds since 1970 stamped on every member (webdataset uses `time.time()`; a fixed value keeps
    /// archives reproducible).
    public var mtime: Double
    public var user: String
    public var group: String
    public var mode: Int
    public private(set) var bytes = Data()

    public init(mtime: Double = 1_700_000_000.0, user: String = "bigdata", group: String = "bigdata",
                mode: Int = 0o444)
    {
        self.mtime = mtime
        self.user = user
        self.group = group
        self.mode = mode
    }

    /// Appends one sample: members `key.name` in sorted name order, as webdataset writes them.
    public mutating func writeSample(key: String, members: [String: Data]) throws {
        for name in members.keys.sorted() { try write(name: key + "." + name, data: members[name]!) }
    }

    /// Appends one regular file with its PAX header.
    public mutating func write(name: String, data: Data) throws {
        guard name.utf8.count <= 100, name.allSatisfy(\.isASCII) else {
            throw DataError("tar member name '\(name)': expected at most 100 ASCII characters")
        }
        let records = Data(Self.paxRecord(key: "mtime", value: String(mtime)).utf8)
        bytes.append(Self.header(name: "././@PaxHeader", mode: 0, size: records.count, mtime: 0, type: "x",
                                 user: "", group: ""))
        append(padded: records)
        bytes.append(Self.header(name: name, mode: mode, size: data.count, mtime: Int(mtime), type: "0",
                                 user: user, group: group))
        append(padded: data)
    }

    /// The archive with its end marker (two zero blocks) and record padding.
    public func finished() -> Data {
        var out = bytes
        out.append(Data(count: 2 * Self.blockSize))
        let rest = out.count % Self.recordSize
        if rest != 0 { out.append(Data(count: Self.recordSize - rest)) }
        return out
    }

    /// Writes the finished archive to `url`.
    public func write(to url: URL) throws {
        do { try finished().write(to: url) } catch {
            throw DataError("\(url.path): cannot write tar archive (\(error.localizedDescription))")
        }
    }

    private mutating func append(padded data: Data) {
        bytes.append(data)
        let rest = data.count % Self.blockSize
        if rest != 0 { bytes.append(Data(count: Self.blockSize - rest)) }
    }

    /// `"%d key=value\n"` where the leading length counts itself (POSIX pax record).
    static func paxRecord(key: String, value: String) -> String {
        let base = key.utf8.count + value.utf8.count + 3
        var length = 0
        while true {
            let n = base + String(length).count
            if n == length { break }
            length = n
        }
        return "\(length) \(key)=\(value)\n"
    }

    /// One 512-byte ustar header, field by field as Python's `tarfile._create_header` lays it out.
    static func header(name: String, mode: Int, size: Int, mtime: Int, type: Character, user: String,
                       group: String) -> Data
    {
        var h = [UInt8](repeating: 0, count: blockSize)
        func put(_ text: String, at offset: Int) {
            for (i, b) in text.utf8.enumerated() { h[offset + i] = b }
        }
        func octal(_ value: Int, digits: Int) -> String {
            let s = String(value, radix: 8)
            return String(repeating: "0", count: Swift.max(0, digits - 1 - s.count)) + s
        }
        put(name, at: 0)
        put(octal(mode & 0o7777, digits: 8), at: 100)
        put(octal(0, digits: 8), at: 108)  // uid
        put(octal(0, digits: 8), at: 116)  // gid
        put(octal(size, digits: 12), at: 124)
        put(octal(mtime, digits: 12), at: 136)
        put("        ", at: 148)
        put(String(type), at: 156)
        put("ustar\u{0}00", at: 257)
        put(user, at: 265)
        put(group, at: 297)
        let checksum = h.reduce(0) { $0 + Int($1) }
        let field = octal(checksum, digits: 7)
        put(field, at: 148)
        h[148 + field.utf8.count] = 0
        h[155] = 0x20
        return Data(h)
    }
}
