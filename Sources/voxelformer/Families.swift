import Foundation
import Torch
import Training

/// The model families `train` and `demo` run, by their configs' `family` key. Registering a family is one
/// line here (its adapter lives in Training/Families, its preset in configs/).
enum Families {
    static var all: [any TrainableFamily.Type] { [VoxelFormerFamily.self, MindEye2Family.self, BrainXFamily.self] }

    static func named(_ name: String, source: String) throws -> any TrainableFamily.Type {
        if name == EncodingRunConfig.familyName {  // its own loop: Training/Encoding
            throw ConfigError("\(source): an encoding config; train it with `voxelformer encoding train --config ...`")
        }
        guard let family = all.first(where: { $0.familyName == name }) else {
            throw ConfigError("\(source): family: expected one of \(all.map { $0.familyName }.joined(separator: ", ")), got '\(name)'")
        }
        return family
    }

    /// The family of a config file (`--config`), or of the checkpoint a config-less `--resume` continues.
    static func of(config path: String?, resumingIn runDir: String?) throws -> any TrainableFamily.Type {
        if path == nil, let runDir {
            let url = URL(fileURLWithPath: runDir).appendingPathComponent("checkpoint.safetensors")
            // a missing or unreadable checkpoint is reported by the run itself, with the resume's wording
            guard let yaml = try? Checkpoint.configYAML(url) else { return VoxelFormerFamily.self }
            let source = "\(url.path) (its embedded config)"
            return try named(RunConfigFamily.name(yaml: yaml, source: source), source: source)
        }
        return try named(RunConfigFamily.name(path: path), source: path ?? "the defaults")
    }
}
