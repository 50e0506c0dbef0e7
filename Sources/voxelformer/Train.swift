import ArgumentParser
import Foundation
import Torch
import VoxelFormer

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train VoxelFormer: BiMixCo then SoftCLIP, AdamW + OneCycle, checkpoints you can resume.",
        discussion: """
        Examples:
          voxelformer train --config configs/demo.yaml
          voxelformer train --config configs/paper.yaml data.root=/data/nsd train.epochs=10 model.nat_depth=4
          voxelformer train --run-dir runs/demo --resume
        Ctrl-C saves a checkpoint before exiting; --resume continues exactly where it stopped, with the
        checkpoint's config unless --config is given. A resume may change only these keys:
          \(VoxelFormerConfig.resumableKeys.joined(separator: ", "))
        A run folder with an earlier run is not replaced without --overwrite; one process writes to it at a time.
        """
    )

    @Option(help: "A YAML preset (configs/paper.yaml, configs/demo.yaml); with --resume, defaults to the checkpoint's config.")
    var config: String?

    @Option(help: "The run folder (config, metrics.jsonl, checkpoint, curves.svg); overrides run_dir.")
    var runDir: String?

    @Flag(help: "Continue from the run folder's checkpoint.safetensors.")
    var resume = false

    @Flag(help: "Replace an earlier run in the run folder (its checkpoints, metrics and report).")
    var overwrite = false

    @Argument(help: "Dotted overrides like Hydra's: model.nat_depth=2 train.max_lr=1e-4 data.root=/data/nsd.")
    var overrides: [String] = []

    func validate() throws {
        if resume && overwrite { throw ValidationError("--resume and --overwrite exclude each other") }
        if runDir == "" { throw ValidationError("--run-dir: expected a folder, got an empty path") }
    }

    func run() throws {
        Torch.initialise()
        var cfg: VoxelFormerConfig
        if resume && config == nil {
            // the run folder comes from --run-dir, a run_dir= override or the default
            let dir = runDir ?? overrides.last { $0.hasPrefix("run_dir=") }.map { String($0.dropFirst(8)) }
                ?? VoxelFormerConfig().runDir
            cfg = try TrainingRun.checkpointConfig(runDir: dir, overrides: overrides)
        } else {
            cfg = try VoxelFormerConfig.load(path: config, overrides: overrides)
        }
        if let runDir { cfg.runDir = runDir }
        try TrainingRun(config: cfg, resume: resume, overwrite: overwrite).execute()
    }
}

/// Training from a config into a run folder, shared by `train` and `demo`.
struct TrainingRun {
    let config: VoxelFormerConfig
    let resume: Bool
    var overwrite = false
    var beforeTraining: (Trainer) throws -> Void = { _ in }

    /// The config embedded in `runDir`'s checkpoint, with `overrides` applied.
    static func checkpointConfig(runDir: String, overrides: [String]) throws -> VoxelFormerConfig {
        let url = URL(fileURLWithPath: runDir).appendingPathComponent("checkpoint.safetensors")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ValidationError("--resume: \(url.path) does not exist")
        }
        return try VoxelFormerConfig.parse(yaml: try Checkpoint.configYAML(url), source: "\(url.path) (its embedded config)",
                                           overrides: overrides)
    }

    @discardableResult
    func execute() throws -> Trainer {
        let dir = URL(fileURLWithPath: config.runDir)
        let folder = try RunFolder(dir)  // held until training ends: a second writer stops here
        let stale = try folder.removeStaleTemporaries()
        if !stale.isEmpty { print("removed \(stale.count) stale temporary file(s) of interrupted writes in \(dir.path)") }
        if resume {
            let checkpoint = dir.appendingPathComponent("checkpoint.safetensors")
            guard FileManager.default.fileExists(atPath: checkpoint.path) else {
                throw ValidationError("--resume: \(checkpoint.path) does not exist")
            }
            let trained = try VoxelFormerConfig.parse(yaml: try Checkpoint.configYAML(checkpoint),
                                                      source: "\(checkpoint.path) (its embedded config)")
            try config.checkResumable(from: trained, source: checkpoint.path)
        } else {
            try folder.prepareFreshRun(overwrite: overwrite)
        }
        let data = try doing("loading the data in \(config.data.root)") {
            try NSDTrainingData(config: config.data, targetShape: [config.model.clipSeqDim, config.model.clipEmbDim])
        }
        for (s, n) in data.replacedNonFinite.sorted(by: { $0.key < $1.key }) {
            print("data.nan_policy=zero: replaced \(n) NaN/inf betas of subject \(s) by 0")
        }
        let trainer = try doing("building the model") { try Trainer(config: config, data: data, runDir: dir) }
        if resume {
            do {
                try doing("loading \(trainer.checkpointURL.path)") { try trainer.resume(from: trainer.checkpointURL) }
            } catch let error as Module.LoadError {
                throw CommandFailure(description: WeightsMismatch.describe(error, file: trainer.checkpointURL.path,
                                                                           prefix: "model.", config: config))
            }
            // NaN weights would only surface as a NaN loss, reported as a training failure
            try Evaluator.requireFiniteWeights(trainer.model, "\(trainer.checkpointURL.path): the model")
            if let prior = trainer.prior { try Evaluator.requireFiniteWeights(prior, "\(trainer.checkpointURL.path): the diffusion prior") }
            print("resumed from \(trainer.checkpointURL.path) at epoch \(trainer.epoch + 1), step \(trainer.step)")
        }
        try config.yaml().write(to: dir.appendingPathComponent("config.yaml"), atomically: true, encoding: .utf8)
        print("training \(trainer.model.parameterCount.formattedWithCommas) parameters on subjects "
            + "\(config.data.trainSubjects.map(String.init).joined(separator: ", ")): \(config.train.epochs) epochs x "
            + "\(trainer.stepsPerEpoch) steps, batch \(config.train.batchSize), \(config.train.precision), "
            + "\(Torch.threads) threads")
        try beforeTraining(trainer)
        InterruptFlag.install()
        try trainer.run()
        if let report = trainer.lastEvaluation?.report {
            try report.json().write(to: dir.appendingPathComponent("report.json"), atomically: true, encoding: .utf8)
        }
        try RunPlots.write(runDir: dir)
        print("checkpoint: \(trainer.checkpointURL.path)"
            + (trainer.bestMetric.map { String(format: " (best image retrieval %.3f: %@)", $0, trainer.bestCheckpointURL.path) } ?? ""))
        withExtendedLifetime(folder) {}
        return trainer
    }
}
