import Foundation
import Torch
import VoxelFormer
import Yams

/// Everything a run needs: `model`, `data`, `train`, `eval`, plus the run folder. Loaded from a YAML
/// preset (`configs/paper.yaml`, `configs/demo.yaml`) with Hydra-style dotted overrides (`model.nat_depth=2`).
public struct VoxelFormerConfig: Codable, Equatable, Sendable {
    public var model = ModelConfig()
    public var data = DataConfig()
    public var train = TrainConfig()
    public var eval = EvalConfig()
    /// The diffusion prior, used when `train.use_prior` is true.
    public var prior = PriorConfig()
    /// Where checkpoints, metrics and plots go.
    public var runDir = "runs/default"

    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case model, data, train, eval, prior, runDir = "run_dir"
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), d = VoxelFormerConfig()
        model = try c.get(.model, d.model)
        data = try c.get(.data, d.data)
        train = try c.get(.train, d.train)
        eval = try c.get(.eval, d.eval)
        prior = try c.get(.prior, d.prior)
        runDir = try c.get(.runDir, d.runDir)
    }

    /// The keys each section accepts, for error messages and unknown-key checks.
    static let allowedKeys: [String: [String]] = [
        "model": ModelConfig.CodingKeys.allCases.map(\.rawValue),
        "data": DataConfig.CodingKeys.allCases.map(\.rawValue),
        "train": TrainConfig.CodingKeys.allCases.map(\.rawValue),
        "eval": EvalConfig.CodingKeys.allCases.map(\.rawValue),
        "prior": PriorConfig.CodingKeys.allCases.map(\.rawValue),
    ]

    public func validate() throws {
        try model.validate()
        try data.validate()
        try train.validate()
        try eval.validate()
        if train.usePrior {
            try prior.validate()
            if prior.dim != model.clipEmbDim {
                throw ConfigError("prior.dim: must equal model.clip_emb_dim (\(model.clipEmbDim)), got \(prior.dim)")
            }
            if prior.numTokens != model.clipSeqDim {
                throw ConfigError("prior.num_tokens: must equal model.clip_seq_dim (\(model.clipSeqDim)), got \(prior.numTokens)")
            }
        }
    }

    // MARK: loading

    /// Reads `path` (or the defaults when nil), applies `overrides` (`section.key=value`, values in YAML
    /// syntax) and validates. Unknown keys and ill-typed values throw `ConfigError` naming the key.
    public static func load(path: String?, overrides: [String] = []) throws -> VoxelFormerConfig {
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
    public static func parse(yaml text: String, source: String = "the config", overrides: [String] = []) throws -> VoxelFormerConfig {
        do {
            return try compose(yaml: text, source: source, overrides: overrides)
        } catch let error as ConfigError where !error.message.hasPrefix(source) {
            throw ConfigError("\(source): \(error.message)")
        }
    }

    static func compose(yaml text: String?, source: String, overrides: [String]) throws -> VoxelFormerConfig {
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
        do {
            let config = try YAMLDecoder().decode(VoxelFormerConfig.self, from: Yams.serialize(node: root))
            try config.validate()
            return config
        } catch let error as DecodingError {
            throw ConfigError(describe(error, root: root))
        }
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
        guard case .mapping(let top) = root else {
            throw ConfigError("\(source): the config must be a mapping of sections (model, data, train, eval, prior, run_dir)")
        }
        let sections = CodingKeys.allCases.map(\.rawValue)
        for (k, v) in top {
            let name = k.string ?? "?"
            guard sections.contains(name) else {
                throw ConfigError("unknown key '\(name)'; allowed: \(sections.joined(separator: ", "))")
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
    /// The defaults as a YAML tree, composed once (error messages and the fuzzer call `typeName` often); never
    /// mutated after initialisation, so sharing it across threads is safe.
    nonisolated(unsafe) private static let defaultsNode: Node? = try? Yams.compose(yaml: VoxelFormerConfig().yaml())
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
