import BrainData
import Encoding
import Foundation
import Torch

/// An encoding run (`family: encoding`, issue 14): stage 1, MedARC's `MultiSubjectConvLinearEncoder`
/// trained by MSE on windows (`model`), or stage 2, the flow-matching model (`flow`, `decoder`) trained on a
/// frozen stage-1 mean read from `stage1`. Defaults are MedARC's `default_feature_encoding.yaml` and the
/// notes' stage-2 defaults; docs/encoding.md has the details.
public struct EncodingRunConfig: LoadableRunConfiguration {
    public static let familyName = "encoding"
    public var family = Self.familyName
    /// 1 (the conv-linear mean) or 2 (flow matching on top of it).
    public var stage = 1
    /// Stage 2: the stage-1 weights (a stage-1 run's best.safetensors or checkpoint.safetensors). When it is
    /// an encoding checkpoint, its `model` section replaces this config's.
    public var stage1: String?
    /// `num_subjects`, `feat_dims` and `target_dim` left at 0 / [] (the defaults) are taken from the data.
    public var model = ConvLinearEncoderConfig()
    public var flow = EncodingFlowConfig()
    public var decoder = MatchaDecoderConfig()
    public var data = EncodingDataConfig()
    public var train = EncodingTrainConfig()
    public var eval = EncodingEvalConfig()
    public var runDir = "runs/encoding"

    public init() {
        model.numSubjects = 0
        model.featDims = []
        model.targetDim = 0
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case family, stage, stage1, model, flow, decoder, data, train, eval, runDir = "run_dir"
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), d = Self()
        family = try c.get(.family, d.family)
        stage = try c.get(.stage, d.stage)
        stage1 = try c.decodeIfPresent(String.self, forKey: .stage1)
        model = try c.get(.model, d.model)
        flow = try c.get(.flow, d.flow)
        self.decoder = try c.get(.decoder, d.decoder)
        data = try c.get(.data, d.data)
        train = try c.get(.train, d.train)
        eval = try c.get(.eval, d.eval)
        runDir = try c.get(.runDir, d.runDir)
    }

    public static let sectionNames = ["stage", "stage1", "model", "flow", "decoder", "data", "train", "eval", "run_dir"]
    public static let allowedKeys: [String: [String]] = [
        "model": ConvLinearEncoderConfig.CodingKeys.allCases.map(\.rawValue),
        "flow": EncodingFlowConfig.CodingKeys.allCases.map(\.rawValue),
        "decoder": MatchaDecoderConfig.CodingKeys.allCases.map(\.rawValue),
        "data": EncodingDataConfig.CodingKeys.allCases.map(\.rawValue),
        "train": EncodingTrainConfig.CodingKeys.allCases.map(\.rawValue),
        "eval": EncodingEvalConfig.CodingKeys.allCases.map(\.rawValue),
    ]
    public static let resumableKeys = ["train.epochs", "train.max_steps", "train.threads", "train.checkpoint_every",
                                       "train.patience", "data.root", "data.features_root", "eval.*", "run_dir"]

    /// Stage 2's model config for `parcels` (the data's V).
    public func flowMatching(parcels: Int) -> FlowMatchingConfig {
        var f = FlowMatchingConfig()
        (f.latentDim, f.targetDim, f.sigmaMin, f.nTimesteps) = (flow.latentDim, parcels, flow.sigmaMin, flow.nTimesteps)
        (f.temperature, f.auxLoss, f.auxLossWeight, f.decoder) = (flow.temperature, flow.auxLoss, flow.auxLossWeight, decoder)
        f.latent = flow.latent
        return f
    }

    public func validate() throws {
        if family != Self.familyName { throw ConfigError("family: expected '\(Self.familyName)', got '\(family)'") }
        if !(1...2).contains(stage) { throw ConfigError("stage: expected 1 (the conv-linear encoder) or 2 (flow matching), got \(stage)") }
        if runDir.isEmpty { throw ConfigError("run_dir: expected a folder, got nothing") }
        // shape keys left for the data get placeholders here; `filled(from:)` checks the real ones
        var shape = model
        if shape.numSubjects == 0 { shape.numSubjects = data.subjects.count }
        if shape.featDims.isEmpty { shape.featDims = data.features.map { _ in FeatureDim(1) } }
        if shape.targetDim == 0 { shape.targetDim = data.parcels }
        try shape.validate()
        try data.validate()
        try train.validate()
        if eval.everyEpochs < 1 { throw ConfigError("eval.every_epochs: must be at least 1, got \(eval.everyEpochs)") }
        do {
            try flowMatching(parcels: shape.targetDim).validate()
        } catch let error as ConfigError {
            // FlowMatchingConfig names its keys `model.*`; here they are `flow.*` and `decoder.*`
            let m = error.message
            throw ConfigError(m.hasPrefix("model.decoder.") ? String(m.dropFirst(6))
                : m.hasPrefix("model.") ? "flow." + m.dropFirst(6) : m)
        }
    }

    /// The config with the shape keys filled from the data (S subjects, the feature sets' dims, V parcels);
    /// a key set by hand that disagrees throws naming it and the data's value.
    public func filled(subjects: Int, featDims: [FeatureDim], parcels: Int) throws -> Self {
        var c = self
        func check<T: Equatable>(_ key: String, _ mine: T, _ data: T, empty: T, _ show: (T) -> String) throws -> T {
            if mine == empty || mine == data { return data }
            throw ConfigError("model.\(key): \(show(mine)) does not match the data in \(self.data.root) (\(show(data))); "
                + "leave it out to take it from the data")
        }
        let dims = { (d: [FeatureDim]) in "[" + d.map { $0.layers == 1 ? "\($0.dim)" : "[\($0.layers), \($0.dim)]" }.joined(separator: ", ") + "]" }
        c.model.numSubjects = try check("num_subjects", model.numSubjects, subjects, empty: 0) { "\($0)" }
        c.model.featDims = try check("feat_dims", model.featDims, featDims, empty: [], dims)
        c.model.targetDim = try check("target_dim", model.targetDim, parcels, empty: 0) { "\($0)" }
        return c
    }
}
