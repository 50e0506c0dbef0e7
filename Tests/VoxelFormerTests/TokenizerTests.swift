import Foundation
import Testing
import Torch
@testable import Training
@testable import VoxelFormer

@Suite(.serialized) struct TokenizerTests {
    /// sin(omega0 · (W·x + b)) by hand for one coordinate and a 2-wide code.
    @Test func sirenIsTheSineOfOmegaTimesTheLinearMap() {
        let siren = SirenPositionalEmbedding(width: 2, omega0: 3)
        siren.linear.weight.copy_(Tensor([0.5, -1, 2, 0.25, 0, 1], shape: [2, 3]).to(.float32))
        siren.linear.bias!.copy_(Tensor([0.1, -0.2]).to(.float32))
        let out = Torch.noGrad { siren(Tensor([1, 2, -1], shape: [1, 3]).to(.float32)) }
        // row 0: 0.5 - 2 - 2 + 0.1 = -3.4; row 1: 0.25 + 0 - 1 - 0.2 = -0.95
        let want = [Foundation.sin(3 * -3.4), Foundation.sin(3 * -0.95)]
        #expect(zip(out.toArray(Double.self), want).allSatisfy { abs($0 - $1) < 1e-5 })
    }

    /// `train.siren_lr_scale=0` puts `pos_embed.linear` in groups of lr 0: after training steps it is
    /// bit-identical to its initialisation while the tokenizer has moved.
    @Test func aFrozenSIRENKeepsItsWeightsWhileTheRestTrains() throws {
        var c = tinyConfig(epochs: 3)
        c.train.sirenLRScale = 0
        c.train.maxSteps = 6
        let trainer = try Trainer(config: c, data: InMemoryData(), runDir: temporaryDirectory())
        let siren = trainer.model.brainEncoder.posEmbed.linear
        let tokenizer = trainer.model.brainEncoder.embedLayer.namedParameters().first { $0.name == "proj.0.weight" }!.tensor
        let before = [siren.weight.clone(), siren.bias!.clone(), tokenizer.clone()]
        #expect(trainer.optimizer.groups.count == 4)
        try trainer.run()
        #expect(trainer.step == 6)
        #expect(siren.weight.toArray(Float.self) == before[0].toArray(Float.self))
        #expect(siren.bias!.toArray(Float.self) == before[1].toArray(Float.self))
        #expect(tokenizer.toArray(Float.self) != before[2].toArray(Float.self))
    }

    /// A scale other than 0 and 1 gives the SIREN groups max_lr times the scale through the OneCycle
    /// schedule; scale 1 keeps the reference's two groups.
    @Test func theSIRENGroupsFollowTheScaledSchedule() throws {
        var c = tinyConfig(epochs: 3)
        c.train.sirenLRScale = 0.1
        let trainer = try Trainer(config: c, data: InMemoryData(), runDir: temporaryDirectory())
        #expect(trainer.optimizer.groups.count == 4)
        for g in 2...3 {
            #expect(abs(trainer.optimizer.lr(group: g) - 0.1 * trainer.optimizer.lr(group: 0)) < 1e-12)
        }
        #expect(abs(trainer.optimizer.lr(group: 0) - c.train.maxLR / 25) < 1e-12)  // OneCycle's initial lr
        c.train.sirenLRScale = 1
        let reference = try Trainer(config: c, data: InMemoryData(), runDir: temporaryDirectory())
        #expect(reference.optimizer.groups.count == 2)
    }
}
