import Foundation
import Testing
import Torch
@testable import BrainData

@Suite struct PrefetcherTests {
    struct Boom: Error, Equatable {}

    @Test func yieldsEveryElementInOrderAndStaysWithinCapacity() throws {
        let p = Prefetcher(Array(0..<50), capacity: 3) { $0 * $0 }
        var out: [Int] = []
        while let x = try p.next() {
            #expect(p.buffered <= 3)
            out.append(x)
        }
        #expect(out == (0..<50).map { $0 * $0 })
        #expect(try p.next() == nil)
    }

    @Test func throwsTheFirstErrorAfterTheElementsBeforeIt() throws {
        let p = Prefetcher([1, 2, 3, 4], capacity: 2) { x -> Int in
            if x == 3 { throw Boom() }
            return x
        }
        #expect(try p.next() == 1)
        #expect(try p.next() == 2)
        #expect(throws: Boom.self) { _ = try p.next() }
        #expect(try p.next() == nil)
    }

    @Test func cancellingStopsTheProducer() throws {
        let p = Prefetcher(Array(0..<1000), capacity: 2) { $0 }
        #expect(try p.next() == 0)
        p.cancel()
        var rest = 0
        while try p.next() != nil { rest += 1 }
        #expect(rest <= 2)
    }

    @Test func assemblesTheSameBatchesAsTheSynchronousPath() throws {
        let ds = try NSDDataset(root: fixture("nsd"))
        let assembler = BatchAssembler(dataset: ds)
        let counts = try ds.trainTrialCounts()
        #expect(counts == [1: 8, 2: 4])
        var sampler = SubjectBatchSampler(trialCounts: counts, batchSize: 3, seed: 11)
        let batches = sampler.nextEpoch() + sampler.nextEpoch()
        #expect(batches.count == 2 * (2 + 1))
        let synchronous = try batches.map { try assembler.assemble($0) }
        let prefetched = Prefetcher(batches, capacity: 2) { try assembler.assemble($0) }
        var n = 0
        while let b = try prefetched.next() {
            let s = synchronous[n]
            #expect(b.subject == s.subject && b.images == s.images && b.rows == s.rows)
            #expect(b.voxels.toArray(Float.self) == s.voxels.toArray(Float.self))
            #expect(b.targets.toArray(Float.self) == s.targets.toArray(Float.self))
            n += 1
        }
        #expect(n == batches.count)
    }

    @Test func assembledBatchHasTheModelShapes() throws {
        let ds = try NSDDataset(root: fixture("nsd"))
        let one = try ds.subject(1)
        let batch = try BatchAssembler(dataset: ds).assemble(Batch(subject: 1, trials: [2, 7, 0]))
        #expect(batch.voxels.shape == [3, 1, one.voxelCount])
        #expect(batch.voxels.dtype == .float32)
        #expect(batch.targets.shape == [3, 2, 3])
        #expect(batch.images == [4, 9, 3])
        #expect(batch.rows == [3, 7, 1])
        #expect(batch.voxels[1, 0, 5].item() == 7005)
        #expect(batch.targets[2, 1, 2].item() == Double(3 * 6 + 5))
    }
}
