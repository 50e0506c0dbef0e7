import BrainData
import Encoding
import Foundation
import Torch

extension EncodingTrainer {
    /// The whole training state in the shared `Checkpoint` format (no scheduler: the lr is constant).
    public func saveCheckpoint(to url: URL? = nil) throws {
        let c = Checkpoint(model: model.modules.stateDict(), optimizer: optimizer.stateDict(), scheduler: [:],
                           torchRNG: Torch.rngState(), epoch: epoch, step: step, stepInEpoch: stepInEpoch,
                           samplerState: String(decoding: try JSONEncoder().encode(epochState), as: UTF8.self),
                           configYAML: try config.yaml(), bestMetric: bestMetric)
        try c.write(to: url ?? checkpointURL)
    }

    /// Restores a checkpoint of this run; the training then continues exactly (same windows, same draws).
    public func resume(from url: URL) throws {
        let c = try Checkpoint.read(url)
        func fail(_ why: String) -> ConfigError { ConfigError("\(url.path): \(why)") }
        guard let s = try? JSONDecoder().decode(LoopState.self, from: Data(c.samplerState.utf8)) else {
            throw fail("the checkpoint's window sampler state cannot be read (not an encoding run's checkpoint?)")
        }
        guard s.sampler.lengths == state.sampler.lengths, s.sampler.sampleLength == state.sampler.sampleLength else {
            throw fail("the checkpoint drew windows of \(s.sampler.sampleLength) TRs from episodes of \(s.sampler.lengths) TRs, "
                + "but the data now has \(state.sampler.lengths) (sample_length \(state.sampler.sampleLength))")
        }
        guard c.stepInEpoch < stepsPerEpoch, c.step == c.epoch * stepsPerEpoch + c.stepInEpoch else {
            throw fail("step \(c.step) does not match epoch \(c.epoch) x \(stepsPerEpoch) steps + step_in_epoch \(c.stepInEpoch)")
        }
        guard c.epoch <= config.train.epochs else { throw fail("epoch \(c.epoch) is past train.epochs (\(config.train.epochs))") }
        try model.modules.load(stateDict: c.model)
        try optimizer.load(stateDict: c.optimizer)
        (state, epochState) = (s, s)
        (epoch, step, stepInEpoch, bestMetric) = (c.epoch, c.step, c.stepInEpoch, c.bestMetric)
        Torch.setRNGState(c.torchRNG)
        try MetricsLog.truncate(metricsURL, beforeStep: step)
    }
}

/// An encoding run into a run folder, as `TrainingRun` does it for the NSD families: the folder's lock,
/// stale temporaries, no silent replacement of an earlier run, the resume check, config.yaml, then
/// report.json (the last validation) and curves.svg.
public struct EncodingRun {
    public let config: EncodingRunConfig
    public let resume: Bool
    public var overwrite = false
    public var beforeTraining: (EncodingTrainer) throws -> Void = { _ in }
    public var onNote: (String) -> Void = { _ in }

    public init(config: EncodingRunConfig, resume: Bool, overwrite: Bool = false) {
        (self.config, self.resume, self.overwrite) = (config, resume, overwrite)
    }

    /// The config embedded in `runDir`'s checkpoint, with `overrides` applied.
    public static func checkpointConfig(runDir: String, overrides: [String]) throws -> EncodingRunConfig {
        let url = URL(fileURLWithPath: runDir).appendingPathComponent("checkpoint.safetensors")
        try requireRegularFile(url, what: "--resume: the run's checkpoint")
        return try .parse(yaml: try Checkpoint.configYAML(url), source: "\(url.path) (its embedded config)", overrides: overrides)
    }

    /// The stage-1 weights of `path` and, when it is an encoding checkpoint, its model section.
    static func stage1Weights(_ path: String) throws -> (weights: [String: Tensor], model: ConvLinearEncoderConfig?) {
        let url = URL(fileURLWithPath: path)
        let (weights, yaml) = try Checkpoint.modelWeights(url, what: "stage1: a stage-1 run's best.safetensors or checkpoint.safetensors")
        guard let yaml else { return (weights, nil) }
        let trained = try EncodingRunConfig.parse(yaml: yaml, source: "\(path) (its embedded config)")
        guard trained.stage == 1 else { throw ConfigError("stage1: \(path) is a stage-\(trained.stage) run; expected a stage-1 run's weights") }
        return (weights, trained.model)
    }

    @discardableResult
    public func execute(stage: (String, () throws -> Void) throws -> Void = { try $1() }) throws -> EncodingTrainer {
        let dir = URL(fileURLWithPath: config.runDir)
        let folder = try RunFolder(dir)
        let stale = try folder.removeStaleTemporaries()
        if !stale.isEmpty { onNote("removed \(stale.count) stale temporary file(s) of interrupted writes in \(dir.path)") }
        var config = self.config
        var trained: EncodingRunConfig?
        if resume {
            trained = try Self.checkpointConfig(runDir: dir.path, overrides: [])
            config.model = trained!.model  // filled from the data when it started
        } else {
            try folder.prepareFreshRun(overwrite: overwrite)
        }
        var stage1: [String: Tensor]?
        if config.stage == 2 && !resume {
            guard let path = config.stage1 else {
                throw ConfigError("stage1: stage 2 needs the stage-1 weights (stage1=runs/<stage-1 run>/best.safetensors)")
            }
            let loaded = try Self.stage1Weights(path)
            if let m = loaded.model { config.model = m }
            stage1 = loaded.weights
        }
        var data: EncodingData!
        try stage("loading the data in \(config.data.root)") { data = try EncodingData(config: config.data) }
        for line in data.missingRuns { onNote("missing run: \(line)") }
        var built: EncodingTrainer!
        try stage("building the model") { built = try EncodingTrainer(config: config, data: data, runDir: dir) }
        let trainer = built!
        if let trained { try trainer.config.checkResumable(from: trained, source: trainer.checkpointURL.path) }
        if let stage1 {
            try stage("loading the stage-1 weights \(config.stage1 ?? "")") { try trainer.model.loadStage1(stage1) }
            try Evaluator.requireFiniteWeights(trainer.model.encoder, "\(config.stage1 ?? ""): the stage-1 encoder")
        }
        if let flow = trainer.model.flow, flow.config.latent == .pca, !resume, config.train.initFrom == nil {
            try stage("fitting the latent to the training responses' principal components") {
                let v = data.parcels  // each episode's fmri is (S, T, V)
                flow.fitPrincipalComponents(Tensor.cat(data.train.map { $0.fmri.reshape([$0.fmri.count / v, v]) }, dim: 0))
            }
        }
        if resume {
            try stage("loading \(trainer.checkpointURL.path)") { try trainer.resume(from: trainer.checkpointURL) }
            try Evaluator.requireFiniteWeights(trainer.model.modules, "\(trainer.checkpointURL.path): the model")
            onNote("resumed from \(trainer.checkpointURL.path) at epoch \(trainer.epoch + 1), step \(trainer.step)")
        } else if let source = config.train.initFrom {
            try stage("initialising from \(source)") {
                let weights = try Checkpoint.modelWeights(URL(fileURLWithPath: source), what: "train.init_from: a checkpoint or a safetensors state dict")
                try trainer.model.modules.load(stateDict: weights.weights)
            }
            onNote("initialised every weight from \(source)")
        }
        try trainer.config.yaml().write(to: dir.appendingPathComponent("config.yaml"), atomically: true, encoding: .utf8)
        onNote("training encoding stage \(config.stage): \(trainer.model.parameterCount.formattedWithCommas) trained parameters, "
            + "subjects \(config.data.subjects), \(data.train.count) training and \(data.val.count) held-out episodes, "
            + "\(config.train.epochs) epochs x \(trainer.stepsPerEpoch) steps of \(config.train.batchSize) windows of "
            + "\(config.data.sampleLength) TRs, \(Torch.threads) threads")
        try beforeTraining(trainer)
        try trainer.run()
        if let last = trainer.lastEvaluation {
            try EncodingReport(score: last.score, step: last.step, subjects: config.data.subjects).json()
                .write(to: dir.appendingPathComponent("report.json"), atomically: true, encoding: .utf8)
        }
        try EncodingPlots.curves(records: MetricsLog.read(trainer.metricsURL)).svg()
            .write(to: dir.appendingPathComponent("curves.svg"), atomically: true, encoding: .utf8)
        onNote("checkpoint: \(trainer.checkpointURL.path)"
            + (trainer.bestMetric.map { String(format: " (best mean r %.4f: %@)", $0, trainer.bestCheckpointURL.path) } ?? ""))
        withExtendedLifetime(folder) {}
        return trainer
    }
}

/// report.json of an encoding run or evaluation: the mean r, per subject, and the step it was made at.
public struct EncodingReport: Codable {
    public var meanR: Double
    public var subjects: [String: Double]
    public var step: Int?
    public var steps: Int?
    public var seed: UInt64?
    public var ceiling: Double?
    enum CodingKeys: String, CodingKey { case meanR = "mean_r", subjects, step, steps, seed, ceiling }

    public init(score: EncodingScore, step: Int? = nil, subjects: [Int], steps: Int? = nil, seed: UInt64? = nil, ceiling: Double? = nil) {
        meanR = score.score
        self.subjects = Dictionary(uniqueKeysWithValues: zip(subjects.map(AlgonautsLayout.subjectName), score.subjects))
        (self.step, self.steps, self.seed, self.ceiling) = (step, steps, seed, ceiling)
    }

    public func json() throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try e.encode(self), as: UTF8.self) + "\n"
    }
}
