import Foundation
import Testing
import Torch
@testable import Encoding

/// The seed's overfit check for stage 2: one batch (a fixed target x1 and stage-1 mean mu), AdamW, and
/// the CFM loss must fall toward 0 (a single target makes the optimal field deterministic, so the loss
/// can vanish; a model that cannot fit it cannot learn). The loss is read on a fixed evaluation set of
/// 16 (t, z) draws before and after 100 steps at lr 1e-2 (V 12, d 8, channels [16, 16], no dropout).
///
/// Measured (after/before, the same with 1 and 2 threads): seed 0 2.564 -> 0.976 (0.381), seed 1
/// 2.308 -> 1.027 (0.445), seed 2 2.145 -> 1.117 (0.521); the smallest reduction is 47.9 %. The test runs
/// seed 0 (about 30 s here) and asserts a reduction of at least a third of that, 16 %: ratio ≤ 0.84.
/// (The seed's own check runs 500 steps at lr 3e-4; the loss keeps falling past 100.)
@Suite struct LatentCFMOverfitTests {
    static func run(seed: UInt64) throws -> (before: Double, after: Double) {
        Torch.manualSeed(seed)
        var config = FlowMatchingConfig()
        (config.latentDim, config.targetDim) = (8, 12)
        (config.decoder.channels, config.decoder.attentionHeadDim, config.decoder.numHeads, config.decoder.dropout) = ([16, 16], 4, 2, 0)
        let model = LatentCFM(config)
        let x1 = Tensor.randn([2, 12, 8]), mu = x1 + Tensor.randn([2, 12, 8]) * 0.5
        let evalT = Tensor.rand([16]), evalZ = Tensor.randn([16, 8, 8])
        func evaluate() -> Double {
            Torch.noGrad {
                (0..<8).map { i in
                    model.loss(x1: x1, mu: mu, t: evalT.slice(0, start: 2 * i, end: 2 * i + 2),
                               z: evalZ.slice(0, start: 2 * i, end: 2 * i + 2)).cfm.item()
                }.reduce(0, +) / 8
            }
        }
        let before = evaluate()
        let optimizer = try AdamW(parameters: model.parameters(), lr: 1e-2, weightDecay: 0)
        for _ in 0..<100 {
            optimizer.zeroGrad()
            model.loss(x1: x1, mu: mu).total.backward()
            optimizer.step()
        }
        return (before, evaluate())
    }

    @Test func oneBatchLossFalls() throws {
        let r = try Self.run(seed: 0)
        #expect(r.after <= 0.84 * r.before, "CFM loss \(r.before) -> \(r.after)")
        #expect(r.before > 1, "an untrained field starts above E|u|² ≈ 1.3 (measured 2.1 to 2.6): \(r.before)")
    }
}
