import Torch

/// Voxel values to tokens: two 1x1 convolutions (no activation between), then LayerNorm.
/// Names: `proj.0`, `proj.1`, `norm` (the reference's `ConvTokenizer1D`).
public final class VoxelTokenizer: Module {
    @ModuleInfo public var proj: Sequential
    @ModuleInfo public var norm: LayerNorm

    public init(width: Int) {
        proj = Sequential(Conv1d(1, width / 2, kernelSize: 1), Conv1d(width / 2, width, kernelSize: 1))
        norm = LayerNorm(width)
        super.init()
    }

    /// (B, 1, V) -> (B, V, C)
    public func callAsFunction(_ voxels: Tensor) -> Tensor {
        norm(proj(voxels).transpose(1, 2))
    }
}

/// The SIREN positional code: sin(omega0 · Linear(3, C)(coords)). Name: `linear`.
public final class SirenPositionalEmbedding: Module {
    @ModuleInfo public var linear: Linear
    public let omega0: Double

    public init(width: Int, coordinateDim: Int = 3, omega0: Double = 30) {
        linear = Linear(coordinateDim, width)
        self.omega0 = omega0
        super.init()
    }

    /// (V, 3) or (B, V, 3) -> (V, C) or (B, V, C)
    public func callAsFunction(_ coords: Tensor) -> Tensor { (linear(coords) * omega0).sin() }
}
