import Foundation
import Testing

private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// The CLI's model families: a config's `family` key picks the trainer, a resume follows the checkpoint's,
/// and `info` counts MindEye2 from its shapes.
@Suite(.serialized) struct FamilyCommandTests {
    /// MindEye2 on the fixture's two subjects, then a new subject fine-tuned from it, then resumed from the
    /// run folder alone (the checkpoint's embedded config names the family).
    @Test func mindEye2PretrainsFineTunesAndResumesFromTheCLI() throws {
        let fx = try CLIFixture.get()
        let dir = try fx.scratch("mindeye2")
        let config = repository.appendingPathComponent("configs/mindeye2-demo.yaml").path
        let common = ["data.root=\(fx.root.path)", "model.hidden_dim=16", "model.clip_seq_dim=4", "model.clip_emb_dim=8",
                      "train.batch_size=8", "train.epochs=3", "train.threads=1", "eval.pool_size=10", "eval.pools=5"]
        let pre = dir.appendingPathComponent("pre")
        let a = try CLI.run(["train", "--config", config, "--run-dir", pre.path, "data.train_subjects=[1,2]",
                             "data.test_subjects=[1,2]"] + common, timeout: 120)
        #expect(a.status == 0, "\(a.summary)")
        #expect(a.stdout.contains("training mindeye2: "), "\(a.stdout)")
        #expect(try String(contentsOf: pre.appendingPathComponent("config.yaml"), encoding: .utf8).hasPrefix("family: mindeye2\n"))

        // evaluate rebuilds the family from the checkpoint's config; the protocol is named in the report
        let e = try CLI.run(["evaluate", "--checkpoint", pre.appendingPathComponent("checkpoint.safetensors").path,
                             "--no-baseline", "--protocol", "output-averaged"], timeout: 120)
        #expect(e.status == 0, "\(e.summary)")
        #expect(e.stdout.contains("top-1 retrieval, output-averaged protocol, ties count 1/k"), "\(e.stdout)")
        #expect(e.stdout.contains("subj01") && e.stdout.contains("subj02"))

        let fine = dir.appendingPathComponent("fine")
        let b = try CLI.run(["train", "--config", config, "--run-dir", fine.path, "--init-from",
                             pre.appendingPathComponent("checkpoint.safetensors").path, "data.train_subjects=[2]",
                             "data.test_subjects=[2]", "train.max_steps=2"] + common, timeout: 120)
        #expect(b.status == 0, "\(b.summary)")
        #expect(b.stdout.contains("fresh: 1 (the ridge weights; ridge.linears.0.bias is the pretrained first subject's"),
                "\(b.stdout)")
        let c = try CLI.run(["train", "--run-dir", fine.path, "--resume", "train.max_steps=3"], timeout: 120)
        #expect(c.status == 0, "\(c.summary)")
        #expect(c.stdout.contains("resumed from \(fine.appendingPathComponent("checkpoint.safetensors").path) at epoch 1, step 2"),
                "\(c.stdout)")
    }

    @Test func anUnknownFamilyIsNamed() throws {
        let fx = try CLIFixture.get()
        let config = try fx.scratch("family").appendingPathComponent("x.yaml")
        try "family: brian\ntrain:\n  epochs: 3\n".write(to: config, atomically: true, encoding: .utf8)
        let r = try CLI.run(["train", "--config", config.path])
        #expect(r.status != 0 && !r.signalled)
        #expect(r.errorLine == "Error: \(config.path): family: expected one of voxelformer, mindeye2, brainx, got 'brian'")
    }

    /// Hand computation at hidden 1024 for subject 1 (15,724 voxels): ridge 15,724·1024 + 1024, the
    /// backbone's 453,360,280 (MindEye2ParameterCountTests builds it), the paper prior's 259,865,216.
    @Test func infoCountsMindEye2FromItsShapes() throws {
        let r = try CLI.run(["info", "--config", repository.appendingPathComponent("configs/mindeye2-1hour.yaml").path,
                             "model.hidden_dim=1024"])
        #expect(r.status == 0, "\(r.summary)")
        let lines = r.stdout.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
        #expect(lines.contains("ridge.linears (subject 1, 15,724 voxels) 16,102,400"), "\(r.stdout)")
        #expect(lines.contains("backbone 453,360,280"))
        #expect(lines.contains("total 729,327,896"))
    }
}
