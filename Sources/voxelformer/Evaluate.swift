import ArgumentParser
import Foundation
import Torch
import Training
import MindEye2
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
            // with --config the model's widths are known, so saved embeddings of another model are refused
            let model = config == nil ? nil : (cfg.model, config!)
            try Self.checkEmbeddings(b, path: brain, model: model)
            try Self.checkEmbeddings(t, path: targets, model: model)
            let ids = try imageIds.map { try Self.readImageIDs($0, rows: b.size(0), brain: brain) }
            if cfg.eval.protocolName == .outputAveraged && ids == nil {
                throw ValidationError("--protocol output-averaged needs --image-ids to know which rows repeat an image")
            }
            // Pools are drawn without replacement; a pool of all rows would score against another chance level
            let rows = cfg.eval.protocolName == .outputAveraged ? Set(ids ?? []).count : b.size(0)
            if b.size(0) == t.size(0), b.size(0) > 0, cfg.eval.poolSize > rows {
                let what = cfg.eval.protocolName == .outputAveraged ? "distinct image ids in \(imageIds!)" : "rows of \(brain)"
                throw CommandFailure(description: "--pool-size \(cfg.eval.poolSize) (eval.pool_size) is larger than the \(rows) "
                    + "\(what); give --pool-size \(rows) or fewer (chance is 1/pool size)")
            }
            let r = try withTorchError {
                try Evaluator(config: cfg.eval).score(brain: b, targets: t, imageIDs: ids, subject: nil,
                                                      brainName: brain, targetsName: targets)
            }
            report = EvaluationReport(protocolName: cfg.eval.protocolName, ties: cfg.eval.ties, subjects: [r])
        } else if let checkpoint, try Self.family(checkpoint: checkpoint, config: config) == MindEye2Family.self {
            report = try evaluateMindEye2(checkpoint: checkpoint, overrides: extra)
        } else if let checkpoint, try Self.family(checkpoint: checkpoint, config: config) == BrainXFamily.self {
            // a BrainX training checkpoint: its family rebuilt from the embedded config, scored like MindEye2's
            let family = try BrainXFamily.load(checkpoint: URL(fileURLWithPath: checkpoint), overrides: extra)
            let loaded = try NSDTrainingData(config: family.config.data, targetShape: BrainXFamily.targetShape(family.config))
            let data = family.targetData(loaded)  // the ridge baseline fits the same targets as the model
            report = try scored(data: data, eval: family.config.eval) {
                try family.evaluate(data: loaded, config: family.config.eval, progress: $0)
            }
        } else if let checkpoint {
            let loaded = try LoadedModel.load(checkpoint: checkpoint, config: config, overrides: extra)
            try Evaluator.requireFiniteWeights(model: loaded.model, prior: loaded.prior, in: checkpoint)
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

    /// The family of a training checkpoint's embedded config, else of `--config` (VoxelFormer by default).
    static func family(checkpoint: String, config: String?) throws -> any TrainableFamily.Type {
        let url = URL(fileURLWithPath: checkpoint)
        if let meta = try? Safetensors.readMetadata(url), meta["format"] == Checkpoint.format, let yaml = meta["config"] {
            let source = "\(checkpoint) (its embedded config)"
            return try Families.named(RunConfigFamily.name(yaml: yaml, source: source), source: source)
        }
        return try Families.of(config: config, resumingIn: nil)
    }

    /// A MindEye2 run's checkpoint (or a state dict with a mindeye2 --config): its family rebuilt from the
    /// config, the weights loaded strictly, the test subjects scored, and the ridge baseline beside them.
    func evaluateMindEye2(checkpoint: String, overrides: [String]) throws -> EvaluationReport {
        let (weights, yaml) = try Checkpoint.modelWeights(URL(fileURLWithPath: checkpoint),
                                                          what: "a checkpoint or a safetensors state dict")
        let cfg: MindEye2RunConfig
        if let yaml {
            cfg = try MindEye2RunConfig.parse(yaml: yaml, source: "\(checkpoint) (its embedded config)", overrides: overrides)
        } else {
            cfg = try MindEye2RunConfig.load(path: config, overrides: overrides)
        }
        let data = try NSDTrainingData(config: cfg.data, targetShape: MindEye2Family.targetShape(cfg))
        // the prior is left out unless the weights hold one: scoring needs the brain model only
        var build = cfg
        build.train.usePrior = weights.keys.contains { $0.hasPrefix("diffusion_prior.") }
        let family = try MindEye2Family(config: build, data: data)
        do { try family.modules.load(stateDict: weights) } catch let error as Module.LoadError {
            throw CommandFailure(description: WeightsMismatch.describe(error, file: checkpoint, prefix: "", config: nil))
        }
        try family.requireFiniteWeights(in: checkpoint)
        return try scored(data: data, eval: cfg.eval) { try family.evaluate(data: data, config: cfg.eval, progress: $0) }
    }

    /// A family's evaluation with the progress printed and, unless --no-baseline, the ridge baseline beside.
    func scored(data: TrainingData, eval: EvalConfig,
                _ evaluate: (@escaping (EvaluationProgress) -> Void) throws -> EvaluationReport) throws -> EvaluationReport
    {
        let progress = EvaluationProgressPrinter()
        var report = try evaluate(progress.update)
        if !noBaseline {
            var evaluator = Evaluator(config: eval)
            evaluator.onProgress = progress.update
            try evaluator.addBaseline(RidgeBaseline(), to: &report, data: data)
        }
        progress.finish()
        return report
    }

    /// Saved embeddings must be (N, tokens, dim) or (N, dim); with a config, of its model's widths.
    static func checkEmbeddings(_ t: Tensor, path: String, model: (ModelConfig, String)?) throws {
        guard t.ndim >= 2 else {
            throw CommandFailure(description: "\(path): shape \(t.shape); expected (N, tokens, dim) or (N, dim) embeddings, "
                + "one row per trial")
        }
        guard let (model, source) = model else { return }
        if t.shape.last! != model.clipEmbDim {
            throw CommandFailure(description: "\(path): shape \(t.shape) has width \(t.shape.last!); expected model.clip_emb_dim = "
                + "\(model.clipEmbDim) of \(source)")
        }
        if t.ndim == 3 && t.size(1) != model.clipSeqDim {
            throw CommandFailure(description: "\(path): shape \(t.shape) has \(t.size(1)) tokens; expected model.clip_seq_dim = "
                + "\(model.clipSeqDim) of \(source)")
        }
    }

    /// One non-negative integer image id per row of `brain`, from a 1-D integer (or integral float) array.
    static func readImageIDs(_ path: String, rows: Int, brain: String) throws -> [Int] {
        let t = try Npy.read(URL(fileURLWithPath: path))
        guard t.ndim == 1, t.size(0) == rows else {
            throw CommandFailure(description: "\(path): shape \(t.shape); expected (\(rows),), one image id per row of \(brain)")
        }
        let values = t.to(.float64).toArray(Double.self)
        if let i = values.indices.first(where: { !values[$0].isFinite || values[$0].rounded() != values[$0] }) {
            throw CommandFailure(description: "\(path): value \(values[i]) at row \(i); expected integer image ids")
        }
        if let i = values.indices.first(where: { values[$0] < 0 || values[$0] > 9.0e15 }) {
            throw CommandFailure(description: "\(path): image id \(Int(values[i])) at row \(i); expected ids from 0 up")
        }
        if t.dtype == .int64 { return t.toArray(Int64.self).map(Int.init) }  // exact beyond 2^53
        return values.map { Int($0) }
    }
}
