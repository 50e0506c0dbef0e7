import Foundation
import Torch

/// The best image retrieval any model can reach on a synthetic NSD: the Bayes-optimal decision for an
/// observer that knows every voxel's tuning, the noise covariance and the latents of the candidate images.
/// With Gaussian noise of covariance `Sigma` the posterior of candidate `c` given one trial's raw responses
/// `y` ranks as `y^T Sigma^-1 mu_c - mu_c^T Sigma^-1 mu_c / 2`, where `mu_c = W z_c`. `independent`: `Sigma`
/// is `sigma^2 I`, so the ranking is `y . mu_c - |mu_c|^2 / 2`. `shared-anatomy`: `Sigma` is one trial's
/// marginal covariance, session offset included (see SyntheticNoise.swift); the observer does not estimate
/// a session's offset from the session's other trials, and for averaged repeats it keeps the same `Sigma`
/// (exact up to scale when the repeats fall in different sessions).
public struct OracleRetrieval: Encodable, Sendable, Equatable {
    /// Top-1 image retrieval, single trials: pools of `poolSize` test trials; a hit tied with `k - 1` other
    /// candidates counts `1/k` (repeats of one image in a pool tie exactly).
    public var singleTrial: Double
    /// What a perfect scorer reaches under the same single-trial protocol: below 1 because repeats of one
    /// image in a pool tie.
    public var singleTrialCeiling: Double
    /// Top-1 image retrieval after averaging each test image's repeats: pools of distinct images.
    public var averaged: Double
    /// Chance level, `1 / poolSize`.
    public var chance: Double
    public var poolSize: Int
    public var pools: Int
    /// Per subject, in subject order.
    public var singleTrialPerSubject: [Double]
    public var averagedPerSubject: [Double]

    enum CodingKeys: String, CodingKey {
        case singleTrial = "top1_single_trial", singleTrialCeiling = "top1_single_trial_ceiling", averaged = "top1_repeats_averaged", chance
        case poolSize = "pool_size", pools, singleTrialPerSubject = "top1_single_trial_per_subject"
        case averagedPerSubject = "top1_repeats_averaged_per_subject"
    }
}

extension SyntheticNSD {
    /// Oracle top-1 image retrieval from single-trial betas and from repeat-averaged betas (see
    /// `OracleRetrieval`), `pools` random pools of `poolSize` per subject (fewer when the test set is
    /// smaller), averaged over pools and subjects. `betas` are the z-scored betas with their statistics
    /// (computed when nil). `assumeWhiteNoise` ranks as if `Sigma` were a multiple of `I` (no longer optimal
    /// under `shared-anatomy`; for comparison).
    public func oracleTop1(betas given: [(betas: Tensor, mean: Tensor, std: Tensor)]? = nil, poolSize: Int = 300,
                           pools: Int = 30, assumeWhiteNoise: Bool = false) -> OracleRetrieval
    {
        Self.rngLock.lock()
        defer { Self.rngLock.unlock() }
        let saved = Torch.rngState()
        defer { Torch.setRNGState(saved) }
        let testIds = (0..<imageCount).filter { shared[$0] }
        let position = Dictionary(uniqueKeysWithValues: testIds.enumerated().map { ($0.element, $0.offset) })
        var single: [Double] = [], averaged: [Double] = [], ceiling: [Double] = []
        var usedPool = poolSize
        for (s, subject) in subjects.enumerated() {
            let b = given?[s] ?? betas(subject)
            let rows = subject.trialImages.indices.filter { shared[subject.trialImages[$0]] }
            let y = b.betas.indexSelect(0, Tensor(rows.map(Int64.init))) * b.std + b.mean      // (trials, V)
            let mu = latents.indexSelect(0, Tensor(testIds.map(Int64.init))).matmul(subject.tuning.T)  // (images, V)
            // Sigma^-1 mu^T (V, images); white noise: Sigma is a multiple of I, which does not change the ranking
            let whiteNoise = config.preset == .independent || config.noise == 0 || assumeWhiteNoise
            let precise = whiteNoise ? mu.T : applyNoisePrecision(subject, mu.T)
            let half = (mu * precise.T).sum(1) * 0.5                                           // (images)
            let scores = (y.matmul(precise) - half).toArray(Float.self)                        // (trials, images)
            let images = rows.map { position[subject.trialImages[$0]]! }

            let repeatsOf = Dictionary(grouping: rows.indices, by: { images[$0] })
            let averages = (0..<testIds.count).map { y.indexSelect(0, Tensor(repeatsOf[$0]!.map(Int64.init))).mean(0) }
            let averageScores = (Tensor.stack(averages).matmul(precise) - half).toArray(Float.self)  // (images, images)

            Self.seed(config, stream: 300 + UInt64(subject.number))
            let n = testIds.count
            let trialPool = min(poolSize, rows.count), imagePool = min(poolSize, n)
            usedPool = min(usedPool, trialPool)
            var hitSingle = 0.0, hitAveraged = 0.0, perfect = 0.0
            for _ in 0..<pools {
                let pool = Array(Tensor.randperm(rows.count).toArray(Int.self).prefix(trialPool))
                let candidates = pool.map { images[$0] }
                hitSingle += Self.top1(scores, columns: n, queries: pool, truth: candidates, candidates: candidates)
                let copies = Dictionary(grouping: candidates, by: { $0 }).mapValues(\.count)
                perfect += candidates.map { 1 / Double(copies[$0]!) }.reduce(0, +) / Double(candidates.count)
                let picked = Array(Tensor.randperm(n).toArray(Int.self).prefix(imagePool))
                hitAveraged += Self.top1(averageScores, columns: n, queries: picked, truth: picked, candidates: picked)
            }
            single.append(hitSingle / Double(pools))
            averaged.append(hitAveraged / Double(pools))
            ceiling.append(perfect / Double(pools))
        }
        let mean = { (v: [Double]) in v.reduce(0, +) / Double(max(v.count, 1)) }
        return OracleRetrieval(singleTrial: mean(single), singleTrialCeiling: mean(ceiling), averaged: mean(averaged), chance: 1 / Double(usedPool),
                               poolSize: usedPool, pools: pools, singleTrialPerSubject: single,
                               averagedPerSubject: averaged)
    }

    /// Mean top-1 over `queries` (rows of the row-major `scores` with `columns` columns): query `q` hits when
    /// its true column `truth[q]` scores highest among `candidates`, counting `1/k` for a `k`-way tie.
    static func top1(_ scores: [Float], columns: Int, queries: [Int], truth: [Int], candidates: [Int]) -> Double {
        var total = 0.0
        for (q, row) in queries.enumerated() {
            let base = row * columns
            let correct = scores[base + truth[q]]
            var best = -Float.infinity, ties = 0
            for c in candidates {
                let v = scores[base + c]
                if v > best { best = v; ties = 1 } else if v == best { ties += 1 }
            }
            if correct == best { total += 1 / Double(ties) }
        }
        return total / Double(max(queries.count, 1))
    }
}
