import Foundation
import Torch
import VoxelFormer
import Yams

/// Everything a VoxelFormer run needs: `model`, `data`, `train`, `eval`, `prior`, plus the run folder.
/// Loaded from a YAML preset (`configs/paper.yaml`, `configs/demo.yaml`) with Hydra-style dotted overrides
/// (`model.nat_depth=2`); the loading is `RunConfiguration`'s.
public struct VoxelFormerConfig: RunConfiguration {
    public static let familyName = "voxelformer"
    /// Always `familyName`: written so that a run folder says which family trained it.
    public var family = Self.familyName
    public var model = ModelConfig()
    public var data = DataConfig()
    public var train = TrainConfig()
    public var eval = EvalConfig()
    /// The diffusion prior, used when `train.use_prior` is true.
    public var prior = PriorConfig()
    /// Where checkpoints, metrics and plots go.
    public var runDir = "runs/default"

    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case family, model, data, train, eval, prior, runDir = "run_dir"
    }
    public static let sectionNames = ["model", "data", "train", "eval", "prior", "run_dir"]
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), d = VoxelFormerConfig()
        family = try c.get(.family, d.family)
        model = try c.get(.model, d.model)
        data = try c.get(.data, d.data)
        train = try c.get(.train, d.train)
        eval = try c.get(.eval, d.eval)
        prior = try c.get(.prior, d.prior)
        runDir = try c.get(.runDir, d.runDir)
    }

    /// The keys each section accepts, for error messages and unknown-key checks.
    public static let allowedKeys: [String: [String]] = [
        "model": ModelConfig.CodingKeys.allCases.map(\.rawValue),
        "data": DataConfig.CodingKeys.allCases.map(\.rawValue),
        "train": TrainConfig.CodingKeys.allCases.map(\.rawValue),
        "eval": EvalConfig.CodingKeys.allCases.map(\.rawValue),
        "prior": PriorConfig.CodingKeys.allCases.map(\.rawValue),
    ]

    public func validate() throws {
        try model.validate()
        try data.validate()
        try train.validate()
        try eval.validate()
        if train.usePrior {
            try prior.validate()
            if prior.dim != model.clipEmbDim {
                throw ConfigError("prior.dim: must equal model.clip_emb_dim (\(model.clipEmbDim)), got \(prior.dim)")
            }
            if prior.numTokens != model.clipSeqDim {
                throw ConfigError("prior.num_tokens: must equal model.clip_seq_dim (\(model.clipSeqDim)), got \(prior.numTokens)")
            }
        }
    }
}
