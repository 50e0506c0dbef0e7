import Foundation

/// A layer that maps one tensor to one tensor.
public protocol UnaryLayer: Module {
    func callAsFunction(_ x: Tensor) -> Tensor
}

/// A tree of layers with named parameters and buffers. Names are dotted exactly like a PyTorch
/// `state_dict` (`layers.0.attn.q.weight`), so checkpoints move between the two without renaming.
///
/// Subclasses create their tensors and children as stored properties, call `super.init()`, then register
/// them in PyTorch's order with `register(parameter:)`, `register(buffer:)` and `register(module:)`.
open class Module {
    public private(set) var training = true
    private var ownParameters: [(name: String, tensor: Tensor)] = []
    private var ownBuffers: [(name: String, tensor: Tensor)] = []
    private var children: [(name: String, module: Module)] = []

    public init() {}

    // MARK: registration

    /// Registers a trainable tensor under `name` and returns it (with `requiresGrad` set).
    @discardableResult
    public func register(parameter name: String, _ tensor: Tensor) -> Tensor {
        precondition(!name.contains("."), "parameter names hold no dots: \(name)")
        tensor.requiresGrad = true
        ownParameters.append((name, tensor))
        return tensor
    }
    /// Registers a non-trainable tensor that belongs to the state (`register_buffer`).
    @discardableResult
    public func register(buffer name: String, _ tensor: Tensor) -> Tensor {
        ownBuffers.append((name, tensor))
        return tensor
    }
    @discardableResult
    public func register<M: Module>(module name: String, _ module: M) -> M {
        children.append((name, module))
        return module
    }

    // MARK: traversal

    /// Every parameter with its dotted name, in registration order (depth first, like PyTorch).
    public func namedParameters(prefix: String = "") -> [(name: String, tensor: Tensor)] {
        ownParameters.map { (prefix + $0.name, $0.tensor) }
            + children.flatMap { $0.module.namedParameters(prefix: prefix + $0.name + ".") }
    }
    public func namedBuffers(prefix: String = "") -> [(name: String, tensor: Tensor)] {
        ownBuffers.map { (prefix + $0.name, $0.tensor) }
            + children.flatMap { $0.module.namedBuffers(prefix: prefix + $0.name + ".") }
    }
    public func namedModules(prefix: String = "") -> [(name: String, module: Module)] {
        [(prefix.isEmpty ? "" : String(prefix.dropLast()), self)]
            + children.flatMap { $0.module.namedModules(prefix: prefix + $0.name + ".") }
    }
    public var namedChildren: [(name: String, module: Module)] { children }
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
        for c in children { c.module.train(mode) }
    }
    public func eval() { train(false) }

    public func zeroGrad() { for p in parameters() { p.zeroGrad() } }
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
    }

    /// Copies `tensors` into this module's parameters and buffers by name (values are converted to each
    /// parameter's dtype). `rename` maps a foreign key to ours, or nil to drop it. With `strict`, any
    /// missing, unexpected or mis-shaped key throws `LoadError` and nothing is copied.
    @discardableResult
    public func load(stateDict tensors: [String: Tensor], strict: Bool = true,
                     rename: ((String) -> String?)? = nil) throws -> LoadReport
    {
        var incoming: [String: Tensor] = [:]
        for (key, value) in tensors {
            guard let name = rename.map({ $0(key) }) ?? key else { continue }
            incoming[name] = value
        }
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
