import Testing
@testable import Torch

/// `GlobalBatch`: a rank's dropout is its rows of the dropout one process applies to the global batch.
@Suite("Dropout over a global batch", .serialized)
struct DistributedDropoutTests {
    /// Three ranks of 2 rows each, every one from the same generator state, against libtorch's own
    /// `at::dropout` of the 6 rows: the same values, and the generator left where one process leaves it.
    @Test func ranksTakeTheirRowsOfOneProcessDropout() {
        Torch.manualSeed(3)
        let x = Tensor.randn([6, 5, 4])
        Torch.manualSeed(7)
        let whole = F.dropout(x, p: 0.3, training: true)
        let after = Torch.rngState().toArray(UInt8.self)
        var parts: [Tensor] = []
        for rank in 0..<3 {
            Torch.manualSeed(7)
            parts.append(GlobalBatch.$current.withValue(GlobalBatch(rank: rank, worldSize: 3)) {
                F.dropout(x.slice(0, start: 2 * rank, end: 2 * rank + 2), p: 0.3, training: true)
            })
            #expect(Torch.rngState().toArray(UInt8.self) == after, "rank \(rank) left the generator elsewhere")
        }
        let values = whole.toArray(Float.self)
        #expect(Tensor.cat(parts).toArray(Float.self) == values)
        // a real mask: some dropped, the kept scaled by 1 / 0.7
        #expect(values.contains(0) && values.count(where: { $0 == 0 }) < values.count / 2)
        // one world: plain dropout
        Torch.manualSeed(7)
        let single = GlobalBatch.$current.withValue(GlobalBatch(rank: 0, worldSize: 1)) { F.dropout(x, p: 0.3, training: true) }
        #expect(single.toArray(Float.self) == values)
    }

    /// A batch of two parts (subjects) of 4 and 2 rows over 2 ranks: one process's batch is part 1's 4 rows
    /// then part 2's 2; rank r holds rows 2r, 2r + 1 of part 1 and row r of part 2. Each rank's dropout is
    /// exactly those rows of the one process's.
    @Test func ranksTakeTheirRowsOfEachPart() {
        Torch.manualSeed(3)
        let x = Tensor.randn([6, 3])
        Torch.manualSeed(11)
        let whole = F.dropout(x, p: 0.5, training: true)
        let rows = [[0, 1, 4], [2, 3, 5]]  // each rank's rows of the one-process batch
        for rank in 0..<2 {
            Torch.manualSeed(11)
            let mine = Tensor.cat(rows[rank].map { x.slice(0, start: $0, end: $0 + 1) })
            let out = GlobalBatch.$current.withValue(GlobalBatch(rank: rank, worldSize: 2, parts: [2, 1])) {
                F.dropout(mine, p: 0.5, training: true)
            }
            let expected = Tensor.cat(rows[rank].map { whole.slice(0, start: $0, end: $0 + 1) })
            #expect(out.toArray(Float.self) == expected.toArray(Float.self), "rank \(rank)")
        }
    }
}
