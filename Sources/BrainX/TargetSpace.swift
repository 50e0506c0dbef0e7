import Torch

/// A target tensor that does not fit the feature space asked for; the message names the target (a file
/// or a layer) and what was expected.
public struct TargetSpaceError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// How several layers of one encoder become one target (VINDEX's "aggregated features"; the exact rule
/// is not published, see docs/brainx.md).
public enum LayerAggregation: String, ConfigChoice, Sendable {
    /// Features side by side: (B, T, D) × k -> (B, T, k·D), layers in the order given.
    case concat
    /// Elementwise mean over the layers: (B, T, D) × k -> (B, T, D).
    case mean
}

/// VINDEX's target feature spaces built from precomputed encoder tokens: nested (Matryoshka) pooling of
/// the patch grid, layer aggregation, and mixtures of encoders. Tokens are (B, T, D) with the T = s·s
/// patches of an s × s grid in row-major order (CLIP's flattening of its patch convolution, CLS dropped).
public enum TargetSpace {
    /// The token counts of the nested feature space on CLIP ViT-L/14's 16 × 16 grid (side 1, 3, 6, 12, 16).
    public static let nestedCounts = [1, 9, 36, 144, 256]

    /// The (out, size) matrix of `adaptive_avg_pool1d` from `size` to `out` cells: row i averages inputs
    /// floor(i·size/out) ..< ceil((i+1)·size/out), PyTorch's bins (they overlap where out does not divide size).
    public static func adaptivePoolingMatrix(from size: Int, to out: Int, dtype: DType = .float32,
                                             device: Device = .cpu) -> Tensor
    {
        var values = [Float](repeating: 0, count: out * size)
        for i in 0..<out {
            let start = (i * size) / out, end = ((i + 1) * size + out - 1) / out
            for k in start..<end { values[i * size + k] = 1 / Float(end - start) }
        }
        return Tensor(values, shape: [out, size]).to(dtype: dtype, device: device)
    }

    /// Nested pooling: tokens (B, s·s, D) of an s × s grid -> (B, count, D), the grid average-pooled to
    /// √count × √count cells as `F.adaptive_avg_pool2d` pools it (plain average pooling where the side
    /// divides s, as 16 -> 1, 16 -> 16). Row-major order, like the input. Differentiable.
    public static func nestedPool(_ tokens: Tensor, to count: Int, name: String = "targets") throws -> Tensor {
        guard tokens.ndim == 3 else { throw TargetSpaceError("\(name): expected tokens (B, T, D), got \(tokens.shape)") }
        let (b, t, d) = (tokens.shape[0], tokens.shape[1], tokens.shape[2])
        guard let side = exactSquareRoot(t) else {
            throw TargetSpaceError("\(name): \(t) tokens do not form a square grid (drop the CLS token first)")
        }
        guard let out = exactSquareRoot(count), out >= 1, out <= side else {
            throw TargetSpaceError("\(name): cannot pool a \(side)×\(side) grid to \(count) tokens; " +
                                   "expected a square count up to \(t), such as \(nestedCounts.filter { $0 <= t })")
        }
        if out == side { return tokens }
        let p = adaptivePoolingMatrix(from: side, to: out, dtype: tokens.dtype, device: tokens.device)  // (out, side)
        let grid = tokens.reshape([b, side, side, d]).permute(0, 3, 1, 2)  // (B, D, side, side)
        let pooled = p.matmul(grid).matmul(p.T)                            // (B, D, out, out)
        return pooled.permute(0, 2, 3, 1).reshape([b, out * out, d])
    }

    /// Several layers of one encoder, each (B, T, D_i) with the same B and T, as one target.
    public static func aggregate(layers: [(name: String, tokens: Tensor)], _ rule: LayerAggregation) throws -> Tensor {
        guard let first = layers.first else { throw TargetSpaceError("layer aggregation: no layers given") }
        for (name, tokens) in layers where tokens.ndim != 3 || Array(tokens.shape.prefix(2)) != Array(first.tokens.shape.prefix(2)) {
            throw TargetSpaceError("\(name): expected tokens (\(first.tokens.shape[0]), \(first.tokens.shape[1]), D) " +
                                   "like \(first.name), got \(tokens.shape)")
        }
        switch rule {
        case .concat:
            return Tensor.cat(layers.map(\.tokens), dim: 2)
        case .mean:
            for (name, tokens) in layers where tokens.shape != first.tokens.shape {
                throw TargetSpaceError("\(name): mean aggregation needs equal shapes, got \(tokens.shape) beside \(first.name)'s \(first.tokens.shape)")
            }
            return Tensor.stack(layers.map(\.tokens), dim: 0).mean(0)
        }
    }

    /// A mixture of encoders: their tokens side by side along the feature axis, (B, T, D_1 + D_2 + ...).
    /// Every encoder must give the same B and T; pool them to a common count first (`nestedPool`).
    public static func mixture(_ encoders: [(name: String, tokens: Tensor)]) throws -> Tensor {
        guard let first = encoders.first else { throw TargetSpaceError("mixture: no encoders given") }
        for (name, tokens) in encoders where tokens.ndim != 3 || Array(tokens.shape.prefix(2)) != Array(first.tokens.shape.prefix(2)) {
            throw TargetSpaceError("\(name): expected tokens (\(first.tokens.shape[0]), \(first.tokens.shape[1]), D) " +
                                   "like \(first.name), got \(tokens.shape)")
        }
        return Tensor.cat(encoders.map(\.tokens), dim: 2)
    }

    static func exactSquareRoot(_ n: Int) -> Int? {
        guard n >= 0 else { return nil }
        var r = Int(Double(n).squareRoot())
        while r * r > n { r -= 1 }
        while (r + 1) * (r + 1) <= n { r += 1 }
        return r * r == n ? r : nil
    }
}
