import Foundation
import Testing
import Torch
@testable import Training
@testable import VoxelFormer

/// One case of `Fixtures/retrieval.json` (scores computed in NumPy by `generate_evaluation.py`).
struct RetrievalCase: Decodable {
    struct Scores: Decodable { let image: Double, brain: Double }
    let name: String
    let brainShape: [Int]
    let brain: [Float], targets: [Float]
    let imageIds: [Int]
    let pools: Int, poolSize: Int, seed: UInt64
    let `protocol`: String
    let firstPool: [Int]
    let poolsDrawn: Int, samples: Int
    let cosine: Double
    let fractional: Scores, strict: Scores
    let fractionalFirstPool: Scores, strictFirstPool: Scores

    var brainTensor: Tensor { Tensor(brain, shape: brainShape) }
    var targetsTensor: Tensor { Tensor(targets, shape: brainShape) }
    func expected(_ rule: TieRule) -> Scores { rule == .fractional ? fractional : strict }
    func expectedFirstPool(_ rule: TieRule) -> Scores { rule == .fractional ? fractionalFirstPool : strictFirstPool }
    func evalConfig(_ rule: TieRule) -> EvalConfig {
        var c = EvalConfig()
        (c.pools, c.poolSize, c.seed, c.ties) = (pools, poolSize, seed, rule)
        c.protocolName = RetrievalProtocol(rawValue: `protocol`)!
        return c
    }
}

func retrievalCases() throws -> [RetrievalCase] {
    struct File: Decodable { let cases: [RetrievalCase] }
    return try Fixture.decode(File.self, "retrieval.json").cases
}

@Suite(.serialized) struct RetrievalTests {
    @Test func poolsAreDrawnAsTheNumPyReimplementationDrawsThem() throws {
        for c in try retrievalCases() {
            let drawn = RetrievalScorer.drawPools(count: c.samples, pools: c.pools, poolSize: c.poolSize, seed: c.seed)
            #expect(drawn.count == c.poolsDrawn, "\(c.name)")
            #expect(drawn[0] == c.firstPool, "\(c.name)")
            #expect(drawn.allSatisfy { Set($0).count == $0.count && $0.allSatisfy { (0..<c.samples).contains($0) } })
        }
        // a different seed draws different pools
        #expect(RetrievalScorer.drawPools(count: 40, pools: 2, poolSize: 12, seed: 1)
            != RetrievalScorer.drawPools(count: 40, pools: 2, poolSize: 12, seed: 2))
    }

    @Test(arguments: TieRule.allCases)
    func singleTrialScoresMatchNumPyInBothDirections(rule: TieRule) throws {
        for c in try retrievalCases() where c.protocol == "single-trial" {
            let scorer = RetrievalScorer(brain: c.brainTensor, targets: c.targetsTensor)
            let first = scorer.score(pool: c.firstPool, rule: rule)
            #expect(Swift.abs(first.imageRetrieval - c.expectedFirstPool(rule).image) < 1e-12, "\(c.name) \(rule) image, first pool")
            #expect(Swift.abs(first.brainRetrieval - c.expectedFirstPool(rule).brain) < 1e-12, "\(c.name) \(rule) brain, first pool")
            let all = scorer.evaluate(pools: c.pools, poolSize: c.poolSize, seed: c.seed, rule: rule)
            #expect(Swift.abs(all.imageRetrieval - c.expected(rule).image) < 1e-12, "\(c.name) \(rule) image: \(all.imageRetrieval)")
            #expect(Swift.abs(all.brainRetrieval - c.expected(rule).brain) < 1e-12, "\(c.name) \(rule) brain: \(all.brainRetrieval)")
            #expect(all.pools == c.poolsDrawn && all.poolSize == c.firstPool.count, "\(c.name)")
        }
    }

    @Test func theFixtureHoldsTiesThatSeparateTheTwoRules() throws {
        // otherwise the rule tests above could pass with either rule
        let ties = try retrievalCases().filter { $0.fractional.image != $0.strict.image }
        #expect(ties.count >= 3)
        #expect(try retrievalCases().contains { $0.fractional.brain != $0.strict.brain })
    }

    @Test func aHitTiedWithOneOtherCandidateCountsHalfOrNothing() {
        // by hand: two brain rows equal to their identical targets (a repeated image): each image-retrieval
        // hit ties with the repeat's copy of the same target; brain retrieval ties the same way.
        let t = Tensor([Float](arrayLiteral: 1, 0, 1, 0, 0, 1), shape: [3, 2])
        let b = Tensor([Float](arrayLiteral: 1, 0, 1, 0, 0, 1), shape: [3, 2])
        let scorer = RetrievalScorer(brain: b, targets: t)
        let fractional = scorer.score(pool: [0, 1, 2], rule: .fractional)
        let strict = scorer.score(pool: [0, 1, 2], rule: .strict)
        #expect(fractional.imageRetrieval == (0.5 + 0.5 + 1) / 3)
        #expect(fractional.brainRetrieval == (0.5 + 0.5 + 1) / 3)
        #expect(strict.imageRetrieval == 1.0 / 3 && strict.brainRetrieval == 1.0 / 3)
    }
}
