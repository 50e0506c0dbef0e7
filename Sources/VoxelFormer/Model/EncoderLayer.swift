import Torch

/// The SwiGLU feed-forward: fc1 C -> 2·hidden, silu(a) * b, dropout, fc2 hidden -> C, dropout.
/// Names: `fc1`, `fc2`.
public final class SwiGLU: Module, UnaryLayer {
    @ModuleInfo public var fc1: Linear
    @ModuleInfo public var fc2: Linear
    @ModuleInfo(key: "drop") public var dropout: Dropout

    public init(width: Int, hidden: Int, drop: Double) {
        fc1 = Linear(width, 2 * hidden)
        fc2 = Linear(hidden, width)
        _dropout.wrappedValue = Dropout(drop)
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let halves = fc1(x).chunk(2, dim: -1)
        return dropout(fc2(dropout(halves[0].silu() * halves[1])))
    }
}

/// Stochastic depth: drops a whole sample's residual branch with probability `p` in training.
public func dropPath(_ x: Tensor, p: Double, training: Bool) -> Tensor {
    guard training, p > 0 else { return x }
    let keep = 1 - p
    var shape = [x.size(0)]
    shape += Array(repeating: 1, count: x.ndim - 1)
    let mask = Tensor.bernoulli(Tensor.full(shape, keep, dtype: x.dtype, device: x.device)) / keep
    return x * mask
}

/// One encoder layer: pre-norm attention with LayerScale and DropPath, ToMe merging between attention and
/// the SwiGLU MLP. Names: `gamma_1`, `gamma_2`, `norm1`, `attn`, `norm2`, `mlp` (the reference's `TomerLayer`).
public final class EncoderLayer: Module {
    @ParameterInfo(key: "gamma_1") public var gamma1: Tensor
    @ParameterInfo(key: "gamma_2") public var gamma2: Tensor
    @ModuleInfo public var norm1: LayerNorm
    @ModuleInfo public var attn: EncoderAttention
    @ModuleInfo public var norm2: LayerNorm
    @ModuleInfo public var mlp: SwiGLU
    public let dropPathRate: Double
    public let tomeR: Int
    /// kNN attention: layer 0 measures distance on coordinates, later layers on the last features.
    public let usesCoordinates: Bool
    public let lastNFeatures: Int

    public init(width: Int, heads: Int, neighbors: Int?, mlpRatio: Double = 4, drop: Double, dropPath: Double,
                tomeR: Int, layerScale: Double = 1e-6, usesCoordinates: Bool, lastNFeatures: Int)
    {
        _gamma1.wrappedValue = Tensor.full([width], layerScale)
        _gamma2.wrappedValue = Tensor.full([width], layerScale)
        norm1 = LayerNorm(width)
        attn = EncoderAttention(width: width, heads: heads, neighbors: neighbors)
        norm2 = LayerNorm(width)
        mlp = SwiGLU(width: width, hidden: Int(Double(width) * mlpRatio), drop: drop)
        dropPathRate = dropPath
        self.tomeR = tomeR
        self.usesCoordinates = usesCoordinates
        self.lastNFeatures = lastNFeatures
        super.init()
    }

    /// x (B, N, C), coords (V, 3) used by kNN layer 0, sizes (B, N, 1) when carried.
    /// Returns (B, N - r, C) and the sizes after merging.
    public func callAsFunction(_ x: Tensor, coords: Tensor?, sizes: Tensor?, proportional: Bool)
        -> (x: Tensor, sizes: Tensor)
    {
        let positions: Tensor? = attn.neighbors == nil
            ? nil : (usesCoordinates ? coords : x[.ellipsis, (-lastNFeatures)...].detach())
        let logSizes = proportional ? sizes.map { $0.squeeze(-1).log() } : nil
        let (a, metric) = attn(norm1(x), positions: positions, logSizes: logSizes)
        var h = x + dropPath(gamma1 * a, p: dropPathRate, training: training)
        let merged = TokenMerging.merge(h, metric: metric, r: tomeR, sizes: sizes)
        h = merged.x
        h = h + dropPath(gamma2 * mlp(norm2(h)), p: dropPathRate, training: training)
        return (h, merged.sizes)
    }
}
