import Foundation
import Testing

/// MindEye2 and BrainX under data parallel: two ranks at half the batch each train as one process at the
/// whole batch, loss for loss (the data of `DistributedTrainingTests`: 2 subjects, 96 train trials each).
@Suite("Data-parallel MindEye2 and BrainX over Gloo", .serialized)
struct DistributedFamiliesTests {
    static func repository() -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// `preset` for `steps` steps at global batch 16 into `run`, one process and as 2 ranks (--nproc-per-node);
    /// both loss sequences.
    static func bothWays(preset: String, run: String, steps: Int, _ overrides: [String]) throws
        -> (one: [(epoch: Int, loss: Double)], two: [(epoch: Int, loss: Double)])
    {
        let folder = try DistributedTrainingTests.data.get()
        func arguments(_ name: String) -> [String] {
            [repository().appendingPathComponent("configs/\(preset)").path, "--run-dir", folder.appendingPathComponent(name).path,
             "data.root=\(folder.appendingPathComponent("root").path)", "data.train_subjects=[1,2]", "data.test_subjects=[1,2]",
             "train.max_steps=\(steps)", "train.threads=1", "train.batch_size=16", "eval.pools=2", "eval.pool_size=8"] + overrides
        }
        let one = try CLI.run(["train", "--config"] + arguments(run + "-one"), timeout: 120)
        #expect(one.status == 0, "\(one.summary)")
        let two = try CLI.run(["train", "--nproc-per-node", "2", "--config"] + arguments(run + "-two"), timeout: 120)
        #expect(two.status == 0, "\(two.summary)")
        return (try DistributedTrainingTests.steps(folder.appendingPathComponent(run + "-one")),
                try DistributedTrainingTests.steps(folder.appendingPathComponent(run + "-two")))
    }

    static func expectSame(_ a: [(epoch: Int, loss: Double)], _ b: [(epoch: Int, loss: Double)], steps: Int,
                           sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(a.count == steps && b.count == steps, sourceLocation: sourceLocation)
        for (i, (x, y)) in zip(a, b).enumerated() {
            #expect(abs(x.loss - y.loss) <= 1e-5 * abs(x.loss), "step \(i + 1): one process \(x.loss), two ranks \(y.loss)",
                    sourceLocation: sourceLocation)
        }
    }

    /// MindEye2's batches hold 8 trials of each subject (4 a rank): MixCo draws for each subject's 8, the
    /// backbone's dropout (0.15) for the 16 in one process's order, and BiMixCo/SoftCLIP see the 16. 8 steps
    /// an epoch at hidden 64; epoch 0 BiMixCo (mixup_pct 0.25 of 4 epochs), then SoftCLIP. Measured: within
    /// 1.1e-7 relative over the 10 steps.
    @Test func mindEye2TwoRanksReproduceOneProcess() throws {
        let steps = 10
        let (a, b) = try Self.bothWays(preset: "mindeye2-demo.yaml", run: "me2", steps: steps,
                                       ["model.hidden_dim=64", "model.n_blocks=2", "train.epochs=4", "train.mixup_pct=0.25",
                                        "eval.every_epochs=4"])
        #expect(a.contains { $0.epoch == 0 } && a.contains { $0.epoch > 0 }, "both phases: BiMixCo in epoch 0, SoftCLIP after")
        Self.expectSame(a, b, steps: steps)
    }

    /// BrainX: the MSE of 2 subjects' parts (means over the rows, so the averaged gradients are the global
    /// batch's), and the 0.9-quantile loss over the gathered rows with one subject a step (the other
    /// tokenizer unused: find_unused_parameters leaves it without a gradient on both ranks).
    @Test func brainXTwoRanksReproduceOneProcess() throws {
        let steps = 6
        let mse = try Self.bothWays(preset: "brainx-demo.yaml", run: "bx-mse", steps: steps,
                                    ["subjects_per_epoch=2", "eval.every_epochs=30"])
        Self.expectSame(mse.one, mse.two, steps: steps)
        let quantile = try Self.bothWays(preset: "brainx-demo.yaml", run: "bx-quantile", steps: steps,
                                         ["subjects_per_epoch=1", "loss=quantile", "eval.every_epochs=30"])
        Self.expectSame(quantile.one, quantile.two, steps: steps)
    }
}
