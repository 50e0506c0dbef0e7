import Foundation
import Torch

/// Rotary position embedding (RoFormer) over the first `dim` channels of the last axis, with positions
/// along the second-to-last axis. Channels rotate in adjacent pairs (0,1), (2,3), ...; the rest pass
/// through. One instance is shared by every attention layer of the prior, and each layer lists its
/// `freqs` in the state dict (`layers.N.0.rotary_emb.freqs`), as PyTorch does for a shared module.
public final class RotaryEmbedding: Module {
    /// Rotation rates `theta^(-2i/dim)`, (dim/2). A frozen parameter in the reference, a buffer here:
    /// it never trains, and a buffer keeps it out of the optimiser.
    @BufferInfo public var freqs: Tensor
    public let dim: Int

    public init(dim: Int, theta: Double = 10000) {
        precondition(dim > 0 && dim % 2 == 0, "RotaryEmbedding: dim must be positive and even, got \(dim)")
        self.dim = dim
        let rates = stride(from: 0, to: dim, by: 2).map { Float(1 / Foundation.pow(theta, Double($0) / Double(dim))) }
        freqs = Tensor(rates)
        super.init()
    }

    /// `t` (..., n, d) with d >= dim, rotated by position `from..<from + n`.
    public func rotate(_ t: Tensor, from: Int = 0) -> Tensor {
        let n = t.size(-2), half = dim / 2
        let positions = Tensor.arange(Double(from), Double(from + n), dtype: .float32, device: t.device)
        let angles = (positions.unsqueeze(1) * freqs.to(t.device).unsqueeze(0))  // (n, dim/2)
            .unsqueeze(-1).expand([n, half, 2]).reshape([n, dim]).to(t.dtype)  // each rate twice, (n, dim)
        let head = t.slice(-1, start: 0, end: dim), tail = t.slice(-1, start: dim)
        let pairs = head.reshape(Array(head.shape.dropLast()) + [half, 2])
        let turned = Tensor.stack([-pairs.select(-1, 1), pairs.select(-1, 0)], dim: -1).reshape(head.shape)
        return Tensor.cat([head * angles.cos() + turned * angles.sin(), tail], dim: -1)
    }
}
