import Foundation
import Testing
import Torch

/// `voxelformer brainx embed` on a BrainX run trained by the binary on the CLI fixture's data (2 subjects,
/// 40 training trials and 20 test images x 2 repeats each, targets 4 x 8).
@Suite(.serialized) struct BrainXEmbedTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// A 3-epoch run of configs/brainx-demo.yaml at the fixture's shapes.
    static let trained: Result<URL, any Error> = Result {
        let fixture = try CLIFixture.get()
        let run = try fixture.scratch("brainx")
        let train = try CLI.run(["train", "--config", repository.appendingPathComponent("configs/brainx-demo.yaml").path,
                                 "--run-dir", run.path, "data.root=\(fixture.root.path)", "data.train_subjects=[1,2]",
                                 "data.test_subjects=[1,2]", "model.num_latents=4", "model.out_dim=8", "train.epochs=3",
                                 "train.batch_size=8", "train.threads=1", "eval.pools=2", "eval.pool_size=10"], timeout: 120)
        guard train.status == 0 else { throw CLIFixture.Failed(description: "brainx train failed: \(train.summary)") }
        return run.appendingPathComponent("checkpoint.safetensors")
    }

    /// `evaluate --checkpoint` rebuilds BrainX from the checkpoint and scores the same pools as the run's
    /// last evaluation (the checkpoint's eval settings): the same averages as its report.json.
    @Test func evaluateScoresABrainXCheckpointAsTheRunDid() throws {
        let checkpoint = try Self.trained.get()
        let json = try CLIFixture.get().scratch("brainx-eval").appendingPathComponent("report.json")
        let r = try CLI.run(["evaluate", "--checkpoint", checkpoint.path, "--no-baseline", "--json", json.path])
        #expect(r.status == 0, "\(r.summary)")
        func average(_ url: URL) throws -> [String: Double] {
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any]
            let avg = object?["average"] as? [String: Any] ?? [:]
            return avg.compactMapValues { $0 as? Double }
        }
        let run = try average(checkpoint.deletingLastPathComponent().appendingPathComponent("report.json"))
        let scored = try average(json)
        #expect(run["image_retrieval"] != nil && scored["image_retrieval"] == run["image_retrieval"])
        #expect(scored["brain_retrieval"] == run["brain_retrieval"])
    }

    /// Tokens per test trial, their image ids, and LLaVA's mlp2x_gelu projection, checked by computing
    /// Linear -> exact GELU -> Linear on the written tokens.
    @Test func embedWritesTheTokensAndTheirProjection() throws {
        let checkpoint = try Self.trained.get()
        let dir = try CLIFixture.get().scratch("brainx-embed")
        Torch.manualSeed(3)
        let (w0, b0, w2, b2) = (Tensor.randn([12, 8]), Tensor.randn([12]), Tensor.randn([12, 12]), Tensor.randn([12]))
        let projector = dir.appendingPathComponent("mm_projector.safetensors")
        try Safetensors.write(["model.mm_projector.0.weight": w0, "model.mm_projector.0.bias": b0,
                               "model.mm_projector.2.weight": w2, "model.mm_projector.2.bias": b2], to: projector)
        let out = dir.appendingPathComponent("tokens")
        let r = try CLI.run(["brainx", "embed", "--checkpoint", checkpoint.path, "--out", out.path,
                             "--mm-projector", projector.path])
        #expect(r.status == 0, "\(r.summary)")
        for s in ["subj01", "subj02"] {
            let tokens = try Npy.read(out.appendingPathComponent("\(s)_tokens.npy"))
            let ids = try Npy.read(out.appendingPathComponent("\(s)_image_ids.npy"))
            let projected = try Npy.read(out.appendingPathComponent("\(s)_projected.npy"))
            #expect(tokens.shape == [40, 4, 8] && ids.shape == [40] && projected.shape == [40, 4, 12])
            #expect(Set(ids.toArray(Int64.self)).count == 20, "20 test images, 2 repeats each")
            let expected = F.gelu(tokens.matmul(w0.transpose(0, 1)) + b0).matmul(w2.transpose(0, 1)) + b2
            let error = (projected - expected).abs().max().item() / expected.abs().max().item()
            #expect(error < 1e-5)
        }

        // --average-repeats: one row per image, the mean of its repeats' voxels through the model
        let averaged = dir.appendingPathComponent("averaged")
        let a = try CLI.run(["brainx", "embed", "--checkpoint", checkpoint.path, "--out", averaged.path, "--average-repeats",
                             "data.test_subjects=[2]"])
        #expect(a.status == 0, "\(a.summary)")
        let ids = try Npy.read(averaged.appendingPathComponent("subj02_image_ids.npy")).toArray(Int64.self)
        #expect(try Npy.read(averaged.appendingPathComponent("subj02_tokens.npy")).shape == [20, 4, 8])
        #expect(Set(ids).count == 20 && ids.count == 20)
        #expect(!FileManager.default.fileExists(atPath: averaged.appendingPathComponent("subj01_tokens.npy").path))
    }

    @Test func aProjectorOfAnotherWidthIsRefusedByName() throws {
        let checkpoint = try Self.trained.get()
        let dir = try CLIFixture.get().scratch("brainx-embed-wide")
        let projector = dir.appendingPathComponent("wide.safetensors")
        try Safetensors.write(["mm_projector.weight": Tensor.zeros([12, 16]), "mm_projector.bias": Tensor.zeros([12])],
                              to: projector)
        let r = try CLI.run(["brainx", "embed", "--checkpoint", checkpoint.path, "--out", dir.appendingPathComponent("o").path,
                             "--mm-projector", projector.path])
        #expect(r.status != 0 && !r.signalled)
        #expect(r.errorLine == "Error: --mm-projector: \(projector.path) projects 16-wide tokens, but the model predicts "
            + "8-wide ones (model.out_dim)")
    }
}
