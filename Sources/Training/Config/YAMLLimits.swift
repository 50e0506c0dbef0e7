import Torch
import Yams

/// Bounds on a YAML document before and after Yams composes it: Yams' composer recurses once per nesting
/// level (3,000 levels overflow the stack) and aliases expand without limit ("billion laughs"), so a
/// config is checked as raw text first and as a node tree second.
enum YAMLLimits {
    static let maxBytes = 1 << 20
    static let maxDepth = 64
    static let maxNodes = 100_000

    /// Throws when `text` is too large or nests too deeply for a config (checked on the raw text, before parsing).
    static func checkText(_ text: String, source: String) throws {
        let bytes = text.utf8.count
        if bytes > maxBytes {
            throw ConfigError("\(source): \(bytes) bytes is too large for a config (at most \(maxBytes))")
        }
        // An over-estimate of the nesting: open flow brackets plus, per line, the indentation and the
        // block-sequence dashes that start it ("- - - x" nests three sequences).
        var flow = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            var indent = 0, dashes = 0, atStart = true, quote: Character? = nil
            var previous: Character = " "
            for ch in line {
                if let q = quote {
                    if ch == q { quote = nil }
                    continue
                }
                if atStart {
                    if ch == " " { indent += 1; previous = ch; continue }
                    if ch == "-" { dashes += 1; previous = ch; continue }
                    atStart = false
                }
                if ch == "#" && (previous == " " || previous == "\t") { break }
                switch ch {
                case "\"", "'": quote = ch
                case "[", "{":
                    flow += 1
                    if flow + indent / 2 + dashes > maxDepth { throw tooDeep(source) }
                case "]", "}": flow = max(0, flow - 1)
                default: break
                }
                previous = ch
            }
            if flow + indent / 2 + dashes > maxDepth { throw tooDeep(source) }
        }
    }

    static func tooDeep(_ source: String) -> ConfigError {
        ConfigError("\(source): the YAML nests deeper than \(maxDepth) levels; a config needs 2 (section.key)")
    }

    /// Throws when the composed tree (aliases expanded) has more than `maxNodes` nodes.
    static func checkTree(_ node: Node, source: String) throws {
        var budget = maxNodes
        func visit(_ n: Node) throws {
            budget -= 1
            if budget < 0 {
                throw ConfigError("\(source): the YAML expands to more than \(maxNodes) values (aliases?); a config has about 100")
            }
            switch n {
            case .mapping(let m): for (k, v) in m { try visit(k); try visit(v) }
            case .sequence(let s): for v in s { try visit(v) }
            case .scalar(let s) where s.style == .plain && isSexagesimal(s.string):
                // YAML 1.1 reads `1:30` as 90; Yams' base-60 integer parser traps on overflow (found by fuzzing)
                throw ConfigError("\(source): '\(s.string.prefix(40))' is a base-60 (sexagesimal) number, which a config "
                                  + "never needs; quote it if it is text")
            default: break
            }
        }
        try visit(node)
    }

    /// A plain scalar YAML 1.1 resolves as a base-60 integer or float: digits, then `:`-separated groups.
    static func isSexagesimal(_ text: String) -> Bool {
        text.range(of: #"^[-+]?[0-9][0-9_]*(:[0-9_]*)+(\.[0-9_]*)?$"#, options: .regularExpression) != nil
    }
}

extension YAMLLimits {
    /// Throws when a mapping gives a key twice. YAML forbids it, but Yams keeps both pairs and the decoder
    /// takes one silently, so `epochs: 3 ... epochs: 40` or a second `train:` section would quietly win or lose.
    static func checkDuplicateKeys(_ node: Node, source: String, path: [String] = []) throws {
        switch node {
        case .mapping(let mapping):
            var seen: [String: Node] = [:]
            for (key, value) in mapping {
                let name = key.string ?? "?"
                let dotted = (path + [name]).joined(separator: ".")
                if let first = seen[name] {
                    let lines = [first.mark, key.mark].compactMap { $0.map { "\($0.line)" } }
                    let where_ = lines.count == 2 ? " (lines \(lines[0]) and \(lines[1]))" : ""
                    let what = path.isEmpty && value.mapping != nil ? "section" : "key"
                    throw ConfigError("\(source): duplicate \(what) '\(dotted)'\(where_); give each key once")
                }
                seen[name] = key
                try checkDuplicateKeys(value, source: source, path: path + [name])
            }
        case .sequence(let sequence):
            for (i, value) in sequence.enumerated() {
                try checkDuplicateKeys(value, source: source, path: path + ["\(i)"])
            }
        case .scalar:
            break
        }
    }
}
