import BrainData
import Torch

/// An epoch's batches as tensors, in the sampler's order: the one path from `TrainingData.trainBatch`
/// to the training step (and what `voxelformer-bench data-loading` times). With `prefetch > 0` a
/// background thread assembles up to that many batches ahead.
public final class BatchStream {
    let prefetcher: Prefetcher<NSDBatch>?
    var batches: IndexingIterator<[Batch]>
    let data: TrainingData

    public init(_ batches: [Batch], data: TrainingData, prefetch: Int) {
        self.batches = batches.makeIterator()
        self.data = data
        prefetcher = prefetch > 0 && !batches.isEmpty
            // the scope turns a libtorch failure on the prefetch thread into an error for `next()`
            ? Prefetcher(batches, capacity: prefetch) { b in try withTorchError { try BatchStream.assemble(b, data) } }
            : nil
    }

    /// The next batch; nil after the last.
    public func next() throws -> NSDBatch? {
        guard let batch = batches.next() else { return nil }
        if let prefetcher {
            guard let tensors = try prefetcher.next() else {
                throw ConfigError("the batch prefetcher ended early at subject \(batch.subject)")
            }
            return tensors
        }
        return try Self.assemble(batch, data)
    }

    /// A batch and, when mixed, each other subject's part.
    static func assemble(_ batch: Batch, _ data: TrainingData) throws -> NSDBatch {
        var assembled = try data.trainBatch(Batch(subject: batch.subject, trials: batch.trials))
        assembled.others = try batch.others.map { try data.trainBatch($0) }
        return assembled
    }
}
