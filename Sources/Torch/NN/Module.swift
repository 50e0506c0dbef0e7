import Foundation

/// A layer that maps one tensor to one tensor.
public protocol UnaryLayer: Module {
    func callAsFunction(_ x: Tensor) -> Tensor
}

/// A tree of layers with named parameters and buffers. Names are dotted exactly like a PyTorch
/// `state_dict` (`layers.0.attn.q.weight`), so checkpoints move between the two without renaming.
///
/// Subclasses declare their tensors and children as `@ParameterInfo`, `@BufferInfo` and `@ModuleInfo`
/// properties (see ModuleInfo.swift), assign them, then call `super.init()`, which finds them by
/// reflection once, in declaration order. Within a module PyTorch lists its own parameters before its
/// children's, so only the order among parameters and among children matters.
open class Module {
    public private(set) var training = true
    private var tensorSlots: [(name: String, slot: TensorSlot)] = []
    private var moduleSlots: [(name: String, slot: ModuleSlot)] = []
    /// Children added at run time by `register(module:)`, after the declared ones.
    private var registered: [(name: String, module: Module)] = []

    public init() {
        reflectSlots()
    }

    /// Collects the wrapped properties, a superclass's first (as `super().__init__()` registers first).
    private func reflectSlots() {
        var mirrors: [Mirror] = []
        var mirror: Mirror? = Mirror(reflecting: self)
        while let m = mirror, m.subjectType != Module.self {
            mirrors.append(m)
            mirror = m.superclassMirror
        }
        var names = Set<String>()
        for m in mirrors.reversed() {
            for child in m.children {
                guard let label = child.label else { continue }
                let property = label.hasPrefix("_") ? String(label.dropFirst()) : label
                func name(_ key: String?, assigned: Bool) -> String {
                    let name = key ?? property
                    precondition(assigned, "\(m.subjectType).\(property) ('\(name)') was not assigned before super.init()")
                    precondition(!name.isEmpty && !name.contains("."), "\(m.subjectType).\(property): a key holds no dots, got '\(name)'")
                    precondition(names.insert(name).inserted, "\(m.subjectType): the key '\(name)' is declared twice")
                    return name
                }
                if let slot = child.value as? TensorSlot {
                    tensorSlots.append((name(slot.key, assigned: slot.isAssigned), slot))
                } else if let slot = child.value as? ModuleSlot {
                    moduleSlots.append((name(slot.key, assigned: slot.isAssigned), slot))
                }
            }
        }
    }

    /// Adds a child known only at run time (the index-named children of `Sequential` and `ModuleList`, a
    /// trainer's union of models). Declared children need no call: use `@ModuleInfo`.
    @discardableResult
    public func register<M: Module>(module name: String, _ module: M) -> M {
        precondition(!name.contains("."), "module names hold no dots: \(name)")
        registered.append((name, module))
        return module
    }

    /// Adds a parameter known only at run time (an entry of `nn.ParameterDict`, whose keys come from a
    /// config), after the declared tensors. Declared parameters need no call: use `@ParameterInfo`.
    public func register(parameter name: String, _ tensor: Tensor) {
        precondition(!name.isEmpty && !name.contains("."), "parameter names hold no dots: '\(name)'")
        precondition(!tensorSlots.contains { $0.name == name }, "the key '\(name)' is registered twice")
        tensorSlots.append((name, ParameterInfo<Tensor>(wrappedValue: tensor, key: name)))
    }

    // MARK: traversal

    private var ownParameters: [(name: String, tensor: Tensor)] {
        tensorSlots.compactMap { s in s.slot.isParameter ? s.slot.tensor.map { (s.name, $0) } : nil }
    }
    private var ownBuffers: [(name: String, tensor: Tensor)] {
        tensorSlots.compactMap { s in s.slot.isParameter ? nil : s.slot.tensor.map { (s.name, $0) } }
    }
    /// Direct children in PyTorch's order: declared, then registered.
    public var namedChildren: [(name: String, module: Module)] {
        moduleSlots.compactMap { s in s.slot.child.map { (s.name, $0) } } + registered
    }

    /// Every parameter with its dotted name: a module's own before its children's, depth first, like PyTorch.
    public func namedParameters(prefix: String = "") -> [(name: String, tensor: Tensor)] {
        ownParameters.map { (prefix + $0.name, $0.tensor) }
            + namedChildren.flatMap { $0.module.namedParameters(prefix: prefix + $0.name + ".") }
    }
    public func namedBuffers(prefix: String = "") -> [(name: String, tensor: Tensor)] {
        ownBuffers.map { (prefix + $0.name, $0.tensor) }
            + namedChildren.flatMap { $0.module.namedBuffers(prefix: prefix + $0.name + ".") }
    }
    public func namedModules(prefix: String = "") -> [(name: String, module: Module)] {
        [(prefix.isEmpty ? "" : String(prefix.dropLast()), self)]
            + namedChildren.flatMap { $0.module.namedModules(prefix: prefix + $0.name + ".") }
    }
    public func parameters() -> [Tensor] { namedParameters().map(\.tensor) }
    /// Parameters and buffers by name, like `state_dict()`.
    public func stateDict() -> [String: Tensor] {
        Dictionary(namedParameters() + namedBuffers(), uniquingKeysWith: { a, _ in a })
    }
    /// The number of parameter elements, like `sum(p.numel() for p in m.parameters())`.
    public var parameterCount: Int { parameters().reduce(0) { $0 + $1.count } }

    // MARK: modes

    /// Switches this module and its children to training mode (dropout on) or evaluation mode.
    public func train(_ mode: Bool = true) {
        training = mode
        for c in namedChildren { c.module.train(mode) }
    }
    public func eval() { train(false) }

    public func zeroGrad() { for p in parameters() { p.zeroGrad() } }

    /// Moves every parameter and buffer to `device` in place, like `module.to(device)`: the tensors keep
    /// their identity, so optimisers and slots holding them follow.
    public func to(device: Device) {
        for t in (namedParameters() + namedBuffers()).map(\.tensor) where t.device != device {
            Torch.noGrad { t.setData(t.to(device)) }
        }
    }

    // MARK: loading

    /// What `load(stateDict:)` found that did not fit.
    public struct LoadReport: CustomStringConvertible, Sendable {
        public var missing: [String] = []
        public var unexpected: [String] = []
        /// name, expected shape, found shape
        public var mismatched: [(name: String, expected: [Int], found: [Int])] = []
        public var isClean: Bool { missing.isEmpty && unexpected.isEmpty && mismatched.isEmpty }
        public var description: String {
            var lines: [String] = []
            if !missing.isEmpty { lines.append("missing keys: " + missing.joined(separator: ", ")) }
            if !unexpected.isEmpty { lines.append("unexpected keys: " + unexpected.joined(separator: ", ")) }
            for m in mismatched { lines.append("\(m.name): expected shape \(m.expected), found \(m.found)") }
            return lines.isEmpty ? "all keys matched" : lines.joined(separator: "\n")
        }
    }

    public struct LoadError: Error, CustomStringConvertible {
        public let report: LoadReport
        public var description: String { "the weights do not fit the model:\n\(report)" }
        public init(report: LoadReport) { self.report = report }
    }

    /// Maps a foreign checkpoint's names to this module's; `load(stateDict:)` applies it after `rename`.
    /// The default strips wrapper prefixes, `module.` (DistributedDataParallel) and `model.` (a wrapper's
    /// attribute), or a chain of them: a wrapper is one under which some key matches one of ours, and it
    /// is then stripped from every key it heads, so a stray key is reported as unexpected in the same
    /// names as the missing ones (`extra`, not `module.extra`). Keys under no such wrapper pass unchanged.
    /// Models override it for their own foreign layouts.
    open func sanitize(weights: [String: Tensor]) -> [String: Tensor] {
        let own = Set((namedParameters() + namedBuffers()).map(\.name))
        var wrappers = Set<String>()
        for key in weights.keys where !own.contains(key) {
            var name = Substring(key)
            while let prefix = ["module.", "model."].first(where: { name.hasPrefix($0) }) {
                name = name.dropFirst(prefix.count)
                if own.contains(String(name)) { wrappers.insert(String(key.dropLast(name.count))); break }
            }
        }
        var out: [String: Tensor] = [:]
        for (key, value) in weights {
            var name = key
            if !own.contains(key), let wrapper = wrappers.filter({ key.hasPrefix($0) }).max(by: { $0.count < $1.count }) {
                name = String(key.dropFirst(wrapper.count))
            }
            // An exact key wins over a stripped one that lands on the same name.
            if name != key && weights[name] != nil { name = key }
            out[name] = value
        }
        return out
    }

    /// Copies `tensors` into this module's parameters and buffers by name (values are converted to each
    /// parameter's dtype). `rename` maps a foreign key to ours, or nil to drop it; `sanitize(weights:)`
    /// runs next. With `strict`, any missing, unexpected or mis-shaped key throws `LoadError` naming the
    /// dotted keys, and nothing is copied.
    @discardableResult
    public func load(stateDict tensors: [String: Tensor], strict: Bool = true,
                     rename: ((String) -> String?)? = nil) throws -> LoadReport
    {
        var renamed: [String: Tensor] = [:]
        for (key, value) in tensors {
            guard let name = rename.map({ $0(key) }) ?? key else { continue }
            renamed[name] = value
        }
        var incoming = sanitize(weights: renamed)
        var report = LoadReport()
        let own = namedParameters() + namedBuffers()
        var matched: [(Tensor, Tensor)] = []
        for (name, t) in own {
            guard let value = incoming.removeValue(forKey: name) else { report.missing.append(name); continue }
            if value.shape != t.shape {
                report.mismatched.append((name, t.shape, value.shape))
            } else {
                matched.append((t, value))
            }
        }
        report.unexpected = incoming.keys.sorted()
        if strict && !report.isClean { throw LoadError(report: report) }
        for (t, value) in matched { t.copy_(value.to(dtype: t.dtype, device: t.device)) }
        return report
    }
}
