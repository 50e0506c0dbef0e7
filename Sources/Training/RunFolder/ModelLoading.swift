import Foundation
import Torch
import VoxelFormer
import Yams

/// A trained model ready for inference.
public struct LoadedModel {
    public let model: VoxelFormerModel
    /// The diffusion prior, when the checkpoint trained one (`diffusion_prior.*` keys).
    public let prior: DiffusionPrior?
    public let config: VoxelFormerConfig

    /// Reads a training checkpoint (its config comes along) or a plain safetensors state dict with the
    /// reference's names (then `config` gives the shapes). Model-only files may carry a `brain_model.`-free
    /// reference layout; keys are matched strictly and any mismatch is reported by name.
    public init(weights url: URL, config fallback: VoxelFormerConfig?, overrides: [String] = []) throws {
        var config: VoxelFormerConfig
        let (tensors, yaml) = try Checkpoint.modelWeights(url, what: "a checkpoint or a safetensors state dict")
        if let yaml {
            config = try VoxelFormerConfig.parse(yaml: yaml, source: "\(url.path) (its embedded config)", overrides: overrides)
        } else if let fallback {
            config = fallback
        } else {
            throw ConfigError("\(url.path): a plain state dict carries no config; pass --config with the model's preset")
        }
        let model = VoxelFormerModel(config.model)
        let isPrior = { (key: String) in key.hasPrefix("diffusion_prior.") || key.hasPrefix("model.diffusion_prior.") }
        let priorTensors = tensors.filter { isPrior($0.key) }
        try model.load(stateDict: tensors.filter { !isPrior($0.key) })
        model.eval()
        if priorTensors.isEmpty {
            prior = nil
        } else {
            let p = DiffusionPrior(config.prior)
            try p.load(stateDict: priorTensors)  // DiffusionPrior.sanitize drops the prefix
            p.eval()
            prior = p
        }
        self.model = model
        self.config = config
    }
}
