import Foundation
import Testing
@testable import BrainData

@Suite struct BatchingTests {
    @Test func splitMixMatchesItsReferenceSequence() {
        // Reference values of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
        var g = SeededGenerator(seed: 0)
        #expect([g.next(), g.next(), g.next()] == [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F])
    }

    @Test func batchesHoldOneSubjectAndDropEachSubjectsPartialBatch() {
        var sampler = SubjectBatchSampler(trialCounts: [1: 10, 2: 7, 5: 3], batchSize: 3, seed: 42)
        #expect(sampler.batchesPerEpoch == 3 + 2 + 1)
        let epoch = sampler.nextEpoch()
        #expect(epoch.count == 6)
        #expect(epoch.allSatisfy { $0.trials.count == 3 })
        for (subject, count, batches) in [(1, 10, 3), (2, 7, 2), (5, 3, 1)] {
            let mine = epoch.filter { $0.subject == subject }
            #expect(mine.count == batches)
            let seen = mine.flatMap(\.trials)
            #expect(Set(seen).count == seen.count)  // no trial twice in an epoch
            #expect(seen.allSatisfy { (0..<count).contains($0) })
        }
    }

    @Test func isSeededReshufflesEveryEpochAndResumesFromItsState() {
        var a = SubjectBatchSampler(trialCounts: [1: 12, 2: 9], batchSize: 3, seed: 7)
        var b = SubjectBatchSampler(trialCounts: [1: 12, 2: 9], batchSize: 3, seed: 7)
        let first = a.nextEpoch()
        #expect(first == b.nextEpoch())
        let saved = a
        let second = a.nextEpoch()
        #expect(second != first)
        #expect(Set(second.map(\.subject)) == [1, 2])
        var resumed = saved
        #expect(resumed.nextEpoch() == second)
        #expect(a.epoch == 2)
        var other = SubjectBatchSampler(trialCounts: [1: 12, 2: 9], batchSize: 3, seed: 8)
        #expect(other.nextEpoch() != first)
        // the state survives a JSON round trip
        let data = try! JSONEncoder().encode(saved)
        var decoded = try! JSONDecoder().decode(SubjectBatchSampler.self, from: data)
        #expect(decoded.nextEpoch() == second)
    }

    @Test func shuffleIsAUniformPermutation() {
        var g = SeededGenerator(seed: 3)
        var counts = [Int](repeating: 0, count: 4)
        for _ in 0..<4000 {
            var items = [0, 1, 2, 3]
            g.shuffle(&items)
            #expect(items.sorted() == [0, 1, 2, 3])
            counts[items[0]] += 1
        }
        #expect(counts.allSatisfy { (850...1150).contains($0) })
    }
}
