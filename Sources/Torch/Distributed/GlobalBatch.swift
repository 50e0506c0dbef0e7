import CTorch

/// A rank's place in a data-parallel step: it holds its share of a global batch of `worldSize` times its own
/// rows. While `GlobalBatch.current` is set, `F.dropout` draws its noise for the whole global batch (dim 0
/// being the batch) and keeps this rank's rows: the masks and the generator's state are then what one process
/// training the global batch would have, so the run does not depend on the world size. (Draws libtorch makes
/// inside one kernel, such as attention dropout, are not covered.)
public struct GlobalBatch: Sendable, Equatable {
    public let rank: Int
    public let worldSize: Int
    /// The rows of each part (a subject's trials) this rank holds, in order, when a batch has several: the
    /// global batch is the parts one after another, each part's rows rank after rank (`DataParallel.shard`'s
    /// layout). Empty: one part, this rank's rows being [rank * b, (rank + 1) * b).
    public let parts: [Int]
    public init(rank: Int, worldSize: Int, parts: [Int] = []) {
        (self.rank, self.worldSize, self.parts) = (rank, worldSize, parts)
    }

    @TaskLocal public static var current: GlobalBatch?

    /// `F.dropout(x, p, training: true)` of this rank's rows of the global batch.
    public func dropout(_ x: Tensor, p: Double) -> Tensor {
        let counts = parts.map(Int64.init)
        return Tensor.make { out in
            counts.withUnsafeBufferPointer {
                ct_dropout_global_rows(x.handle, p, Int32(rank), Int32(worldSize), $0.baseAddress, Int32(counts.count), out)
            }
        }
    }
}
