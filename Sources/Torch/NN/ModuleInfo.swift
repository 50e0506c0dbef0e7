/// Property wrappers that name a module's children, parameters and buffers where they are declared:
///
///     @ModuleInfo(key: "q_proj") var wq: Linear
///     @ParameterInfo(key: "gamma_1") var gamma1: Tensor
///     @BufferInfo var freqs: Tensor
///     @ModuleInfo var layers: [EncoderLayer]      // layers.0, layers.1, ... like nn.ModuleList
///     @ParameterInfo var bias: Tensor?            // nil: no such parameter
///
/// `Module.init` finds them by reflection, in declaration order (a superclass's first), once; the key
/// defaults to the property's name. Assign a keyed property before `super.init()` through its storage,
/// `_wq.wrappedValue = Linear(...)`; an unkeyed one takes a plain `layers = [...]`. One left unassigned
/// traps at construction with its name.

/// What a `@ModuleInfo` property may hold: a module, an optional module, or an array of them.
public protocol ModuleInfoValue {
    var moduleTree: ModuleTree { get }
}

/// A `@ModuleInfo` value as the module tree sees it.
public indirect enum ModuleTree {
    case absent
    case module(Module)
    /// Elements named "0", "1", ... under the property's key.
    case list([ModuleTree])
}

extension Module: ModuleInfoValue {
    public var moduleTree: ModuleTree { .module(self) }
}
extension Optional: ModuleInfoValue where Wrapped: ModuleInfoValue {
    public var moduleTree: ModuleTree { self?.moduleTree ?? .absent }
}
extension Array: ModuleInfoValue where Element: ModuleInfoValue {
    public var moduleTree: ModuleTree { .list(map(\.moduleTree)) }
}

/// What a `@ParameterInfo` or `@BufferInfo` property may hold: a tensor, or an optional one.
public protocol TensorInfoValue {
    var tensorValue: Tensor? { get }
}
extension Tensor: TensorInfoValue {
    public var tensorValue: Tensor? { self }
}
extension Optional: TensorInfoValue where Wrapped == Tensor {
    public var tensorValue: Tensor? { self }
}

// The type-erased views `Module` reflects over.
protocol ModuleSlot: AnyObject {
    var key: String? { get }
    var isAssigned: Bool { get }
    /// The module standing for the value in the tree: the module, nil when absent, a container for arrays.
    var child: Module? { get }
}
protocol TensorSlot: AnyObject {
    var key: String? { get }
    var isAssigned: Bool { get }
    var isParameter: Bool { get }
    var tensor: Tensor? { get }
}

/// A child module (or optional child, or array of children) named `key`.
@propertyWrapper
public final class ModuleInfo<Value: ModuleInfoValue>: ModuleSlot {
    public let key: String?
    private var value: Value?
    private(set) var child: Module?

    public var wrappedValue: Value {
        get {
            guard let value else { preconditionFailure("@ModuleInfo(key: \(key ?? "nil")) read before it was assigned") }
            return value
        }
        set {
            value = newValue
            child = ModuleArray.node(newValue.moduleTree)
        }
    }
    public init(wrappedValue: Value, key: String? = nil) {
        self.key = key
        self.wrappedValue = wrappedValue
    }
    /// Declares the name; assign `_property.wrappedValue` before `super.init()`.
    public init(key: String? = nil) { self.key = key }
    var isAssigned: Bool { value != nil }
}

/// A trainable tensor named `key`; assigning it sets `requiresGrad`.
@propertyWrapper
public final class ParameterInfo<Value: TensorInfoValue>: TensorSlot {
    public let key: String?
    private var value: Value?

    public var wrappedValue: Value {
        get {
            guard let value else { preconditionFailure("@ParameterInfo(key: \(key ?? "nil")) read before it was assigned") }
            return value
        }
        set {
            value = newValue
            newValue.tensorValue?.requiresGrad = true
        }
    }
    public init(wrappedValue: Value, key: String? = nil) {
        self.key = key
        self.wrappedValue = wrappedValue
    }
    public init(key: String? = nil) { self.key = key }
    var isAssigned: Bool { value != nil }
    var isParameter: Bool { true }
    var tensor: Tensor? { value?.tensorValue }
}

/// A non-trainable tensor of the state (`register_buffer`) named `key`.
@propertyWrapper
public final class BufferInfo<Value: TensorInfoValue>: TensorSlot {
    public let key: String?
    private var value: Value?

    public var wrappedValue: Value {
        get {
            guard let value else { preconditionFailure("@BufferInfo(key: \(key ?? "nil")) read before it was assigned") }
            return value
        }
        set { value = newValue }
    }
    public init(wrappedValue: Value, key: String? = nil) {
        self.key = key
        self.wrappedValue = wrappedValue
    }
    public init(key: String? = nil) { self.key = key }
    var isAssigned: Bool { value != nil }
    var isParameter: Bool { false }
    var tensor: Tensor? { value?.tensorValue }
}

/// The container an array-valued `@ModuleInfo` stands behind, so `layers` itself is a module of the tree
/// as PyTorch's `nn.ModuleList` is; absent elements keep their index free.
final class ModuleArray: Module {
    let elements: [Module?]
    init(_ elements: [Module?]) {
        self.elements = elements
        super.init()
        for (i, m) in elements.enumerated() { if let m { register(module: String(i), m) } }
    }
    static func node(_ tree: ModuleTree) -> Module? {
        switch tree {
        case .absent: nil
        case .module(let m): m
        case .list(let items): ModuleArray(items.map(node))
        }
    }
}

extension Module {
    /// Stored properties of this module (and its descendants) that hold a tensor or a module the tree does
    /// not reach: most likely a `@ParameterInfo`, `@BufferInfo` or `@ModuleInfo` forgotten. Each entry is
    /// `TypeName.property`. A shared module held twice (once wrapped) counts as reached.
    public func unreachableProperties() -> [String] {
        let modules = namedModules().map(\.module)
        let reachedModules = Set(modules.map(ObjectIdentifier.init))
        let reachedTensors = Set((namedParameters() + namedBuffers()).map { ObjectIdentifier($0.tensor) })
        var found: [String] = []
        var seen = Set<ObjectIdentifier>()
        for module in modules where seen.insert(ObjectIdentifier(module)).inserted {
            var mirror: Mirror? = Mirror(reflecting: module)
            while let m = mirror, m.subjectType != Module.self {
                for child in m.children where !(child.value is ModuleSlot || child.value is TensorSlot) {
                    let unreached = Self.heldObjects(child.value).contains { object in
                        if let t = object as? Tensor { return !reachedTensors.contains(ObjectIdentifier(t)) }
                        if let sub = object as? Module { return !reachedModules.contains(ObjectIdentifier(sub)) }
                        return false
                    }
                    if unreached { found.append("\(m.subjectType).\(child.label ?? "?")") }
                }
                mirror = m.superclassMirror
            }
        }
        return found
    }

    /// Tensors and modules inside a stored value: itself, an optional's payload, collection elements, tuple
    /// and struct fields (not into other classes).
    private static func heldObjects(_ value: Any) -> [AnyObject] {
        if let t = value as? Tensor { return [t] }
        if let m = value as? Module { return [m] }
        let mirror = Mirror(reflecting: value)
        switch mirror.displayStyle {
        case .optional, .collection, .tuple, .struct, .set, .dictionary, .enum:
            return mirror.children.flatMap { heldObjects($0.value) }
        default:
            return []
        }
    }
}
