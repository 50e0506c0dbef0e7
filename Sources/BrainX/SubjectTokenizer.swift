import Torch

/// `nn.ModuleDict`: children under keys known only from the config (`fmri1`, `fmri2`, ...), in config order.
public final class ModuleDict<Element: Module>: Module {
    public let keys: [String]
    private let entries: [String: Element]

    public init(_ pairs: [(key: String, value: Element)]) {
        keys = pairs.map(\.key)
        entries = Dictionary(pairs.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        super.init()
        for (key, value) in pairs { register(module: key, value) }
    }

    public subscript(key: String) -> Element? { entries[key] }
}

/// `nn.ParameterDict`: one parameter per config key (`token.fmri1`), in config order.
public final class ParameterDict: Module {
    public let keys: [String]
    private let entries: [String: Tensor]

    public init(_ pairs: [(key: String, value: Tensor)]) {
        keys = pairs.map(\.key)
        entries = Dictionary(pairs.map { ($0.key, $0.value) }, uniquingKeysWith: { a, _ in a })
        super.init()
        for (key, value) in pairs { register(parameter: key, value.requiresGrad(true)) }
    }

    public subscript(key: String) -> Tensor? { entries[key] }
}

/// The first half of a subject tokenizer, UMBRAE's `lin1`: each voxel's value (a scalar) to `num_latents`
/// numbers. Without `use_norm` it is `nn.Linear(1, L)` (names `weight` (L, 1), `bias` (L)); with it, the
/// reference's `nn.Sequential(Linear, LayerNorm(L), GELU, Dropout(0.5))`, or GELU before LayerNorm with
/// `act_first` (names `0.*`, and `1.*` or `2.*` for the LayerNorm). One class holds either layout, the
/// other's slots absent, so both load under their reference names.
public final class SubjectLin1: Module, UnaryLayer {
    @ParameterInfo public var weight: Tensor?
    @ParameterInfo public var bias: Tensor?
    @ModuleInfo(key: "0") public var linear: Linear?
    @ModuleInfo(key: "1") public var normAfterLinear: LayerNorm?
    @ModuleInfo(key: "2") public var normAfterGELU: LayerNorm?
    public let useNorm: Bool
    static let dropout = 0.5

    public init(numLatents: Int, useNorm: Bool, actFirst: Bool) {
        self.useNorm = useNorm
        if useNorm {
            weight = nil
            bias = nil
            _linear.wrappedValue = Linear(1, numLatents)
            _normAfterLinear.wrappedValue = actFirst ? nil : LayerNorm(numLatents)
            _normAfterGELU.wrappedValue = actFirst ? LayerNorm(numLatents) : nil
        } else {
            let plain = Linear(1, numLatents)  // PyTorch's default initialisation of the same layer
            weight = plain.weight
            bias = plain.bias
            _linear.wrappedValue = nil
            _normAfterLinear.wrappedValue = nil
            _normAfterGELU.wrappedValue = nil
        }
        super.init()
    }

    /// (..., 1) -> (..., L).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        guard let linear else { return F.linear(x, weight: weight!, bias: bias) }
        var y = linear(x)
        if let normAfterLinear { y = F.gelu(normAfterLinear(y)) }
        if let normAfterGELU { y = normAfterGELU(F.gelu(y)) }
        return F.dropout(y, p: Self.dropout, training: training)
    }
}

/// A subject tokenizer: voxels (B, V) -> tokens (B, L, hidden), `lin2(lin1(xᵀ)ᵀ)` with lin2 = Linear(V, hidden).
///
/// `plain` computes it as the reference does, through a (B, V, L) intermediate. `outer` uses that lin1 is
/// affine in each voxel's value: row j of lin1's output over the voxels is w1_j·x + b1_j·1, so
/// lin2 of it is w1_j·(W2 x) + b1_j·(W2 1) + b2, the rank-1 outer product w1 ⊗ (W2 x) plus an (L, hidden)
/// constant. Same function, one (B, V)·(V, hidden) product; valid only for lin1 without `use_norm`.
public func tokenize(_ voxels: Tensor, lin1: SubjectLin1, lin2: Linear, path: TokenizerPath) -> Tensor {
    precondition(voxels.ndim == 2 && voxels.shape[1] == lin2.weight.shape[1],
                 "BrainX tokenizer: expected voxels (B, \(lin2.weight.shape[1])), got \(voxels.shape)")
    guard path == .outer, !lin1.useNorm, let w1 = lin1.weight else {
        let perVoxel = lin1(voxels.unsqueeze(2))   // (B, V, L)
        return lin2(perVoxel.transpose(1, 2))      // (B, L, hidden)
    }
    let l = w1.shape[0], h = lin2.weight.shape[0]
    let projected = F.linear(voxels, weight: lin2.weight).unsqueeze(1)  // (B, 1, hidden) = W2 x
    var constant = Tensor.zeros([l, h], dtype: voxels.dtype, device: voxels.device)  // (L, hidden)
    if let b1 = lin1.bias { constant = constant + b1.reshape([l, 1]) * lin2.weight.sum(1).reshape([1, h]) }
    if let b2 = lin2.bias { constant = constant + b2 }
    return w1.reshape([1, l, 1]) * projected + constant  // (B, L, hidden)
}
