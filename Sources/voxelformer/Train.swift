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
          voxelformer train --config configs/demo.yaml --resume
        Ctrl-C saves a checkpoint before exiting; --resume continues exactly where it stopped.
        """
    )

    @Option(help: "A YAML preset (configs/paper.yaml, configs/demo.yaml).")
    var config: String?

    @Option(help: "The run folder (config, metrics.jsonl, checkpoint, curves.svg); overrides run_dir.")
    var runDir: String?

    @Flag(help: "Continue from the run folder's checkpoint.safetensors.")
    var resume = false

    @Argument(help: "Dotted overrides like Hydra's: model.nat_depth=2 train.max_lr=1e-4 data.root=/data/nsd.")
    var overrides: [String] = []

    func run() throws {
        Torch.initialise()
        var cfg = try VoxelFormerConfig.load(path: config, overrides: overrides)
        if let runDir { cfg.runDir = runDir }
        try TrainingRun(config: cfg, resume: resume).execute()
    }
}

/// Training from a config into a run folder, shared by `train` and `demo`.
struct TrainingRun {
    let config: VoxelFormerConfig
    let resume: Bool
    var beforeTraining: (Trainer) throws -> Void = { _ in }

    @discardableResult
    func execute() throws -> Trainer {
        let dir = URL(fileURLWithPath: config.runDir)
        let data = try NSDTrainingData(config: config.data, targetShape: [config.model.clipSeqDim, config.model.clipEmbDim])
        for (s, n) in data.replacedNonFinite.sorted(by: { $0.key < $1.key }) {
            print("data.nan_policy=zero: replaced \(n) NaN/inf betas of subject \(s) by 0")
        }
        let trainer = try Trainer(config: config, data: data, runDir: dir)
        if resume {
            guard FileManager.default.fileExists(atPath: trainer.checkpointURL.path) else {
                throw ValidationError("--resume: \(trainer.checkpointURL.path) does not exist")
            }
            try trainer.resume(from: trainer.checkpointURL)
            print("resumed from \(trainer.checkpointURL.path) at epoch \(trainer.epoch + 1), step \(trainer.step)")
        } else {
            try? FileManager.default.removeItem(at: trainer.metricsURL)
        }
        try config.yaml().write(to: dir.appendingPathComponent("config.yaml"), atomically: true, encoding: .utf8)
        print("training \(trainer.model.parameterCount.formattedWithCommas) parameters on subjects "
            + "\(config.data.trainSubjects.map(String.init).joined(separator: ", ")): \(config.train.epochs) epochs x "
            + "\(trainer.stepsPerEpoch) steps, batch \(config.train.batchSize), \(config.train.precision), "
            + "\(Torch.threads) threads")
        try beforeTraining(trainer)
        InterruptFlag.install()
        try trainer.run()
        try RunPlots.write(runDir: dir)
        print("checkpoint: \(trainer.checkpointURL.path)")
        return trainer
    }
}
