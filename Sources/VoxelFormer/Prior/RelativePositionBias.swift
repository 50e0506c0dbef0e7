import Foundation
import Torch

/// T5-style relative position bias: a learned scalar per head for each bucket of `key - query` offsets.
/// Buckets are one-sided: a key at or after its query falls in bucket 0; a key `n` places before falls in
/// bucket `n` below `numBuckets / 2` and in logarithmically wider buckets up to `maxDistance` beyond.
public final class RelativePositionBias: Module {
    /// (numBuckets, heads)
    @ModuleInfo(key: "relative_attention_bias") public var relativeAttentionBias: Embedding
    public let numBuckets: Int
    public let maxDistance: Int

    public init(heads: Int, numBuckets: Int = 32, maxDistance: Int = 128) {
        self.numBuckets = numBuckets
        self.maxDistance = maxDistance
        _relativeAttentionBias.wrappedValue = Embedding(numBuckets, heads)
        super.init()
    }

    /// The bucket of each `key - query` offset (int64, same shape), computed in float32 as the reference does.
    public static func bucket(_ offsets: Tensor, numBuckets: Int = 32, maxDistance: Int = 128) -> Tensor {
        let zero = Tensor.zeros([], dtype: .int64, device: offsets.device)
        let back = Tensor.where(offsets .> 0, zero, -offsets)  // how far the key lies before the query
        let exact = numBuckets / 2
        let far = (back.maximum(zero + 1).to(.float32) / Double(exact)).log()
            / Foundation.log(Double(maxDistance) / Double(exact)) * Double(numBuckets - exact)
        let wide = (far.to(.int64) + exact).minimum(zero + (numBuckets - 1))
        return Tensor.where(back .< exact, back, wide)
    }

    /// The bias for `queries` positions against `keys` positions, (heads, queries, keys).
    public func callAsFunction(queries: Int, keys: Int) -> Tensor {
        let device = relativeAttentionBias.weight.device
        let offsets = Tensor.arange(keys, device: device).unsqueeze(0) - Tensor.arange(queries, device: device).unsqueeze(1)
        let buckets = Self.bucket(offsets, numBuckets: numBuckets, maxDistance: maxDistance)
        return relativeAttentionBias(buckets).permute(2, 0, 1)
    }
}
