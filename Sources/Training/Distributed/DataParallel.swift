import BrainData
import Foundation
import Torch

/// Data-parallel training over a c10d process group, what the `Trainer` consults when `dataParallel` is
/// set (docs/distributed.md):
/// - every rank draws the same global batches (one sampler, `train.batch_size` trials, the shared seed) and
///   trains on its own contiguous slice of each, `batch_size / world_size` trials (`shard`);
/// - a family's loss sees the global batch: `gather` for inputs and targets, `gatherWithGradient` for the
///   embeddings (the local slice keeps its gradient), and draws its random mixing for the global batch;
/// - backward averages the gradients over the ranks, all-reducing buckets of them while it runs (`backward`,
///   c10d's Reducer as DistributedDataParallel uses it);
/// - evaluation is split across the ranks and gathered (`splitAcrossRanks`); rank 0 alone writes
///   checkpoints, metrics and logs, and the others wait at a barrier while it does.
public final class DataParallel: @unchecked Sendable {
    public let group: ProcessGroup
    public var rank: Int { group.rank }
    public var worldSize: Int { group.worldSize }
    /// Rank 0 writes the run folder and evaluates.
    public var isWriter: Bool { rank == 0 }
    /// DistributedDataParallel's bucket sizes: 25 MB, and 1 MB for the first parameters' bucket (the last to be
    /// all-reduced). Read when `backward` first runs.
    public var bucketBytes = 25 * 1024 * 1024
    public var firstBucketBytes = 1024 * 1024
    /// Seconds a barrier may wait while rank 0 evaluates or writes a checkpoint.
    public var writerTimeout: Double = 3600
    /// Seconds of gradient all-reduce that backward did not hide (from its last gradient to its end), summed
    /// over the `backward` calls so far (the bench's ms/step).
    public private(set) var exposedAllReduceSeconds = 0.0
    public private(set) var backwardCalls = 0
    /// Made at the first `backward`.
    public private(set) var reducer: GradientReducer?
    let heartbeat: Heartbeat?

    /// The group the family's loss is being computed for (`Trainer.trainStep` sets it around the loss).
    @TaskLocal public static var current: DataParallel?

    /// - Parameter heartbeat: seconds between heartbeats, so that a failure can name the ranks that died.
    public init(group: ProcessGroup, heartbeat interval: Double = 1) throws {
        self.group = group
        heartbeat = try Heartbeat(store: group.store, rank: group.rank, interval: interval)
    }

    /// Runs a family's loss as a rank of the global batch: `current` is set for the losses, and
    /// `GlobalBatch.current` makes dropout draw the global batch's masks.
    public static func within<R>(_ parallel: DataParallel?, _ body: () throws -> R) rethrows -> R {
        guard let parallel else { return try body() }
        return try $current.withValue(parallel) {
            try GlobalBatch.$current.withValue(GlobalBatch(rank: parallel.rank, worldSize: parallel.worldSize), operation: body)
        }
    }

    // MARK: batches

    /// This rank's slice of a global batch (of each subject's part, for mixed batches): trials
    /// [rank * n / W, (rank + 1) * n / W). Throws when a part does not split evenly.
    public func shard(_ batch: Batch) throws -> Batch {
        func slice(_ b: Batch) throws -> Batch {
            guard b.trials.count % worldSize == 0 else {
                throw ConfigError("train.batch_size: a batch of \(b.trials.count) trials of subject \(b.subject) does not split "
                    + "evenly over \(worldSize) ranks; use a batch size divisible by the world size (each rank trains on "
                    + "batch_size / world_size trials)")
            }
            let n = b.trials.count / worldSize
            return Batch(subject: b.subject, trials: Array(b.trials[rank * n ..< (rank + 1) * n]))
        }
        let local = try slice(batch)
        return Batch(subject: local.subject, trials: local.trials, others: try batch.others.map(slice))
    }

    /// Rows [rank * n / W, (rank + 1) * n / W) of a global (n, ...) tensor.
    public func localRows(_ global: Tensor) -> Tensor {
        let n = global.size(0) / worldSize
        return global.slice(0, start: rank * n, end: (rank + 1) * n)
    }

    // MARK: collectives for the loss

    /// Every rank's (b, ...) tensor stacked in rank order, (W * b, ...), without gradient.
    public func gather(_ local: Tensor) throws -> Tensor {
        try collective("all-gather") { try group.allGather(local.detach().contiguous()) }
    }

    /// As `gather`, with this rank's slice replaced by `local` itself so its gradient flows back; the
    /// slice's gradient is scaled by W, so that averaging the ranks' gradients gives the gradient of the
    /// global loss (each rank holds only its own slice's share of it). Values are exactly `gather`'s.
    public func gatherWithGradient(_ local: Tensor) throws -> Tensor {
        let all = try gather(local)
        let b = local.size(0)
        let kept = local.detach()
        let withGrad = kept + (local - kept) * Double(worldSize)
        var parts = all.split(b, dim: 0)
        parts[rank] = withGrad
        return Tensor.cat(parts, dim: 0)
    }

    /// `gather` of a batch of several parts (subjects), this rank holding `parts[s]` rows of part s, in order:
    /// the global batch in one process's order, part after part, each part's rows rank after rank.
    public func gather(_ local: Tensor, parts: [Int]) throws -> Tensor {
        partsInOrder(try gather(local), parts: parts)
    }

    /// `gatherWithGradient` of a batch of several parts, in one process's order (`gather(_:parts:)`).
    public func gatherWithGradient(_ local: Tensor, parts: [Int]) throws -> Tensor {
        partsInOrder(try gatherWithGradient(local), parts: parts)
    }

    /// Rows gathered rank after rank, each rank's being its parts in order, put part after part.
    func partsInOrder(_ gathered: Tensor, parts: [Int]) -> Tensor {
        guard parts.count > 1 else { return gathered }
        let b = parts.reduce(0, +)
        var pieces: [Tensor] = [], offset = 0
        for n in parts {
            for r in 0..<worldSize { pieces.append(gathered.slice(0, start: r * b + offset, end: r * b + offset + n)) }
            offset += n
        }
        return Tensor.cat(pieces, dim: 0)
    }

    /// `work(0) ... work(count - 1)`, split round-robin over the ranks (rank r does r, r + W, ...) and
    /// all-gathered, so every rank returns all of them in order: evaluation split across ranks. Each result
    /// is a list of tensors whose dim 0 has `rows(i)` rows (at most `rows(0)`); a rank with nothing left in
    /// the last round repeats the last item and drops it.
    public func splitAcrossRanks(count: Int, rows: (Int) -> Int, _ work: (Int) throws -> [Tensor]) throws -> [[Tensor]] {
        guard count > 0 else { return [] }
        let most = rows(0)
        var results: [[Tensor]] = []
        for round in 0..<((count + worldSize - 1) / worldSize) {
            let mine = round * worldSize + rank
            let local = try work(min(mine, count - 1))
            // every rank's result of this round, padded to `most` rows so the shapes agree
            let gathered = try local.map { t -> [Tensor] in
                let padded = t.size(0) == most ? t
                    : Tensor.cat([t, Tensor.zeros([most - t.size(0)] + Array(t.shape.dropFirst()), dtype: t.dtype)])
                return try gather(padded).split(most, dim: 0)
            }
            for q in 0..<worldSize where round * worldSize + q < count {
                let n = rows(round * worldSize + q)
                results.append(gathered.map { $0[q].slice(0, start: 0, end: n) })
            }
        }
        return results
    }

    /// The mean of `value` over the ranks (the logged loss: the prior's part differs between ranks).
    public func average(_ value: Double) throws -> Double {
        let t = Tensor([value])
        try collective("all-reduce") { try group.allReduceSum([t]) }
        return t.item() / Double(worldSize)
    }

    /// Rank 0's value of a flag (whether the evaluation improved, say).
    public func broadcast(_ flag: Bool) throws -> Bool {
        let t = Tensor([Int64(flag ? 1 : 0)])
        try collective("broadcast") { try group.broadcast(t, root: 0) }
        return t.itemInt() != 0
    }

    /// Overwrites every parameter with rank 0's (the same seed builds the same weights; this makes sure).
    public func broadcastParameters(_ parameters: [Tensor]) throws {
        try collective("broadcast of the parameters") {
            try Torch.noGrad {
                for p in parameters {
                    let c = p.detach().contiguous()
                    try group.broadcast(c, root: 0)
                    p.copy_(c)
                }
            }
        }
    }

    /// `loss.backward()` through DistributedDataParallel's reducer (`GradientReducer`, made at the first call
    /// for `parameters`): each bucket of gradients is all-reduced as soon as backward has produced it, and
    /// backward returns with every gradient averaged over the ranks. Parameters that do not require a
    /// gradient (a frozen module) are left out; one that no rank's loss reached keeps no gradient.
    public func backward(_ loss: Tensor, parameters: [Tensor]) throws {
        if reducer == nil {
            reducer = try GradientReducer(parameters: parameters, group: group, firstBucketBytes: firstBucketBytes,
                                          bucketBytes: bucketBytes)
        }
        guard let reducer else { return }
        precondition(reducer.parameters.count == parameters.filter(\.requiresGrad).count,
                     "DataParallel.backward: the parameters changed after the first step")
        exposedAllReduceSeconds += try collective("gradient all-reduce") { try reducer.backward(loss) }
        backwardCalls += 1
    }

    /// "2 ranks x 1 thread (Gloo)": what the start line says of the workers.
    public func workers(threads: Int) -> String {
        "\(worldSize) ranks x \(threads) thread\(threads == 1 ? "" : "s") (\(group.backend.rawValue))"
    }

    /// Waits for every rank; `long` allows for rank 0 evaluating or writing (`writerTimeout`).
    public func barrier(_ why: String, long: Bool = false) throws {
        try collective("barrier (\(why))") { try group.barrier(timeout: long ? writerTimeout : nil) }
    }

    // MARK: failures

    /// Runs one collective; a c10d failure becomes `DistributedFailure`, naming the ranks whose heartbeat
    /// stopped.
    func collective<R>(_ what: String, _ body: () throws -> R) throws -> R {
        do {
            return try body()
        } catch let error as TorchError {
            let lost = group.lostRanks(window: 3)
            throw DistributedFailure(rank: rank, worldSize: worldSize, doing: what, lost: lost,
                                     message: String(error.message.split(separator: "\n").first ?? ""))
        }
    }
}

/// A collective failed: a rank died or stopped answering. `lost` holds the ranks whose heartbeat stopped
/// (nil: the store itself is gone with its host, rank 0 or the launcher).
public struct DistributedFailure: Error, CustomStringConvertible {
    public let rank: Int
    public let worldSize: Int
    public let doing: String
    public let lost: [Int]?
    public let message: String

    public var description: String {
        let who: String
        switch lost {
        case nil: who = "lost rank 0 (the TCP store on its host no longer answers)"
        case let ranks? where !ranks.isEmpty:
            who = "lost rank\(ranks.count == 1 ? "" : "s") \(ranks.map(String.init).joined(separator: ", "))"
        default: who = "no rank has stopped its heartbeat (a rank is stuck, or the network failed)"
        }
        return "rank \(rank) of \(worldSize): \(doing) failed, \(who): \(message)"
    }
}
