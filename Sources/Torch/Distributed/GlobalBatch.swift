import CTorch

/// A rank's place in a data-parallel step: it holds rows [rank * b, (rank + 1) * b) of a global batch of
/// `worldSize * b` samples. While `GlobalBatch.current` is set, `F.dropout` draws its noise for the whole
/// global batch (dim 0 being the batch) and keeps this rank's rows: the masks and the generator's state are
/// then what one process training the global batch would have, so the run does not depend on the world
/// size. (Draws libtorch makes inside one kernel, such as attention dropout, are not covered.)
public struct GlobalBatch: Sendable, Equatable {
    public let rank: Int
    public let worldSize: Int
    public init(rank: Int, worldSize: Int) { (self.rank, self.worldSize) = (rank, worldSize) }

    @TaskLocal public static var current: GlobalBatch?

    /// `F.dropout(x, p, training: true)` of this rank's rows of the global batch.
    public func dropout(_ x: Tensor, p: Double) -> Tensor {
        Tensor.make { ct_dropout_global_rows(x.handle, p, Int32(rank), Int32(worldSize), $0) }
    }
}
