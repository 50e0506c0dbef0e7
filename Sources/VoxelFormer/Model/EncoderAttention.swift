import Torch

/// Encoder attention: bias-free q, k, v projections, no output projection, scale head_dim^-0.5.
/// Full attention by default; with `neighbors` set, each query attends to its k nearest other tokens.
/// Also returns ToMe's metric: the keys averaged over heads, (B, N, C/heads).
/// Names: `query_proj`, `key_proj`, `value_proj` (the reference's `FullAttention`).
public final class EncoderAttention: Module {
    @ModuleInfo(key: "query_proj") public var queryProj: Linear
    @ModuleInfo(key: "key_proj") public var keyProj: Linear
    @ModuleInfo(key: "value_proj") public var valueProj: Linear
    public let heads: Int
    /// nil: full attention.
    public let neighbors: Int?

    public init(width: Int, heads: Int, neighbors: Int? = nil) {
        _queryProj.wrappedValue = Linear(width, width, bias: false)
        _keyProj.wrappedValue = Linear(width, width, bias: false)
        _valueProj.wrappedValue = Linear(width, width, bias: false)
        self.heads = heads
        self.neighbors = neighbors
        super.init()
    }

    /// x (B, N, C); `positions` (B, N, P) or (N, P) for kNN; `logSizes` (B, N) adds log(size) to the logits
    /// (proportional attention). Returns the output (B, N, C) and the metric (B, N, C/heads).
    public func callAsFunction(_ x: Tensor, positions: Tensor? = nil, logSizes: Tensor? = nil)
        -> (output: Tensor, metric: Tensor)
    {
        let (b, n, c) = (x.size(0), x.size(1), x.size(2))
        let d = c / heads
        func split(_ t: Tensor) -> Tensor { t.view(b, n, heads, d).transpose(1, 2) }  // (B, h, N, d)
        let qkv = Linear.fused([queryProj, keyProj, valueProj], x)  // one matmul, C -> 3C
        let q = split(qkv[0]), k = split(qkv[1]), v = split(qkv[2])
        let scale = 1 / Double(d).squareRoot()
        let out: Tensor
        if let neighbors, let positions {
            out = neighbourAttention(q, k, v, positions: positions, k: neighbors, scale: scale, logSizes: logSizes)
        } else {
            let mask = logSizes.map { $0.view(b, 1, 1, n).to(q.dtype) }
            out = F.scaledDotProductAttention(q, k, v, mask: mask, scale: scale)
        }
        let metric = k.mean(1)  // (B, N, d)
        return (out.transpose(1, 2).reshape(b, n, c), metric)
    }

    /// Softmax over each query's `k` nearest other tokens by squared Euclidean distance of `positions`.
    private func neighbourAttention(_ q: Tensor, _ keys: Tensor, _ values: Tensor, positions: Tensor, k: Int,
                                    scale: Double, logSizes: Tensor?) -> Tensor
    {
        let (b, h, n, d) = (q.size(0), q.size(1), q.size(2), q.size(3))
        let p = (positions.ndim == 2 ? positions.unsqueeze(0).expand([b, -1, -1]) : positions).to(.float32)
        let nearest = Torch.noGrad { () -> Tensor in
            let sq = p.square().sum(-1, keepDim: true)  // (B, N, 1)
            let dist = sq + sq.transpose(1, 2) - p.bmm(p.transpose(1, 2)) * 2
            let selfMask = Tensor.eye(n, dtype: .bool).unsqueeze(0)
            return dist.maskedFill(selfMask, .infinity).topk(Swift.min(k, n - 1), dim: -1, largest: false).indices
        }  // (B, N, k)
        let kk = nearest.size(2)
        // gather neighbours per head: (B, h, N*k, d) -> (B, h, N, k, d)
        let flat = nearest.reshape(b, 1, n * kk, 1).expand([b, h, n * kk, d])
        let kn = keys.gather(2, flat).view(b, h, n, kk, d)
        let vn = values.gather(2, flat).view(b, h, n, kk, d)
        var scores = (q.unsqueeze(3) * kn).sum(-1) * scale  // (B, h, N, k)
        if let logSizes {
            scores = scores + logSizes.gather(1, nearest.reshape(b, n * kk)).view(b, 1, n, kk).to(scores.dtype)
        }
        let probs = scores.softmax(-1)
        return (probs.unsqueeze(-1) * vn).sum(3)  // (B, h, N, d)
    }
}
