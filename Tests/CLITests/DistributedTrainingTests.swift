import Foundation
import Testing
import Torch

/// Data-parallel training through the binary, on a small synthetic data set with the demo preset's model.
@Suite("Data-parallel training over Gloo", .serialized)
struct DistributedTrainingTests {
    /// 2 subjects of 100 voxels, 96 train trials each, 16 x 64 targets (the demo preset's shape).
    static let data: Result<URL, any Error> = Result {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("dp-\(UUID().uuidString)")
        let root = folder.appendingPathComponent("root")
        let r = try CLI.run(["synth", "--out", root.path, "--subjects", "2", "--images", "64", "--test-images", "16",
                             "--test-repeats", "2", "--trials-per-session", "32", "--voxels", "100", "--tokens", "16",
                             "--token-dim", "64", "--image-size", "8", "--latent-dim", "4", "--noise", "1"], timeout: 120)
        guard r.status == 0 else { throw CLIFixture.Failed(description: "synth failed: \(r.summary)") }
        return folder
    }

    /// The demo preset for 20 steps at global batch 16: 8 steps an epoch, epoch 0 BiMixCo (mixup_pct 0.25 of 4
    /// epochs), then SoftCLIP; one thread a rank (the machine's 2 cores).
    static func arguments(_ folder: URL, run: String, maxSteps: Int = 20) -> [String] {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        return ["train", "--config", repository.appendingPathComponent("configs/demo.yaml").path,
                "--run-dir", folder.appendingPathComponent(run).path, "data.root=\(folder.appendingPathComponent("root").path)",
                "data.train_subjects=[1,2]", "data.test_subjects=[1,2]", "train.epochs=4", "train.mixup_pct=0.25",
                "train.max_steps=\(maxSteps)", "train.threads=1", "train.batch_size=16", "eval.pools=2", "eval.pool_size=8",
                // every epoch, 32 test trials in batches of 5: the ranks take turns, the last round uneven
                "eval.every_epochs=1", "eval.batch_size=5"]
    }

    /// (epoch, loss) of every step row of a run's metrics.jsonl.
    static func steps(_ run: URL) throws -> [(epoch: Int, loss: Double)] {
        try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n").compactMap {
            let row = try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            guard row?["type"] as? String == "step", let e = row?["epoch"] as? Int, let l = row?["loss"] as? Double else { return nil }
            return (e, l)
        }
    }

    /// The evaluation scores of every epoch row of a run's metrics.jsonl.
    static func evaluations(_ run: URL) throws -> [[String: Double]] {
        try String(contentsOf: run.appendingPathComponent("metrics.jsonl"), encoding: .utf8).split(separator: "\n").compactMap {
            let row = try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
            guard row?["type"] as? String == "epoch" else { return nil }
            return (row ?? [:]).compactMapValues { $0 as? Double }.filter { ["image_retrieval", "brain_retrieval", "cosine"].contains($0.key) }
        }
    }

    /// The issue's must-show: two ranks at batch 8 each reproduce one process at batch 16, loss for loss,
    /// through both phases. Exact up to float rounding because every random draw that depends on the batch
    /// (MixCo's permutation and Beta weights, the heads' dropout masks) is drawn for the global batch on
    /// every rank (docs/distributed.md); measured: at most 2.6e-7 relative over the 20 steps.
    @Test func twoRanksReproduceOneProcess() throws {
        let folder = try Self.data.get()
        let one = try CLI.run(Self.arguments(folder, run: "one"), timeout: 120)
        #expect(one.status == 0, "\(one.summary)")
        let two = try CLI.run(["train", "--nproc-per-node", "2"] + Self.arguments(folder, run: "two").dropFirst(), timeout: 120)
        #expect(two.status == 0, "\(two.summary)")
        // rank 0 alone prints, its lines marked; the start line gives the global batch, its split and the workers
        #expect(two.stdout.contains("[rank0]: training voxelformer: ") && !two.stdout.contains("[rank1]"), "\(two.stdout.prefix(600))")
        #expect(two.stdout.contains("batch 16 (8 a rank), fp32, 2 ranks x 1 thread (Gloo)\n"), "\(two.stdout.prefix(600))")
        #expect(one.stdout.contains("batch 16, fp32, 1 threads\n") && !one.stdout.contains("[rank"), "\(one.stdout.prefix(600))")
        let a = try Self.steps(folder.appendingPathComponent("one")), b = try Self.steps(folder.appendingPathComponent("two"))
        #expect(a.count == 20 && b.count == 20)
        #expect(a.contains { $0.epoch == 0 } && a.contains { $0.epoch > 0 }, "both phases: BiMixCo in epoch 0, SoftCLIP after")
        for (i, (x, y)) in zip(a, b).enumerated() {
            #expect(x.epoch == y.epoch)
            #expect(abs(x.loss - y.loss) <= 1e-5 * abs(x.loss), "step \(i + 1): one process \(x.loss), two ranks \(y.loss)")
        }
        // Evaluation, split across the two ranks, scores as the one process does (the cosine from the weights
        // that differ by rounding).
        let (ea, eb) = (try Self.evaluations(folder.appendingPathComponent("one")), try Self.evaluations(folder.appendingPathComponent("two")))
        #expect(ea.count == 2 && eb.count == 2 && ea.allSatisfy { $0.count == 3 })
        for (x, y) in zip(ea, eb) {
            #expect(x["image_retrieval"] == y["image_retrieval"] && x["brain_retrieval"] == y["brain_retrieval"], "\(x) vs \(y)")
            #expect(abs((x["cosine"] ?? 0) - (y["cosine"] ?? 1)) <= 1e-4 * abs(x["cosine"] ?? 0), "\(x) vs \(y)")
        }
        // The checkpoint records the world size. The demo model draws nothing per rank (model.drop 0, no prior),
        // so the two ranks' checkpoint resumes in one process and goes on as the one process does.
        #expect(try Safetensors.readMetadata(folder.appendingPathComponent("two/checkpoint.safetensors"))["world_size"] == "2")
        for run in ["one", "two"] {
            let resumed = try CLI.run(["train", "--run-dir", folder.appendingPathComponent(run).path, "--resume", "train.max_steps=26"],
                                      timeout: 120)
            #expect(resumed.status == 0, "\(run): \(resumed.summary)")
        }
        let a2 = try Self.steps(folder.appendingPathComponent("one")), b2 = try Self.steps(folder.appendingPathComponent("two"))
        #expect(a2.count == 26 && b2.count == 26)
        for (i, (x, y)) in zip(a2, b2).enumerated().dropFirst(20) {
            #expect(abs(x.loss - y.loss) <= 1e-5 * abs(x.loss), "step \(i + 1) after the resume: \(x.loss) vs \(y.loss)")
        }
    }

    /// With attention dropout (model.drop 0.1) each rank draws for its own slice: resuming on another world
    /// size is refused, with that reason.
    @Test func resumeOnAnotherWorldSizeIsRefusedWhenRanksDrawAlone() throws {
        let folder = try Self.data.get()
        let two = try CLI.run(["train", "--nproc-per-node", "2"] + Self.arguments(folder, run: "drop", maxSteps: 2).dropFirst()
            + ["model.drop=0.1"], timeout: 120)
        #expect(two.status == 0, "\(two.summary)")
        let resumed = try CLI.run(["train", "--run-dir", folder.appendingPathComponent("drop").path, "--resume", "train.max_steps=4"],
                                  timeout: 60)
        #expect(resumed.status != 0)
        #expect(resumed.errorLine.contains("trained by 2 process(es), this run has 1")
                && resumed.errorLine.contains("model.drop 0.1: attention dropout"), "\(resumed.errorLine)")
    }

    /// A rank killed mid-run: the other stops within 60 s, non-zero, naming it.
    @Test func killedRankStopsTheOther() throws {
        let folder = try Self.data.get()
        let run = folder.appendingPathComponent("killed")
        let metrics = run.appendingPathComponent("metrics.jsonl")
        let ranks = try Ranks.run(Self.arguments(folder, run: "killed", maxSteps: 100_000) + ["train.epochs=1000"], timeout: 120,
                                  kill: (rank: 1, when: { _ in
                                      ((try? String(contentsOf: metrics, encoding: .utf8)) ?? "").components(separatedBy: "\"step\"").count > 4
                                  }))
        let survivor = ranks[0]
        #expect(survivor.status != 0)
        #expect(survivor.seconds < 60, "took \(survivor.seconds) s")
        #expect(survivor.stderr.contains("[rank0]: Error: rank 0 of 2: ") && survivor.stderr.contains("lost rank 1"),
                "\(survivor.stderr.suffix(600))")
    }
}
