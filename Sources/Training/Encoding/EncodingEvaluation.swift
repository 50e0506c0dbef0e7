import BrainData
import Encoding
import Foundation
import Torch

/// `encoding evaluate` and `encoding score` without the printing: a trained encoder on whole episodes, and
/// the score of two `.npy` arrays.
public enum EncodingEvaluation {
    /// The encoder of a run's checkpoint (checkpoint.safetensors or best.safetensors, which carry their
    /// config), with `overrides` applied to that config (`data.root=…`, `data.val_movies=[life]`).
    public static func load(checkpoint url: URL, overrides: [String] = []) throws -> EncodingModel {
        let (weights, yaml) = try Checkpoint.modelWeights(url, what: "an encoding run's checkpoint.safetensors or best.safetensors")
        guard let yaml else {
            throw ConfigError("\(url.path): a plain state dict carries no config; pass an encoding run's checkpoint.safetensors "
                + "or best.safetensors")
        }
        let family = try RunConfigFamily.name(yaml: yaml, source: "\(url.path) (its embedded config)")
        guard family == EncodingRunConfig.familyName else {
            throw ConfigError("\(url.path): a \(family) checkpoint; encoding evaluate takes an encoding run's (voxelformer evaluate takes this one)")
        }
        let config = try EncodingRunConfig.parse(yaml: yaml, source: "\(url.path) (its embedded config)", overrides: overrides)
        let model = EncodingModel(config: config)
        try model.modules.load(stateDict: weights)
        try Evaluator.requireFiniteWeights(model.modules, "\(url.path): the model")
        return model
    }

    /// The noise ceiling of a synthetic release for these held-out episodes and subjects, when the filter
    /// is one of those `synthetic_info.json` reports (val_figures, val_s6, …) and the subjects are all of it.
    public static func syntheticCeiling(_ data: EncodingDataConfig) -> (split: String, ceiling: Double)? {
        guard let info = try? SyntheticAlgonautsWriter.info(at: URL(fileURLWithPath: data.root)),
              info.config.subjects == data.subjects,
              let split = SyntheticAlgonautsWriter.splits.first(where: { $0.1 == data.valFilter })?.0,
              let ceiling = info.ceiling[split] else { return nil }
        return (split, ceiling)
    }

    /// Reads `--pred` and `--true` (each (T, V), or (S, T, V) for S subjects) and scores them as MedARC
    /// does: r per parcel over time (per subject), the mean over parcels, then over subjects. Shapes that
    /// differ, NaN or infinite values and unreadable files throw naming the file.
    public static func score(pred: URL, truth: URL) throws -> EncodingScore {
        let p = try readScored(pred, flag: "--pred"), t = try readScored(truth, flag: "--true")
        guard p.shape == t.shape else {
            throw ConfigError("--pred \(pred.path) has shape \(p.shape) but --true \(truth.path) has \(t.shape); expected equal shapes")
        }
        if p.ndim == 2 { return try EncodingScore(truth: [[t]], predictions: [[p]]) }
        return try EncodingScore(stackedTruth: [t], stackedPredictions: [p])
    }

    static func readScored(_ url: URL, flag: String) throws -> Tensor {
        try requireRegularFile(url, what: "\(flag): a .npy array of responses (T, V) or (S, T, V)")
        let x: Tensor
        do { x = try Npy.read(url) } catch {
            throw ConfigError("\(flag) \(url.path): not a readable .npy array (\(error))")
        }
        guard x.ndim == 2 || x.ndim == 3 else {
            throw ConfigError("\(flag) \(url.path): has shape \(x.shape); expected (T, V) or (S, T, V)")
        }
        guard x.shape[x.ndim - 2] >= 2, x.shape.allSatisfy({ $0 > 0 }) else {
            throw ConfigError("\(flag) \(url.path): has shape \(x.shape); expected at least 2 time points and 1 parcel")
        }
        guard x.dtype != .bool else { throw ConfigError("\(flag) \(url.path): holds booleans; expected numbers") }
        let finite = Int(x.isfinite().sum().item())
        if finite < x.count {
            throw ConfigError("\(flag) \(url.path): \(x.count - finite) of \(x.count) values are NaN or infinite; expected finite numbers")
        }
        return x.to(.float64)
    }
}
