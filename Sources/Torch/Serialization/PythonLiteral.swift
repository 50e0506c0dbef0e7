/// The Python literals that a .npy header is written in (`{'descr': '<f4', 'fortran_order': False,
/// 'shape': (2, 3), }`): a dict of strings, booleans, None, integers, tuples and lists.
indirect enum PythonLiteral: CustomStringConvertible {
    case string(String)
    case int(Int)
    case bool(Bool)
    case none
    case tuple([PythonLiteral])
    case list([PythonLiteral])
    case dict([(key: PythonLiteral, value: PythonLiteral)])

    /// Python's `repr`, for error messages.
    var description: String {
        switch self {
        case .string(let s): "'\(s)'"
        case .int(let i): String(i)
        case .bool(let b): b ? "True" : "False"
        case .none: "None"
        case .tuple(let items): items.count == 1 ? "(\(items[0]),)" : "(" + items.map(\.description).joined(separator: ", ") + ")"
        case .list(let items): "[" + items.map(\.description).joined(separator: ", ") + "]"
        case .dict(let pairs): "{" + pairs.map { "\($0.key): \($0.value)" }.joined(separator: ", ") + "}"
        }
    }

    /// Parses one literal that fills `text` (surrounding whitespace allowed). The error is a short reason.
    static func parse(_ text: [UInt8]) throws(ParseFailure) -> PythonLiteral {
        var parser = Parser(bytes: text)
        let value = try parser.value()
        parser.skipSpace()
        if parser.index < text.count { throw parser.unexpected() }
        return value
    }

    struct ParseFailure: Error { let reason: String }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0
        var depth = 0

        mutating func skipSpace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }
        func unexpected() -> ParseFailure {
            guard index < bytes.count else { return ParseFailure(reason: "unexpected end") }
            let c = bytes[index]
            let shown = (0x20..<0x7F).contains(c) ? "'\(Character(UnicodeScalar(c)))'" : "byte \(c)"
            return ParseFailure(reason: "unexpected \(shown) at offset \(index)")
        }

        mutating func value() throws(ParseFailure) -> PythonLiteral {
            skipSpace()
            guard index < bytes.count else { throw unexpected() }
            switch bytes[index] {
            case UInt8(ascii: "'"), UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "("):
                // `(3)` is a parenthesised 3, not a tuple; `(3,)` is.
                let (items, comma) = try sequence(close: UInt8(ascii: ")"))
                return items.count == 1 && !comma ? items[0] : .tuple(items)
            case UInt8(ascii: "["): return .list(try sequence(close: UInt8(ascii: "]")).items)
            case UInt8(ascii: "{"): return try dict()
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .int(try integer())
            default:
                for (word, literal) in [("True", PythonLiteral.bool(true)), ("False", .bool(false)), ("None", .none)]
                where bytes[index...].starts(with: word.utf8) {
                    index += word.utf8.count
                    return literal
                }
                throw unexpected()
            }
        }

        mutating func string() throws(ParseFailure) -> String {
            let quote = bytes[index]
            index += 1
            var out: [UInt8] = []
            while index < bytes.count, bytes[index] != quote {
                if bytes[index] == UInt8(ascii: "\\") { index += 1 }
                guard index < bytes.count else { break }
                out.append(bytes[index])
                index += 1
            }
            guard index < bytes.count else { throw ParseFailure(reason: "unterminated string") }
            index += 1
            return String(decoding: out, as: UTF8.self)
        }

        mutating func integer() throws(ParseFailure) -> Int {
            let start = index
            if bytes[index] == UInt8(ascii: "-") { index += 1 }
            while index < bytes.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index]) { index += 1 }
            let digits = String(decoding: bytes[start..<index], as: UTF8.self)
            // Python 2 wrote long integers with an `L` suffix: `(3L, 4L)`.
            if index < bytes.count, bytes[index] == UInt8(ascii: "L") { index += 1 }
            guard let value = Int(digits) else {
                throw ParseFailure(reason: "integer '\(digits)' at offset \(start) is out of range")
            }
            return value
        }

        mutating func nested<R>(_ body: (inout Parser) throws(ParseFailure) -> R) throws(ParseFailure) -> R {
            depth += 1
            defer { depth -= 1 }
            if depth > 32 { throw ParseFailure(reason: "nested more than 32 levels deep") }
            index += 1
            return try body(&self)
        }

        /// Items up to `close`, a trailing comma allowed; `comma` says whether any comma was seen.
        mutating func sequence(close: UInt8) throws(ParseFailure) -> (items: [PythonLiteral], comma: Bool) {
            try nested { (p: inout Parser) throws(ParseFailure) in
                var items: [PythonLiteral] = []
                var comma = false
                while true {
                    p.skipSpace()
                    if p.index < p.bytes.count, p.bytes[p.index] == close { p.index += 1; return (items, comma) }
                    items.append(try p.value())
                    p.skipSpace()
                    guard p.index < p.bytes.count else { throw p.unexpected() }
                    if p.bytes[p.index] == UInt8(ascii: ",") {
                        p.index += 1
                        comma = true
                    } else if p.bytes[p.index] != close {
                        throw p.unexpected()
                    }
                }
            }
        }

        mutating func dict() throws(ParseFailure) -> PythonLiteral {
            try nested { (p: inout Parser) throws(ParseFailure) in
                var pairs: [(key: PythonLiteral, value: PythonLiteral)] = []
                while true {
                    p.skipSpace()
                    if p.index < p.bytes.count, p.bytes[p.index] == UInt8(ascii: "}") { p.index += 1; return .dict(pairs) }
                    let key = try p.value()
                    p.skipSpace()
                    guard p.index < p.bytes.count, p.bytes[p.index] == UInt8(ascii: ":") else { throw p.unexpected() }
                    p.index += 1
                    pairs.append((key, try p.value()))
                    p.skipSpace()
                    guard p.index < p.bytes.count else { throw p.unexpected() }
                    if p.bytes[p.index] == UInt8(ascii: ",") {
                        p.index += 1
                    } else if p.bytes[p.index] != UInt8(ascii: "}") {
                        throw p.unexpected()
                    }
                }
            }
        }
    }
}
