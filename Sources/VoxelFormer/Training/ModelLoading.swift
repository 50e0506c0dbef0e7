import Foundation
import Torch
import Yams

extension VoxelFormerConfig {
    /// Parses a YAML document (a checkpoint's embedded config, say) with the same checks as `load`.
    public static func parse(yaml: String, overrides: [String] = []) throws -> VoxelFormerConfig {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("vf-config-\(UUID().uuidString).yaml")
        try yaml.write(to: url, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: url) }
        return try load(path: url.path, overrides: overrides)
    }
}

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
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ConfigError("\(url.path): no such checkpoint")
        }
        let meta = try Safetensors.readMetadata(url)
        var config: VoxelFormerConfig
        var tensors = try Safetensors.read(url)
        if meta["format"] == Checkpoint.format, let yaml = meta["config"] {
            config = try VoxelFormerConfig.parse(yaml: yaml, overrides: overrides)
            var model: [String: Tensor] = [:]
            for (k, v) in tensors where k.hasPrefix("model.") { model[String(k.dropFirst(6))] = v }
            tensors = model
        } else if let fallback {
            config = fallback
        } else {
            throw ConfigError("\(url.path): a plain state dict carries no config; pass --config with the model's preset")
        }
        let model = VoxelFormerModel(config.model)
        let prefix = "diffusion_prior."
        let priorTensors = tensors.filter { $0.key.hasPrefix(prefix) }
        try model.load(stateDict: tensors.filter { !$0.key.hasPrefix(prefix) })
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
