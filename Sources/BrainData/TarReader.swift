import Foundation

/// One regular file inside a tar archive.
public struct TarMember: Sendable, Equatable {
    public let name: String
    public let data: Data
    /// Byte offset of the member's first header (its PAX or GNU long-name header when it has one).
    public let offset: Int
}

/// The members of one webdataset sample: `sample000000001.behav.npy` has key `sample000000001` and
/// extension `behav.npy` (the key is everything before the first dot of the file name, with its folder).
public struct TarSample: Sendable {
    public let key: String
    /// Member data by extension (`behav.npy`, `past_behav.npy`, ...).
    public let members: [String: Data]
}

/// Reads tar archives as webdataset writes them: POSIX archives where every member carries its own PAX
/// extended header (typeflag `x`), plus plain ustar and GNU long names (typeflag `L`). The file is memory
/// mapped and members are sliced out of it, so a 38 MB shard costs no copy.
public struct TarReader: Sendable {
    public let url: URL
    let bytes: Data

    public init(_ url: URL) throws {
        self.url = url
        try DataError.checkRegularFile(url, expected: "a tar shard")
        do {
            bytes = try Data(contentsOf: url, options: .alwaysMapped)
        } catch {
            throw DataError("\(url.path): cannot read (\(error.localizedDescription))")
        }
    }

    /// The regular-file members in archive order. Directories, links and global PAX headers are skipped.
    public func members() throws -> [TarMember] {
        var result: [TarMember] = []
        var offset = 0
        var pendingName: String?
        var pendingSize: Int?
        var memberStart = 0
        var startsPending = false
        let total = bytes.count
        while offset + 512 <= total {
            let header = bytes.subdata(in: bytes.startIndex + offset ..< bytes.startIndex + offset + 512)
            if header.allSatisfy({ $0 == 0 }) { return result }  // end-of-archive marker
            if !startsPending { memberStart = offset }
            let rawName = field(header, 0, 100)
            let name = pendingName ?? headerName(header, rawName)
            guard verifyChecksum(header) else {
                throw DataError("\(url.path): corrupt tar header at offset \(offset) (member '\(name)'): bad checksum")
            }
            let typeflag = header[header.startIndex + 156]
            let size = try pendingSize ?? headerSize(header, offset: offset, name: name)
            let dataStart = offset + 512
            guard size >= 0 else {
                throw DataError("\(url.path): corrupt tar header at offset \(offset) (member '\(name)'): negative size \(size)")
            }
            // Compared by subtraction: a declared size near Int.max must not overflow.
            guard size <= total - dataStart else {
                throw DataError("\(url.path): truncated tar: member '\(name)' at offset \(memberStart) needs \(size) "
                    + "bytes of data from offset \(dataStart), but the file ends at \(total)")
            }
            let payload = bytes.subdata(in: bytes.startIndex + dataStart ..< bytes.startIndex + dataStart + size)
            offset = dataStart + (size + 511) / 512 * 512
            switch typeflag {
            case UInt8(ascii: "x"):
                let records = try paxRecords(payload, offset: memberStart)
                if let path = records["path"] { pendingName = path }
                if let s = records["size"], let value = Int(s) { pendingSize = value }
                startsPending = true
                continue
            case UInt8(ascii: "L"):
                pendingName = String(decoding: payload.prefix { $0 != 0 }, as: UTF8.self)
                startsPending = true
                continue
            case UInt8(ascii: "g"), UInt8(ascii: "K"):
                continue
            case 0, UInt8(ascii: "0"), UInt8(ascii: "7"):
                result.append(TarMember(name: name, data: payload, offset: memberStart))
            default:
                break  // directories, links, devices
            }
            pendingName = nil
            pendingSize = nil
            startsPending = false
        }
        if startsPending {
            // a PAX header that only carries mtime (webdataset's) does not name its member
            let member = pendingName.map { "member '\($0)'" } ?? "the member"
            throw DataError("\(url.path): truncated tar: \(member) at offset \(memberStart) ends after its "
                + "extended header (file ends at \(total))")
        }
        if offset < total {
            throw DataError("\(url.path): truncated tar: incomplete header at offset \(offset) (file ends at \(total))")
        }
        return result
    }

    /// Members grouped into samples by key, in archive order (webdataset keeps a sample's members together).
    public func samples() throws -> [TarSample] {
        var result: [TarSample] = []
        var key: String?
        var current: [String: Data] = [:]
        for member in try members() {
            let (k, ext) = TarReader.splitKey(member.name)
            if k != key, let done = key {
                result.append(TarSample(key: done, members: current))
                current = [:]
            }
            key = k
            current[ext] = member.data
        }
        if let done = key { result.append(TarSample(key: done, members: current)) }
        return result
    }

    /// `dir/sample000000001.behav.npy` → (`dir/sample000000001`, `behav.npy`), as webdataset splits names.
    public static func splitKey(_ name: String) -> (key: String, ext: String) {
        let slash = name.lastIndex(of: "/").map { name.index(after: $0) } ?? name.startIndex
        guard let dot = name[slash...].firstIndex(of: ".") else { return (name, "") }
        return (String(name[..<dot]), String(name[name.index(after: dot)...]))
    }

    // MARK: header fields

    private func field(_ header: Data, _ start: Int, _ length: Int) -> String {
        let slice = header[header.startIndex + start ..< header.startIndex + start + length]
        return String(decoding: slice.prefix { $0 != 0 }, as: UTF8.self)
    }

    /// ustar splits long names into `prefix/name`.
    private func headerName(_ header: Data, _ name: String) -> String {
        let magic = field(header, 257, 5)
        if magic == "ustar" {
            let prefix = field(header, 345, 155)
            if !prefix.isEmpty { return prefix + "/" + name }
        }
        return name
    }

    /// Octal, or GNU's base-256 when the high bit of the first byte is set.
    private func headerSize(_ header: Data, offset: Int, name: String) throws -> Int {
        let raw = header[header.startIndex + 124 ..< header.startIndex + 136]
        if let first = raw.first, first & 0x80 != 0 {
            // The flag bit starts a positive big-endian number; 0xff starts a negative one, never a size.
            var size = first == 0xff ? -1 : Int(first & 0x7f)
            for byte in raw.dropFirst() {
                guard size >= 0, size <= Int.max >> 8 else {
                    throw DataError("\(url.path): corrupt tar header at offset \(offset) (member '\(name)'): "
                        + "base-256 size out of range")
                }
                size = size << 8 | Int(byte)
            }
            return size
        }
        let text = String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self).trimmingCharacters(in: .whitespaces)
        guard let size = Int(text.isEmpty ? "0" : text, radix: 8) else {
            throw DataError("\(url.path): corrupt tar header at offset \(offset) (member '\(name)'): size '\(text)'")
        }
        return size
    }

    private func verifyChecksum(_ header: Data) -> Bool {
        let stored = field(header, 148, 8).trimmingCharacters(in: CharacterSet(charactersIn: " \0"))
        guard let expected = Int(stored, radix: 8) else { return false }
        var sum = 0
        for (i, byte) in header.enumerated() { sum += (148..<156).contains(i) ? 32 : Int(byte) }
        return sum == expected
    }

    /// PAX records: `"<length> <key>=<value>\n"`, length counting the whole record.
    private func paxRecords(_ payload: Data, offset: Int) throws -> [String: String] {
        var records: [String: String] = [:]
        let bytes = [UInt8](payload)
        var i = 0
        while i < bytes.count, bytes[i] != 0 {
            guard let space = bytes[i...].firstIndex(of: UInt8(ascii: " ")),
                  let length = Int(String(decoding: bytes[i..<space], as: UTF8.self)),
                  length > space + 1 - i, length <= bytes.count - i
            else {
                throw DataError("\(url.path): corrupt PAX header at offset \(offset)")
            }
            let record = bytes[(space + 1)..<(i + length - 1)]
            if let eq = record.firstIndex(of: UInt8(ascii: "=")) {
                records[String(decoding: record[record.startIndex..<eq], as: UTF8.self)] =
                    String(decoding: record[(eq + 1)...], as: UTF8.self)
            }
            i += length
        }
        return records
    }
}
