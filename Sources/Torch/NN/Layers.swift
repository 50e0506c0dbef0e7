/// `torch.nn.Linear`: y = x Wᵀ + b, W (out, in).
public final class Linear: Module, UnaryLayer {
    @ParameterInfo public var weight: Tensor
    @ParameterInfo public var bias: Tensor?

    public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, dtype: DType = .float32) {
        let w = Tensor.empty([outFeatures, inFeatures], dtype: dtype)
        let b = bias ? Tensor.empty([outFeatures], dtype: dtype) : nil
        Init.pytorchDefault_(weight: w, bias: b)
        weight = w
        self.bias = b
        super.init()
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { F.linear(x, weight: weight, bias: bias) }

    /// `layers.map { $0(x) }` as one matmul over their weights (and biases) concatenated per call, split
    /// back: the same values, and one larger product instead of several (fused Q/K/V). The modules and their
    /// parameters stay as they are; autograd splits the gradient back. Layers of which only some have a
    /// bias run one by one.
    public static func fused(_ layers: [Linear], _ x: Tensor) -> [Tensor] {
        let biases = layers.compactMap(\.bias)
        guard biases.isEmpty || biases.count == layers.count else { return layers.map { $0(x) } }
        let out = F.linear(x, weight: Tensor.cat(layers.map(\.weight)), bias: biases.isEmpty ? nil : Tensor.cat(biases))
        return out.split(sizes: layers.map { $0.weight.size(0) }, dim: -1)
    }
}

/// `torch.nn.Conv1d` over (B, C_in, L); weight (C_out, C_in / groups, k).
public final class Conv1d: Module, UnaryLayer {
    @ParameterInfo public var weight: Tensor
    @ParameterInfo public var bias: Tensor?
    public let stride: Int, padding: Int, dilation: Int, groups: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                dilation: Int = 1, groups: Int = 1, bias: Bool = true)
    {
        let w = Tensor.empty([outChannels, inChannels / groups, kernelSize])
        let b = bias ? Tensor.empty([outChannels]) : nil
        Init.pytorchDefault_(weight: w, bias: b)
        weight = w
        self.bias = b
        (self.stride, self.padding, self.dilation, self.groups) = (stride, padding, dilation, groups)
        super.init()
    }
    public func callAsFunction(_ x: Tensor) -> Tensor {
        F.conv1d(x, weight: weight, bias: bias, stride: stride, padding: padding, dilation: dilation, groups: groups)
    }
}

/// `torch.nn.ConvTranspose1d`; weight (C_in, C_out / groups, k).
public final class ConvTranspose1d: Module, UnaryLayer {
    @ParameterInfo public var weight: Tensor
    @ParameterInfo public var bias: Tensor?
    public let stride: Int, padding: Int, outputPadding: Int, groups: Int, dilation: Int

    public init(_ inChannels: Int, _ outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0,
                outputPadding: Int = 0, groups: Int = 1, bias: Bool = true, dilation: Int = 1)
    {
        let w = Tensor.empty([inChannels, outChannels / groups, kernelSize])
        let b = bias ? Tensor.empty([outChannels]) : nil
        Init.pytorchDefault_(weight: w, bias: b)
        weight = w
        self.bias = b
        (self.stride, self.padding, self.outputPadding, self.groups, self.dilation) =
            (stride, padding, outputPadding, groups, dilation)
        super.init()
    }
    public func callAsFunction(_ x: Tensor) -> Tensor {
        F.convTranspose1d(x, weight: weight, bias: bias, stride: stride, padding: padding,
                          outputPadding: outputPadding, groups: groups, dilation: dilation)
    }
}

/// `torch.nn.LayerNorm` over the trailing `shape`.
public final class LayerNorm: Module, UnaryLayer {
    @ParameterInfo public var weight: Tensor?
    @ParameterInfo public var bias: Tensor?
    public let shape: [Int]
    public let eps: Double

    public init(_ shape: [Int], eps: Double = 1e-5, affine: Bool = true) {
        self.shape = shape
        self.eps = eps
        weight = affine ? Tensor.ones(shape) : nil
        bias = affine ? Tensor.zeros(shape) : nil
        super.init()
    }
    public convenience init(_ dim: Int, eps: Double = 1e-5) { self.init([dim], eps: eps) }
    public func callAsFunction(_ x: Tensor) -> Tensor { F.layerNorm(x, shape, weight: weight, bias: bias, eps: eps) }
}

/// `torch.nn.GroupNorm` over (B, C, ...).
public final class GroupNorm: Module, UnaryLayer {
    @ParameterInfo public var weight: Tensor
    @ParameterInfo public var bias: Tensor
    public let groups: Int
    public let eps: Double

    public init(groups: Int, channels: Int, eps: Double = 1e-5) {
        self.groups = groups
        self.eps = eps
        weight = Tensor.ones([channels])
        bias = Tensor.zeros([channels])
        super.init()
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { F.groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps) }
}

/// `torch.nn.Dropout`: active in training mode only.
public final class Dropout: Module, UnaryLayer {
    public let p: Double
    public init(_ p: Double = 0.5) {
        self.p = p
        super.init()
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { F.dropout(x, p: p, training: training) }
}

/// `torch.nn.Embedding`: rows of a (count, dim) table, initialised from a standard normal.
public final class Embedding: Module {
    @ParameterInfo public var weight: Tensor
    public init(_ count: Int, _ dim: Int) {
        weight = Tensor.randn([count, dim])
        super.init()
    }
    public func callAsFunction(_ indices: Tensor) -> Tensor { F.embedding(indices, weight: weight) }
}

/// A function as a layer (activations inside `Sequential`); holds no parameters.
public final class Lambda: Module, UnaryLayer {
    let body: (Tensor) -> Tensor
    public init(_ body: @escaping (Tensor) -> Tensor) {
        self.body = body
        super.init()
    }
    public func callAsFunction(_ x: Tensor) -> Tensor { body(x) }
}

/// `torch.nn.Sequential`: children named "0", "1", ... applied in order.
public final class Sequential: Module, UnaryLayer {
    public let layers: [any UnaryLayer]
    public init(_ layers: [any UnaryLayer]) {
        self.layers = layers
        super.init()
        for (i, l) in layers.enumerated() { register(module: String(i), l) }
    }
    public convenience init(_ layers: any UnaryLayer...) { self.init(layers) }
    public func callAsFunction(_ x: Tensor) -> Tensor { layers.reduce(x) { $1($0) } }
}

/// `torch.nn.ModuleList`: children named "0", "1", ...
public final class ModuleList<M: Module>: Module, RandomAccessCollection {
    public let modules: [M]
    public init(_ modules: [M]) {
        self.modules = modules
        super.init()
        for (i, m) in modules.enumerated() { register(module: String(i), m) }
    }
    public var startIndex: Int { modules.startIndex }
    public var endIndex: Int { modules.endIndex }
    public subscript(position: Int) -> M { modules[position] }
}
