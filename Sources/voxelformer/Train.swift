import ArgumentParser
import Foundation
import Torch
import Training
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
        try TrainingRun(config: cfg, resume: resume, overwrite: overwrite).executeInConsole()
    }
}

extension TrainingRun {
    /// Runs with the console attached: notes printed, the progress bar as a logger, Ctrl-C saving a
    /// checkpoint before stopping, libtorch failures named by stage.
    @discardableResult
    func executeInConsole() throws -> Trainer<VoxelFormerFamily> {
        var run = self
        run.onNote = { print($0) }
        let before = beforeTraining
        run.beforeTraining = { trainer in
            try before(trainer)
            InterruptFlag.install()
            trainer.shouldStop = { InterruptFlag.isRaised }
            trainer.loggers = [ConsoleProgress(),
                               try TensorBoardLogger(directory: trainer.runDir.appendingPathComponent("tensorboard"))]
        }
        do {
            return try run.execute { what, body in try doing(what) { try body() } }
        } catch let error as Module.LoadError where resume {
            // the resumed checkpoint's weights do not fit the model: one line naming the file and the keys
            let file = URL(fileURLWithPath: config.runDir).appendingPathComponent("checkpoint.safetensors").path
            throw CommandFailure(description: WeightsMismatch.describe(error, file: file, prefix: "model.", config: config))
        }
    }
}
