import ArgumentParser
import Foundation
import Torch
import Training
import VoxelFormer

struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train a model family (VoxelFormer, MindEye2, BrainX) with AdamW + OneCycle, into a run folder you can resume.",
        discussion: """
        Examples:
          voxelformer train --config configs/demo.yaml
          voxelformer train --config configs/paper.yaml data.root=/data/nsd train.epochs=10 model.nat_depth=4
          voxelformer train --config configs/mindeye2-demo.yaml
          voxelformer train --config configs/brainx-demo.yaml
          voxelformer train --run-dir runs/demo --resume
        The config's `family` key (voxelformer when absent) chooses the model family.
        Ctrl-C saves a checkpoint before exiting; --resume continues exactly where it stopped, with the
        checkpoint's config unless --config is given. A resume may change only these keys:
          \(RunConfigDefaults.resumableKeys.joined(separator: ", "))
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

    @Option(help: "Start from a pretrained run's checkpoint (or a safetensors state dict): MindEye2 fine-tunes a new subject with a fresh ridge; sets train.init_from.")
    var initFrom: String?

    @Option(help: "Run N ranks of this training on this machine (data parallel over Gloo, as torchrun --nproc-per-node N does; docs/distributed.md).")
    var nprocPerNode: Int?

    @Argument(help: "Dotted overrides like Hydra's: model.nat_depth=2 train.max_lr=1e-4 data.root=/data/nsd.")
    var overrides: [String] = []

    func validate() throws {
        if resume && overwrite { throw ValidationError("--resume and --overwrite exclude each other") }
        if resume && initFrom != nil { throw ValidationError("--init-from starts a new run; --resume continues one from its own checkpoint") }
        if runDir == "" { throw ValidationError("--run-dir: expected a folder, got an empty path") }
        if let n = nprocPerNode, n < 1 { throw ValidationError("--nproc-per-node: expected 1 or more processes, got \(n)") }
    }

    func run() throws {
        if let n = nprocPerNode, n > 1 {
            if ProcessInfo.processInfo.environment["RANK"] != nil {
                throw ValidationError("--nproc-per-node: RANK is already set (this process is a rank of a launcher's run); drop one of them")
            }
            var arguments = Array(CommandLine.arguments.dropFirst())
            if let i = arguments.firstIndex(where: { $0.hasPrefix("--nproc-per-node") }) {
                arguments.removeSubrange(i ..< (arguments[i].contains("=") ? i + 1 : min(i + 2, arguments.count)))
            }
            let status = try LocalLauncher.launch(ranks: n, arguments: arguments)
            if status != 0 { throw ExitCode(status) }
            return
        }
        Torch.initialise()
        // the run folder comes from --run-dir, a run_dir= override or the default
        let dir = runDir ?? overrides.last { $0.hasPrefix("run_dir=") }.map { String($0.dropFirst(8)) }
            ?? VoxelFormerConfig().runDir
        try train(Families.of(config: config, resumingIn: resume ? dir : nil), runDir: dir)
    }

    func train<Family: TrainableFamily>(_: Family.Type, runDir dir: String) throws {
        var cfg: Family.Config
        if resume && config == nil {
            cfg = try TrainingRun<Family>.checkpointConfig(runDir: dir, overrides: overrides)
        } else {
            cfg = try Family.Config.load(path: config, overrides: overrides)
        }
        if let runDir { cfg.runDir = runDir }
        if let initFrom { cfg.train.initFrom = initFrom }
        var run = TrainingRun<Family>(config: cfg, resume: resume, overwrite: overwrite)
        // the config gives the device, and the device the backend (Gloo on CPU, NCCL on CUDA)
        run.dataParallel = try joinProcessGroup(device: cfg.train.device)
        try run.executeInConsole()
    }
}

extension TrainingRun {
    /// Runs with the console attached: notes printed, the progress bar as a logger, Ctrl-C saving a
    /// checkpoint before stopping, libtorch failures named by stage.
    @discardableResult
    func executeInConsole() throws -> Trainer<Family> {
        var run = self
        let writes = dataParallel?.isWriter ?? true  // data parallel: rank 0 prints and logs
        run.onNote = { if writes { print(RankPrefix.lines($0)) } }
        let before = beforeTraining
        run.beforeTraining = { trainer in
            try before(trainer)
            InterruptFlag.install(prefix: RankPrefix.current)
            trainer.shouldStop = { InterruptFlag.isRaised }
            guard writes else { return }
            trainer.loggers = [ConsoleProgress(),
                               try TensorBoardLogger(directory: trainer.runDir.appendingPathComponent("tensorboard"))]
        }
        do {
            return try run.execute { what, body in try doing(what) { try body() } }
        } catch let error as Module.LoadError where resume {
            // the resumed checkpoint's weights do not fit the model: one line naming the file and the keys
            let file = URL(fileURLWithPath: config.runDir).appendingPathComponent("checkpoint.safetensors").path
            throw CommandFailure(description: WeightsMismatch.describe(error, file: file, prefix: "model.",
                                                                           config: config as? VoxelFormerConfig))
        }
    }
}
