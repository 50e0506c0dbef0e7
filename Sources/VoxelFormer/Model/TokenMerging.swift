import Torch

/// ToMe bipartite soft matching (Bolya et al.), as the reference runs it.
///
/// Tokens at even positions (A) are matched to tokens at odd positions (B) by cosine similarity of the
/// metric; the `r` A tokens with the best matches are merged into their partners as size-weighted means.
/// The output holds the unmerged A tokens in descending best-score order, then all B tokens in their
/// original order; the next layer's even/odd split depends on that order.
public enum TokenMerging {
    /// x (B, N, C), metric (B, N, D), sizes (B, N, 1) or nil for all ones.
    /// Returns (B, N - r', C) and the merged sizes (B, N - r', 1), r' = min(r, N / 2).
    public static func merge(_ x: Tensor, metric: Tensor, r: Int, sizes: Tensor? = nil)
        -> (x: Tensor, sizes: Tensor)
    {
        let (b, n, c) = (x.size(0), x.size(1), x.size(2))
        let sizes = sizes ?? Tensor.ones([b, n, 1], dtype: x.dtype)
        let r = Swift.min(r, n / 2)
        guard r > 0 else { return (x, sizes) }

        let (srcIdx, dstIdx, unmIdx) = Torch.noGrad { () -> (Tensor, Tensor, Tensor) in
            let m = metric / metric.norm(2, dims: [-1], keepDim: true)
            let a = m[.all, .stride(0, nil, 2), .all], bb = m[.all, .stride(1, nil, 2), .all]
            let scores = a.matmul(bb.transpose(-1, -2))  // (B, Na, Nb)
            let (best, partner) = scores.max(-1)  // (B, Na)
            let order = best.argsort(-1, descending: true).unsqueeze(-1)  // (B, Na, 1)
            let unm = order[.all, r..., .all]  // (B, Na - r, 1)
            let src = order[.all, ..<r, .all]  // (B, r, 1)
            let dst = partner.unsqueeze(-1).gather(1, src)  // (B, r, 1)
            return (src, dst, unm)
        }

        func merged(_ values: Tensor, width: Int) -> Tensor {
            let a = values[.all, .stride(0, nil, 2), .all], bb = values[.all, .stride(1, nil, 2), .all]
            let unm = a.gather(1, unmIdx.expand([b, unmIdx.size(1), width]))
            let src = a.gather(1, srcIdx.expand([b, r, width]))
            let dst = bb.scatterReduce(1, dstIdx.expand([b, r, width]), src, .sum)
            return Tensor.cat([unm, dst], dim: 1)
        }
        let summed = merged(x * sizes, width: c)
        let newSizes = merged(sizes, width: 1)
        return (summed / newSizes, newSizes)
    }
}
