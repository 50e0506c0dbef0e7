import BrainData
import Foundation
import Torch

/// How a correct candidate that ties with others for the top score is counted.
public enum TieRule: String, Codable, Sendable, CaseIterable {
    /// 1/k for a hit tied with k − 1 others: the expected value of breaking ties at random.
    case fractional
    /// 0 for any tied hit.
    case strict

    public var description: String {
        switch self {
        case .fractional: "ties count 1/k"
        case .strict: "ties count 0"
        }
    }
}

/// Whether repeats of an image are scored one by one or averaged first.
public enum RetrievalProtocol: String, Codable, Sendable, CaseIterable {
    /// Every trial is its own sample (VoxelFormer's protocol).
    case singleTrial = "single-trial"
    /// The model's outputs for all repeats of an image are averaged (MindEye2's protocol).
    case outputAveraged = "output-averaged"
}

/// Top-1 retrieval among pools of candidates, in both directions:
/// image retrieval (for each brain sample, find its image) and brain retrieval (for each image, find its
/// brain sample).
public struct RetrievalScorer {
    /// (N, M): cosine of brain sample i with unique target u.
    let similarity: [[Float]]
    /// The unique-target index of each sample.
    let targetOf: [Int]
    public let count: Int

    /// brain and targets: (N, ...) with row i of each belonging to the same sample; flattened per row.
    /// Rows with identical targets (repeats of an image) share one target, so their similarities are
    /// exactly equal and ties are found exactly.
    public init(brain: Tensor, targets: Tensor) {
        let n = brain.size(0)
        precondition(targets.size(0) == n, "brain has \(n) rows, targets \(targets.size(0))")
        let p = F.normalize(brain.reshape(n, -1).to(.float32), dim: 1)
        let t = targets.reshape(n, -1).to(.float32)
        // group identical target rows
        var firstRowOfBytes: [Data: Int] = [:]
        var uniqueRows: [Int] = []
        var targetOf: [Int] = []
        for i in 0..<n {
            let key = t[i].bytes()
            if let u = firstRowOfBytes[key] {
                targetOf.append(u)
            } else {
                firstRowOfBytes[key] = uniqueRows.count
                targetOf.append(uniqueRows.count)
                uniqueRows.append(i)
            }
        }
        let tu = F.normalize(t.indexSelect(0, Tensor(uniqueRows)), dim: 1)
        let s = Torch.noGrad { p.matmul(tu.T) }  // (N, M)
        let m = uniqueRows.count
        let flat = s.toArray(Float.self)
        similarity = (0..<n).map { Array(flat[($0 * m)..<(($0 + 1) * m)]) }
        self.targetOf = targetOf
        count = n
    }

    /// Top-1 accuracies over one pool of sample indices.
    public func score(pool: [Int], rule: TieRule) -> (imageRetrieval: Double, brainRetrieval: Double) {
        var image = 0.0, brain = 0.0
        for i in pool {
            // image retrieval: brain sample i against the targets of the pool
            let own = similarity[i][targetOf[i]]
            var above = false, tied = 0
            for j in pool {
                let s = similarity[i][targetOf[j]]
                if s > own { above = true; break }
                if s == own { tied += 1 }
            }
            if !above { image += credit(tied, rule) }
            // brain retrieval: target of i against the brain samples of the pool
            let target = targetOf[i]
            var aboveB = false, tiedB = 0
            for j in pool {
                let s = similarity[j][target]
                if s > own { aboveB = true; break }
                if s == own { tiedB += 1 }
            }
            if !aboveB { brain += credit(tiedB, rule) }
        }
        return (image / Double(pool.count), brain / Double(pool.count))
    }

    private func credit(_ tied: Int, _ rule: TieRule) -> Double {
        tied <= 1 ? 1 : (rule == .fractional ? 1 / Double(tied) : 0)
    }

    /// Mean over `pools` random pools of `poolSize` samples drawn without replacement (seeded). When there
    /// are fewer samples than `poolSize`, one pool of all samples is scored.
    public func evaluate(pools: Int, poolSize: Int, seed: UInt64, rule: TieRule)
        -> (imageRetrieval: Double, brainRetrieval: Double, poolSize: Int, pools: Int)
    {
        let drawn = RetrievalScorer.drawPools(count: count, pools: pools, poolSize: poolSize, seed: seed)
        var image = 0.0, brain = 0.0
        for pool in drawn {
            let s = score(pool: pool, rule: rule)
            image += s.imageRetrieval
            brain += s.brainRetrieval
        }
        return (image / Double(drawn.count), brain / Double(drawn.count), drawn[0].count, drawn.count)
    }

    /// The pools `evaluate` scores: SplitMix64 seeded with `seed`; per pool a Fisher–Yates shuffle of
    /// 0..<count, of which the first `poolSize` are kept. One pool of all samples when count ≤ poolSize.
    public static func drawPools(count: Int, pools: Int, poolSize: Int, seed: UInt64) -> [[Int]] {
        if count <= poolSize { return [Array(0..<count)] }
        var rng = SeededGenerator(seed: seed)
        return (0..<pools).map { _ in
            var all = Array(0..<count)
            rng.shuffle(&all)
            return Array(all.prefix(poolSize))
        }
    }
}
