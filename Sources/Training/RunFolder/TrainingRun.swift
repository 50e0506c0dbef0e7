import Foundation
import Torch

/// Training from a config into a run folder, the whole of `train` and `demo` but the printing: takes
/// the folder's lock, clears stale temporaries, refuses to replace an earlier run (or checks that a
/// resume may continue it), writes config.yaml, trains, then writes report.json and curves.svg.
/// Human-readable notes (what was cleaned, resumed, replaced) go to `onNote`.
public struct TrainingRun<Family: TrainableFamily> {
    public let config: Family.Config
    public let resume: Bool
    public var overwrite = false
    /// Called with the built trainer before training (the CLI attaches its loggers and interrupt flag).
    public var beforeTraining: (Trainer<Family>) throws -> Void = { _ in }
    public var onNote: (String) -> Void = { _ in }
    /// This process's place in a data-parallel run: only rank 0 locks and writes the run folder.
    public var dataParallel: DataParallel?

    public init(config: Family.Config, resume: Bool, overwrite: Bool = false,
                beforeTraining: @escaping (Trainer<Family>) throws -> Void = { _ in })
    {
        (self.config, self.resume, self.overwrite, self.beforeTraining) = (config, resume, overwrite, beforeTraining)
    }

    /// The config embedded in `runDir`'s checkpoint, with `overrides` applied.
    public static func checkpointConfig(runDir: String, overrides: [String]) throws -> Family.Config {
        let url = URL(fileURLWithPath: runDir).appendingPathComponent("checkpoint.safetensors")
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ConfigError("--resume: \(url.path) does not exist")
        }
        return try Family.Config.parse(yaml: try Checkpoint.configYAML(url), source: "\(url.path) (its embedded config)",
                                           overrides: overrides)
    }

    /// The weights of `path`: a training checkpoint's `model.` section, or a whole safetensors state dict.
    static func pretrainedWeights(_ path: String) throws -> [String: Tensor] {
        try Checkpoint.modelWeights(URL(fileURLWithPath: path), what: "train.init_from: a checkpoint or a safetensors state dict").weights
    }

    /// Runs the training; `stage` wraps each step so a libtorch failure names what was being done.
    @discardableResult
    public func execute(stage: (String, () throws -> Void) throws -> Void = { try $1() }) throws -> Trainer<Family> {
        let dir = URL(fileURLWithPath: config.runDir)
        let writes = dataParallel?.isWriter ?? true
        let folder = writes ? try RunFolder(dir) : nil  // held until training ends: a second writer stops here
        let stale = try folder?.removeStaleTemporaries() ?? []
        if !stale.isEmpty { onNote("removed \(stale.count) stale temporary file(s) of interrupted writes in \(dir.path)") }
        if resume {
            let checkpoint = dir.appendingPathComponent("checkpoint.safetensors")
            guard FileManager.default.fileExists(atPath: checkpoint.path) else {
                throw ConfigError("--resume: \(checkpoint.path) does not exist")
            }
            let trained = try Family.Config.parse(yaml: try Checkpoint.configYAML(checkpoint),
                                                      source: "\(checkpoint.path) (its embedded config)")
            try config.checkResumable(from: trained, source: checkpoint.path)
        } else {
            try folder?.prepareFreshRun(overwrite: overwrite)
        }
        var data: NSDTrainingData!
        try stage("loading the data in \(config.data.root)") {
            data = try NSDTrainingData(config: config.data, targetShape: Family.targetShape(config))
        }
        for (s, n) in data.replacedNonFinite.sorted(by: { $0.key < $1.key }) {
            onNote("data.nan_policy=zero: replaced \(n) NaN/inf betas of subject \(s) by 0")
        }
        var built: Trainer<Family>!
        try stage("building the model") { built = try Trainer(config: config, data: data, runDir: dir) }
        let trainer = built!
        trainer.dataParallel = dataParallel
        if resume {
            try stage("loading \(trainer.checkpointURL.path)") { try trainer.resume(from: trainer.checkpointURL) }
            // NaN weights would only surface as a NaN loss, reported as a training failure
            try trainer.family.requireFiniteWeights(in: trainer.checkpointURL.path)
            onNote("resumed from \(trainer.checkpointURL.path) at epoch \(trainer.epoch + 1), step \(trainer.step)")
        }
        if !resume, let source = config.train.initFrom {
            try stage("initialising from \(source)") {
                onNote(try trainer.family.initialise(from: try Self.pretrainedWeights(source), source: source))
            }
            try trainer.family.requireFiniteWeights(in: source)
        }
        if writes {
            try trainer.config.yaml().write(to: dir.appendingPathComponent("config.yaml"), atomically: true, encoding: .utf8)
        }
        onNote("training \(Family.Config.familyName): \(trainer.family.parameterCount.formattedWithCommas) "
            + "parameters on subjects \(config.data.trainSubjects.map(String.init).joined(separator: ", ")): "
            + "\(config.train.epochs) epochs x \(trainer.stepsPerEpoch) steps, batch \(config.train.batchSize)"
            + (dataParallel.map { " (\(config.train.batchSize / $0.worldSize) a rank)" } ?? "") + ", "
            + "\(config.train.precision.rawValue), " + (dataParallel?.workers(threads: Torch.threads) ?? "\(Torch.threads) threads"))
        try beforeTraining(trainer)
        try trainer.run()
        guard writes else { return trainer }
        if let report = trainer.lastEvaluation?.report {
            try report.json().write(to: dir.appendingPathComponent("report.json"), atomically: true, encoding: .utf8)
        }
        try RunPlots.write(runDir: dir)
        onNote("checkpoint: \(trainer.checkpointURL.path)"
            + (trainer.bestMetric.map { String(format: " (best image retrieval %.3f: %@)", $0, trainer.bestCheckpointURL.path) } ?? ""))
        withExtendedLifetime(folder) {}
        return trainer
    }
}

extension TrainingRun {
    /// The demo's report after training: the last evaluation (reused when it was made at the final step),
    /// the ridge baseline fitted on the same data, and the synthetic data's oracle per subject, written to
    /// report.json; curves.svg is redrawn to show the baseline and chance.
    public static func writeReport(trainer: Trainer<Family>, oracle: [Int: Double],
                                   progress: ((EvaluationProgress) -> Void)? = nil) throws -> EvaluationReport
    {
        var report: EvaluationReport
        if let last = trainer.lastEvaluation, last.step == trainer.step {
            report = last.report
        } else {
            report = try trainer.evaluate()
        }
        var evaluator = Evaluator(config: trainer.config.eval)
        evaluator.onProgress = progress
        try evaluator.addBaseline(RidgeBaseline(), to: &report, data: trainer.family.baselineData(trainer.data))
        for i in report.subjects.indices {
            if let s = report.subjects[i].subject, let o = oracle[s] { report.subjects[i].oracle = o }
        }
        try report.json().write(to: trainer.runDir.appendingPathComponent("report.json"), atomically: true, encoding: .utf8)
        try RunPlots.write(runDir: trainer.runDir)
        return report
    }
}
