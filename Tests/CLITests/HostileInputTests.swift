import Foundation
import Testing

/// The built `voxelformer` binary on bad inputs, one or two per class of issue 9: each must end in a non-zero
/// exit, without a signal or a hang, with a message that names the file or key. `scripts/hostile/hostile.py`
/// measures the same classes over about 600 inputs.
@Suite(.serialized) struct HostileInputTests {
    let fx: CLIFixture

    init() throws { fx = try CLIFixture.get() }

    func train(_ extra: [String], runDir: URL) -> [String] {
        ["train", "--config", fx.config.path, "--run-dir", runDir.path] + extra
    }

    // MARK: 1. data root

    @Test func aTruncatedBetasFileStopsTrainingAndNamesTheFile() throws {
        let dir = try fx.scratch("truncated-betas")
        let root = try fx.copyOfRoot(in: dir)
        let betas = root.appendingPathComponent("betas_all_subj01_fp32_renorm.hdf5")
        let size = try FileManager.default.attributesOfItem(atPath: betas.path)[.size] as! Int
        let handle = try FileHandle(forWritingTo: betas)
        try handle.truncate(atOffset: UInt64(size / 2))
        try handle.close()
        let r = try CLI.run(train(["data.root=\(root.path)"], runDir: dir.appendingPathComponent("run")))
        expectClearError(r, naming: ["betas_all_subj01_fp32_renorm.hdf5"])
    }

    @Test func aMissingTestShardIsAnErrorBeforeTraining() throws {
        let dir = try fx.scratch("missing-test-shard")
        let root = try fx.copyOfRoot(in: dir)
        try FileManager.default.removeItem(at: root.appendingPathComponent("wds/subj01/new_test/0.tar"))
        let run = dir.appendingPathComponent("run")
        let r = try CLI.run(train(["data.root=\(root.path)"], runDir: run))
        expectClearError(r, naming: ["new_test/0.tar"])
        let trained = FileManager.default.fileExists(atPath: run.appendingPathComponent("checkpoint.safetensors").path)
        #expect(!trained, "the error must come before training, not after it")
    }

    // MARK: 2. config and overrides

    @Test func zeroHeadsIsRefusedNamingTheKey() throws {
        let r = try CLI.run(train(["model.num_heads=0"], runDir: try fx.scratch("heads").appendingPathComponent("run")))
        expectClearError(r, naming: ["model.num_heads"])
    }

    @Test func aWordForAnIntegerIsQuotedBack() throws {
        let r = try CLI.run(train(["train.epochs=two"], runDir: try fx.scratch("epochs").appendingPathComponent("run")))
        expectClearError(r, naming: ["train.epochs"])
        let quoted = r.errorLine.contains("two")
        #expect(quoted, "the message should quote the value it could not read: \(r.errorLine)")
    }

    // MARK: 3. checkpoints

    @Test func aNegativeCheckpointEpochIsRefusedOnResume() throws {
        let dir = try fx.scratch("epoch")
        let run = dir.appendingPathComponent("run")
        try FileManager.default.copyItem(at: fx.run, to: run)
        try setSafetensorsMetadata(run.appendingPathComponent("checkpoint.safetensors"), key: "epoch", value: "-4")
        let r = try CLI.run(train(["--resume"], runDir: run))
        expectClearError(r, naming: ["epoch"])
        let namesFile = r.errorLine.contains("checkpoint.safetensors")
        #expect(namesFile, "the message should name the file: \(r.errorLine.prefix(300))")
    }

    // MARK: 4. npy and embedding inputs

    @Test func zeroRowEmbeddingsAreAnErrorNotAnAbort() throws {
        let dir = try fx.scratch("zero-rows")
        let brain = dir.appendingPathComponent("brain.npy"), targets = dir.appendingPathComponent("targets.npy")
        try writeNpy([], shape: [0, 4, 8], to: brain)
        try writeNpy([], shape: [0, 4, 8], to: targets)
        let r = try CLI.run(["evaluate", "--config", fx.config.path, "--brain", brain.path, "--targets", targets.path])
        expectClearError(r, naming: ["brain.npy", "targets.npy"])
    }

    /// np.save(np.argwhere(mask)) writes a Fortran-ordered array: it must give the same embedding as C order.
    @Test func fortranOrderCoordinatesAreAcceptedAndConverted() throws {
        let dir = try fx.scratch("fortran")
        let voxels = dir.appendingPathComponent("voxels.npy")
        try writeNpy((0..<12).map { Float($0) / 6 - 1 }, shape: [2, 6], to: voxels)
        let coords: [[Float]] = [[0, 0, 0], [1, 0, 0], [0, 2, 0], [1, 2, 3], [4, 1, 2], [3, 3, 3]]
        let cOrder = dir.appendingPathComponent("coords_c.npy"), fOrder = dir.appendingPathComponent("coords_f.npy")
        try writeNpy(coords.flatMap { $0 }, shape: [6, 3], to: cOrder)
        try writeNpy((0..<3).flatMap { j in coords.map { $0[j] } }, shape: [6, 3], fortranOrder: true, to: fOrder)
        var outputs: [Data] = []
        for (name, c) in [("c", cOrder), ("f", fOrder)] {
            let out = dir.appendingPathComponent("emb-\(name)")
            let r = try CLI.run(["embed", "--checkpoint", fx.checkpoint.path, "--voxels", voxels.path,
                                 "--coords", c.path, "--out", out.path])
            let succeeded = r.status == 0 && !r.signalled
            #expect(succeeded, "\(name) order: \(r.summary)")
            outputs.append((try? Data(contentsOf: out.appendingPathComponent("clip_voxels.npy"))) ?? Data())
        }
        let same = !outputs[0].isEmpty && outputs[0] == outputs[1]
        #expect(same, "clip_voxels.npy from Fortran-order coordinates differs from the C-order one")
    }

    // MARK: 5. run folders

    @Test func anExistingRunFolderIsNotOverwrittenWithoutResume() throws {
        let dir = try fx.scratch("existing")
        let run = dir.appendingPathComponent("run")
        try FileManager.default.copyItem(at: fx.run, to: run)
        let metrics = run.appendingPathComponent("metrics.jsonl")
        let before = try Data(contentsOf: metrics)
        let r = try CLI.run(train([], runDir: run))
        expectClearError(r, naming: ["--resume", "--overwrite"])
        let kept = (try? Data(contentsOf: metrics)) == before
        #expect(kept, "metrics.jsonl of the earlier run was changed")
    }

    // MARK: 6. environment

    /// Ctrl-C during training saves a checkpoint and exits non-zero with a message, not by the signal.
    @Test func ctrlCDuringTrainingSavesACheckpointAndExitsCleanly() throws {
        let dir = try fx.scratch("sigint")
        let run = dir.appendingPathComponent("run")
        let metrics = run.appendingPathComponent("metrics.jsonl")
        let r = try CLI.run(train(["train.epochs=300"], runDir: run), timeout: 60) { pid in
            let deadline = Date().addingTimeInterval(40)
            while Date() < deadline {
                if let size = try? FileManager.default.attributesOfItem(atPath: metrics.path)[.size] as? Int, size > 0 {
                    break
                }
                usleep(20_000)
            }
            kill(pid, SIGINT)
        }
        expectClearError(r, naming: ["checkpoint"])
        #expect(FileManager.default.fileExists(atPath: run.appendingPathComponent("checkpoint.safetensors").path))
    }
}
