import Foundation
import Torch
import Yams

/// A run's whole config, for any model family: its own sections (`model`, `prior`, ...) beside the shared
/// `data`, `train`, `eval` and `run_dir`, and a top-level `family` key naming the family. Loaded from a YAML
/// preset with Hydra-style dotted overrides (`model.nat_depth=2`); unknown keys and ill-typed values throw
/// `ConfigError` naming the key. A family's config declares its fields and sections; the loading is here.
public protocol LoadableRunConfiguration: Codable, Equatable, Sendable {
    /// The value of the `family` key (`voxelformer`, `mindeye2`).
    static var familyName: String { get }
    /// The top-level keys besides `family`, in the order written.
    static var sectionNames: [String] { get }
    /// The keys each mapping section accepts; sections not listed hold a scalar (`run_dir`).
    static var allowedKeys: [String: [String]] { get }
    /// Keys a resumed run may change (`eval.*` for a whole section).
    static var resumableKeys: [String] { get }
    init()
    var runDir: String { get set }
    /// Throws `ConfigError` naming the key for values that decode but cannot run.
    func validate() throws
}

/// A run config with the NSD sections the generic `Trainer` reads. `LoadableRunConfiguration` is the
/// loading alone, for a family with its own data and loop (the encoder, Training/Encoding).
public protocol RunConfiguration: LoadableRunConfiguration {
    var data: DataConfig { get set }
    var train: TrainConfig { get set }
    var eval: EvalConfig { get set }
}

/// A config's `family` key, read before choosing the config type to decode it with.
public enum RunConfigFamily {
    /// The `family` of a YAML config (VoxelFormer when absent: configs before families had no such key).
    public static func name(yaml text: String, source: String) throws -> String {
        try YAMLLimits.checkText(text, source: source)
        let root: Node?
        do { root = try Yams.compose(yaml: text) } catch { throw ConfigError("\(source): not valid YAML: \(error)") }
        guard let value = root?["family"] else { return "voxelformer" }
        guard let name = value.string, !name.isEmpty else {
            throw ConfigError("\(source): family: expected a family's name (voxelformer, mindeye2, brainx, encoding), found \(value.scalar == nil ? "a list or mapping" : "nothing")")
        }
        return name
    }

    /// The family of the config file at `path` (nil: the defaults, VoxelFormer).
    public static func name(path: String?) throws -> String {
        guard let path, let text = try? String(contentsOfFile: path, encoding: .utf8) else { return "voxelformer" }
        return try name(yaml: text, source: path)
    }
}

extension LoadableRunConfiguration {
    /// Reads `path` (or the defaults when nil), applies `overrides` (`section.key=value`, values in YAML
    /// syntax) and validates. Unknown keys and ill-typed values throw `ConfigError` naming the key.
    public static func load(path: String?, overrides: [String] = []) throws -> Self {
        guard let path else { return try compose(yaml: nil, source: "overrides", overrides: overrides) }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw ConfigError("\(path): no such config file")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        let type = try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType
        guard !isDirectory.boolValue, type == .typeRegular else {
            throw ConfigError("\(path): not a regular file; expected a YAML config")
        }
        if size > YAMLLimits.maxBytes {
            throw ConfigError("\(path): \(size) bytes is too large for a config (at most \(YAMLLimits.maxBytes))")
        }
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigError("\(path): cannot read the config file (UTF-8 text expected)")
        }
        return try compose(yaml: text, source: path, overrides: overrides)
    }

    /// Parses a YAML document (a checkpoint's embedded config, say) with the same checks as `load`; every
    /// error names `source` first, since the document has no file of its own.
    public static func parse(yaml text: String, source: String = "the config", overrides: [String] = []) throws -> Self {
        do {
            return try compose(yaml: text, source: source, overrides: overrides)
        } catch let error as ConfigError where !error.message.hasPrefix(source) {
            throw ConfigError("\(source): \(error.message)")
        }
    }

    static func compose(yaml text: String?, source: String, overrides: [String]) throws -> Self {
        var root: Node = [:]
        if let text {
            try YAMLLimits.checkText(text, source: source)
            do {
                root = try Yams.compose(yaml: text) ?? [:]
            } catch {
                throw ConfigError("\(source): not valid YAML: \(error)")
            }
            try YAMLLimits.checkTree(root, source: source)
            try YAMLLimits.checkDuplicateKeys(root, source: source)
        }
        for o in overrides { root = try apply(override: o, to: root) }
        try checkKeys(root, source: overrides.isEmpty ? source : "\(source) with overrides")
        // keys a document leaves out take this family's defaults (MindEye2's max_lr is not VoxelFormer's)
        if let defaults = defaultsNode { root = merged(root, over: defaults) }
        do {
            let config = try YAMLDecoder().decode(Self.self, from: Yams.serialize(node: root))
            try config.validate()
            return config
        } catch let error as DecodingError {
            throw ConfigError(describe(error, root: root))
        }
    }

    /// `document` with every key it lacks taken from `defaults`, section by section.
    private static func merged(_ document: Node, over defaults: Node) -> Node {
        guard case .mapping(var out) = defaults, case .mapping(let mine) = document else { return document }
        for (k, v) in mine { out[k] = out[k].map { merged(v, over: $0) } ?? v }
        return .mapping(out)
    }

    /// Sets one dotted key: `model.nat_depth=2`, `train.max_lr=1e-4`, `data.train_subjects=[1,2]`.
    static func apply(override: String, to root: Node) throws -> Node {
        guard let eq = override.firstIndex(of: "=") else {
            throw ConfigError("override '\(override)': expected key=value, e.g. model.nat_depth=2")
        }
        let path = override[..<eq].split(separator: ".").map(String.init)
        let text = String(override[override.index(after: eq)...])
        guard !path.isEmpty else { throw ConfigError("override '\(override)': the key is empty") }
        try YAMLLimits.checkText(text, source: "override \(path.joined(separator: "."))")
        // an empty value (`key=`) composes to nothing: it stays the empty string
        let value = ((try? Yams.compose(yaml: text)) ?? nil) ?? Node(text)
        try YAMLLimits.checkTree(value, source: "override \(path.joined(separator: "."))")
        return try set(value, at: path[...], in: root, full: path.joined(separator: "."))
    }

    private static func set(_ value: Node, at path: ArraySlice<String>, in node: Node, full: String) throws -> Node {
        guard case .mapping(var mapping) = node else {
            throw ConfigError("override \(full): '\(path.first ?? "")' is not inside a section")
        }
        let key = path.first!
        if path.count == 1 {
            mapping[Node(key)] = value
        } else {
            let child = mapping[Node(key)] ?? [:]
            mapping[Node(key)] = try set(value, at: path.dropFirst(), in: child, full: full)
        }
        return .mapping(mapping)
    }

    private static func checkKeys(_ root: Node, source: String) throws {
        let sections = ["family"] + sectionNames
        guard case .mapping(let top) = root else {
            throw ConfigError("\(source): the config must be a mapping of sections (\(sections.joined(separator: ", ")))")
        }
        for (k, v) in top {
            let name = k.string ?? "?"
            guard sections.contains(name) else {
                throw ConfigError("unknown key '\(name)'; allowed: \(sections.joined(separator: ", "))")
            }
            if name == "family", v.string != familyName {
                throw ConfigError("family: this is read as a \(familyName) config, but its family is '\(v.string ?? "?")'")
            }
            guard let allowed = allowedKeys[name] else {
                try checkNotEmpty(v, key: name)
                continue
            }
            guard case .mapping(let section) = v else {
                throw ConfigError("\(name): expected a mapping of keys (\(allowed.joined(separator: ", ")))")
            }
            for (sk, sv) in section {
                let key = sk.string ?? "?"
                if !allowed.contains(key) {
                    throw ConfigError("unknown key '\(name).\(key)'; allowed in \(name): \(allowed.joined(separator: ", "))")
                }
                try checkNotEmpty(sv, key: "\(name).\(key)")
            }
        }
    }

    /// No key is optional, and the decoder reads an empty or null value as absent (the default): `run_dir=`
    /// would train into runs/default, `train.precision=''` in fp32. So an empty value is refused, except
    /// where null means something (`train.grad_clip: null` turns clipping off).
    private static func checkNotEmpty(_ value: Node, key: String) throws {
        guard key != "train.grad_clip", let scalar = value.scalar, scalar.string.isEmpty || value.null != nil else { return }
        let kind = typeName(Node.Scalar.self, default: key.split(separator: ".").map(String.init))
        throw ConfigError("\(key): expected \(kind), found \(scalar.string.isEmpty ? "nothing" : "'\(scalar.string)'")")
    }

    private static func describe(_ error: DecodingError, root: Node) -> String {
        func keys(_ c: DecodingError.Context) -> [String] {
            c.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }
        }
        func path(_ c: DecodingError.Context) -> String { keys(c).joined(separator: ".") }
        /// What the document holds at the failing key, for "expected X, found Y".
        func found(_ c: DecodingError.Context) -> String {
            var node: Node? = root
            for k in keys(c) {
                if let i = Int(k), case .sequence(let s)? = node { node = i < s.count ? s[i] : nil }
                else { node = node?[Node(k)] }
            }
            guard let node else { return "nothing" }
            if let scalar = node.scalar { return scalar.string.isEmpty ? "nothing" : "'\(scalar.string)'" }
            if node.sequence != nil { return "a list" }
            return "a mapping"
        }
        switch error {
        case .typeMismatch(let type, let c):
            return "\(path(c)): expected \(typeName(type, default: keys(c))), found \(found(c))"
        case .dataCorrupted(let c):
            // Yams wraps errors thrown by our own decoders (a ConfigError from `init(from:)`) as corrupted data
            if let own = c.underlyingError as? ConfigError { return own.message }
            return "\(path(c)): \(c.debugDescription)"
        case .valueNotFound(let type, let c):
            return "\(path(c)): expected \(typeName(type)), found \(found(c))"
        case .keyNotFound(let key, let c):
            return "\(path(c)): missing key \(key.stringValue)"
        @unknown default:
            return "\(error)"
        }
    }
    /// What a key holds, named from the decoded type or, when Yams names its node type, from the default's.
    private static func typeName(_ type: Any.Type, default path: [String]) -> String {
        guard type is Node.Scalar.Type || type is Node.Sequence.Type || type is Node.Mapping.Type,
              let defaults = defaultsNode else { return typeName(type) }
        var node: Node? = defaults
        for k in path { node = node?[Node(k)] }
        guard let node else { return typeName(type) }
        if node.sequence != nil { return "a list" }
        if node.mapping != nil { return "a mapping" }
        if node.int != nil { return "an integer" }
        if node.float != nil { return "a number" }
        if node.bool != nil { return "true or false" }
        return "a string"
    }
    /// The defaults as a YAML tree (for naming a key's type in an error message).
    private static var defaultsNode: Node? { try? Yams.compose(yaml: Self().yaml()) }
    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is UInt64.Type: "an integer"
        case is [Int].Type: "a list of integers"
        case is Double.Type: "a number"
        case is Bool.Type: "true or false"
        case is String.Type: "a string"
        default: "\(type)"
        }
    }


    /// The YAML form written into every run folder.
    public func yaml() throws -> String { try YAMLEncoder().encode(self) }
}
