import ArgumentParser
import Foundation
import Torch
import Training
import VoxelFormer

/// The options every inference command shares: which weights, which config, which overrides.
struct ModelOptions: ParsableArguments {
    @Option(help: "A training checkpoint (its config comes along) or a model state dict (then --config).")
    var checkpoint: String
    @Option(help: "The YAML preset for a plain state dict, or to change data/eval settings.")
    var config: String?
    @Argument(help: "Dotted overrides (data.root=..., eval.pool_size=...).")
    var overrides: [String] = []

    func load() throws -> LoadedModel { try LoadedModel.load(checkpoint: checkpoint, config: config, overrides: overrides) }
}

extension LoadedModel {
    /// A checkpoint with, for a plain state dict, the preset that gives its shapes.
    static func load(checkpoint: String, config: String?, overrides: [String]) throws -> LoadedModel {
        let fallback = try config.map { try VoxelFormerConfig.load(path: $0, overrides: overrides) }
        let url = URL(fileURLWithPath: checkpoint)
        do {
            return try LoadedModel(weights: url, config: fallback, overrides: overrides)
        } catch let error as Module.LoadError {
            // a training checkpoint names its weights model.*, and its embedded config gave the shapes
            let embedded = try? VoxelFormerConfig.parse(yaml: Checkpoint.configYAML(url), overrides: overrides)
            throw CommandFailure(description: WeightsMismatch.describe(error, file: checkpoint, prefix: embedded == nil ? "" : "model.",
                                                                       config: embedded ?? fallback))
        }
    }

    /// The data root of the model's config, restricted to one subject.
    func data(subject: Int) throws -> NSDTrainingData {
        var dataConfig = config.data
        dataConfig.trainSubjects = [subject]
        dataConfig.testSubjects = [subject]
        return try NSDTrainingData(config: dataConfig, targetShape: [config.model.clipSeqDim, config.model.clipEmbDim])
    }
}
