import ArgumentParser
import Foundation
import Torch
import Training
import VoxelFormer

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score top-1 retrieval among pools of images (image retrieval and brain retrieval).",
        discussion: """
        Two modes:
          voxelformer evaluate --checkpoint runs/demo/checkpoint.safetensors [data.root=... eval.pools=30]
              encodes every test trial of the test subjects and scores them;
          voxelformer evaluate --brain brain.npy --targets targets.npy [--pools 30 --pool-size 300]
              scores saved embeddings (MindEye2's released outputs, say); row i of each array is one trial.
        Reports name the protocol (single-trial or output-averaged) and the tie rule. With --checkpoint the
        report also holds a closed-form ridge baseline per subject (voxels to targets, its penalty picked on
        held-out train trials) scored on the same pools; --no-baseline skips it. Embeddings or weights that
        hold NaN or infinite values are refused, never scored.
        """
    )

    @Option(help: "A training checkpoint (its config comes along) or a model state dict (then --config).")
    var checkpoint: String?
    @Option(help: "The YAML preset for a plain state dict, or to change data/eval settings.")
    var config: String?
    @Option(help: "Saved brain embeddings (N, ...) as .npy.")
    var brain: String?
    @Option(help: "Saved target embeddings (N, ...) as .npy, row i matching --brain row i.")
    var targets: String?
    @Option(help: "Image id per row (.npy, int), for the output-averaged protocol with --brain.")
    var imageIds: String?
    @Option(help: "Number of random pools (default 30, or eval.pools).")
    var pools: Int?
    @Option(help: "Candidates per pool (default 300, or eval.pool_size).")
    var poolSize: Int?
    @Option(help: "Tie rule: fractional (a tied hit counts 1/k) or strict (counts 0).")
    var ties: String?
    @Option(name: .customLong("protocol"), help: "single-trial or output-averaged.")
    var protocolName: String?
    @Option(help: "Seed for drawing the pools.")
    var seed: UInt64?
    @Option(help: "Also write the report as JSON to this file.")
    var json: String?
    @Flag(help: "Skip the ridge baseline (with --checkpoint).")
    var noBaseline = false
    @Argument(help: "Dotted overrides (data.root=..., eval.pool_size=...).")
    var overrides: [String] = []

    func run() throws {
        Torch.initialise()
        var extra = overrides
        if let pools { extra.append("eval.pools=\(pools)") }
        if let poolSize { extra.append("eval.pool_size=\(poolSize)") }
        if let ties { extra.append("eval.ties=\(ties)") }
        if let protocolName { extra.append("eval.protocol=\(protocolName)") }
        if let seed { extra.append("eval.seed=\(seed)") }
        let report: EvaluationReport
        if let brain {
            guard let targets else { throw ValidationError("--brain needs --targets") }
            let cfg = try VoxelFormerConfig.load(path: config, overrides: extra)
            let b = try Npy.read(URL(fileURLWithPath: brain)), t = try Npy.read(URL(fileURLWithPath: targets))
            let ids = try imageIds.map { try Npy.read(URL(fileURLWithPath: $0)).to(.int64).toArray(Int64.self).map(Int.init) }
            if cfg.eval.protocolName == .outputAveraged && ids == nil {
                throw ValidationError("--protocol output-averaged needs --image-ids to know which rows repeat an image")
            }
            let r = try withTorchError {
                try Evaluator(config: cfg.eval).score(brain: b, targets: t, imageIDs: ids, subject: nil,
                                                      brainName: brain, targetsName: targets)
            }
            report = EvaluationReport(protocolName: cfg.eval.protocolName, ties: cfg.eval.ties, subjects: [r])
        } else if let checkpoint {
            let loaded = try LoadedModel.load(checkpoint: checkpoint, config: config, overrides: extra)
            let data = try NSDTrainingData(config: loaded.config.data, targetShape: [loaded.config.model.clipSeqDim,
                                           loaded.config.model.clipEmbDim], loadTrainSubjects: false)
            var evaluator = Evaluator(config: loaded.config.eval, prior: loaded.prior)
            let progress = EvaluationProgressPrinter()
            evaluator.onProgress = progress.update
            report = try evaluator.evaluate(model: loaded.model, data: data, baseline: noBaseline ? nil : RidgeBaseline())
            progress.finish()
        } else {
            throw ValidationError("give --checkpoint, or --brain with --targets")
        }
        print(report.table())
        if let json { try report.json().write(toFile: json, atomically: true, encoding: .utf8) }
    }
}
