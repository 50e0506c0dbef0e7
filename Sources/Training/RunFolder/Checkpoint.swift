import Foundation
import Torch

/// A training checkpoint in one safetensors file: `model.*` (the state dict under the reference's names),
/// `optimizer.*` (AdamW state), `scheduler.*`, `rng.torch` (libtorch's CPU generator), and metadata with
/// the epoch, step, sampler state and the config. Written atomically, so an interrupted write never
/// replaces a good checkpoint.
public struct Checkpoint {
    public static let format = "voxelformer-checkpoint-1"

    public var model: [String: Tensor]
    public var optimizer: [String: Tensor]
    public var scheduler: [String: Tensor]
    public var torchRNG: Tensor
    /// Epoch being trained and optimiser steps done so far.
    public var epoch: Int
    public var step: Int
    /// Steps already taken within `epoch`.
    public var stepInEpoch: Int
    /// The batch sampler's state at the start of `epoch` (JSON).
    public var samplerState: String
    public var configYAML: String
    /// The best evaluated image retrieval so far (what `best.safetensors` holds), if any.
    public var bestMetric: Double?
    /// The processes that trained it (data parallel; `world_size` in the metadata, 1 when absent).
    public var worldSize = 1

    public init(model: [String: Tensor], optimizer: [String: Tensor], scheduler: [String: Tensor], torchRNG: Tensor,
                epoch: Int, step: Int, stepInEpoch: Int, samplerState: String, configYAML: String,
                bestMetric: Double? = nil, worldSize: Int = 1)
    {
        (self.bestMetric, self.worldSize) = (bestMetric, worldSize)
        (self.model, self.optimizer, self.scheduler, self.torchRNG) = (model, optimizer, scheduler, torchRNG)
        (self.epoch, self.step, self.stepInEpoch, self.samplerState, self.configYAML) =
            (epoch, step, stepInEpoch, samplerState, configYAML)
    }

    public func write(to url: URL) throws {
        var tensors: [String: Tensor] = ["rng.torch": torchRNG]
        for (k, v) in model { tensors["model." + k] = v }
        for (k, v) in optimizer { tensors["optimizer." + k] = v }
        for (k, v) in scheduler { tensors["scheduler." + k] = v }
        var metadata = [
            "format": Self.format, "epoch": String(epoch), "step": String(step),
            "step_in_epoch": String(stepInEpoch), "sampler": samplerState, "config": configYAML,
        ]
        if let bestMetric { metadata["best_metric"] = String(bestMetric) }
        if worldSize != 1 { metadata["world_size"] = String(worldSize) }
        try Safetensors.write(tensors, metadata: metadata, to: url)
    }

    /// The config a checkpoint was trained with (its YAML), read from the header alone.
    public static func configYAML(_ url: URL) throws -> String {
        let meta = try metadata(url)
        guard let yaml = meta["config"] else { throw ConfigError("\(url.path): checkpoint metadata 'config' is missing") }
        return yaml
    }

    static func metadata(_ url: URL) throws -> [String: String] {
        try requireRegularFile(url, what: "a checkpoint")
        let meta = try Safetensors.readMetadata(url)
        guard meta["format"] == format else {
            throw ConfigError("\(url.path): not a VoxelFormer training checkpoint (metadata format is "
                + "\(meta["format"].map { "'\($0)'" } ?? "missing"), expected '\(format)'); "
                + "a model-only state dict is for evaluate, embed and retrieve (--checkpoint with --config), not for --resume")
        }
        return meta
    }

    public static func read(_ url: URL) throws -> Checkpoint {
        let meta = try metadata(url)
        func int(_ key: String) throws -> Int {
            guard let v = meta[key].flatMap(Int.init) else {
                throw ConfigError("\(url.path): checkpoint metadata '\(key)' is missing or not an integer")
            }
            guard v >= 0 else { throw ConfigError("\(url.path): checkpoint metadata '\(key)' is \(v); expected 0 or more") }
            return v
        }
        let (epoch, step, stepInEpoch) = (try int("epoch"), try int("step"), try int("step_in_epoch"))
        if stepInEpoch > step {
            throw ConfigError("\(url.path): checkpoint metadata 'step_in_epoch' (\(stepInEpoch)) exceeds 'step' (\(step))")
        }
        if epoch > step {
            throw ConfigError("\(url.path): checkpoint metadata 'epoch' (\(epoch)) exceeds 'step' (\(step)); every epoch takes a step")
        }
        var best: Double?
        if let text = meta["best_metric"] {
            guard let v = Double(text), v.isFinite else {
                throw ConfigError("\(url.path): checkpoint metadata 'best_metric' is '\(text)'; expected a finite number")
            }
            best = v
        }
        var world = 1
        if let text = meta["world_size"] {
            guard let v = Int(text), v >= 1 else {
                throw ConfigError("\(url.path): checkpoint metadata 'world_size' is '\(text)'; expected a positive integer")
            }
            world = v
        }
        let all = try Safetensors.read(url)
        func section(_ prefix: String) -> [String: Tensor] {
            var out: [String: Tensor] = [:]
            for (k, v) in all where k.hasPrefix(prefix) { out[String(k.dropFirst(prefix.count))] = v }
            return out
        }
        guard let rng = all["rng.torch"] else { throw ConfigError("\(url.path): checkpoint lacks 'rng.torch'") }
        try checkGeneratorState(rng, url: url)
        return Checkpoint(
            model: section("model."), optimizer: section("optimizer."), scheduler: section("scheduler."), torchRNG: rng,
            epoch: epoch, step: step, stepInEpoch: stepInEpoch,
            samplerState: meta["sampler"] ?? "", configYAML: meta["config"] ?? "", bestMetric: best, worldSize: world)
    }
}

extension Checkpoint {
    /// The model weights of a file a user points at: a training checkpoint's `model.` section in the model's
    /// own names, with its embedded config; or, for any other safetensors file, every tensor and no config.
    /// The prefix is this format's section, not a wrapper for `sanitize(weights:)` to guess (which it
    /// cannot when no key fits). `what` names the expected file in the error for a missing one.
    public static func modelWeights(_ url: URL, what: String) throws -> (weights: [String: Tensor], configYAML: String?) {
        try requireRegularFile(url, what: what)
        let meta = try Safetensors.readMetadata(url)
        let tensors = try Safetensors.read(url)
        guard meta["format"] == format, let yaml = meta["config"] else { return (tensors, nil) }
        let section = "model."
        return (Dictionary(uniqueKeysWithValues: tensors.compactMap { key, value in
            key.hasPrefix(section) ? (String(key.dropFirst(section.count)), value) : nil
        }), yaml)
    }
}

/// Throws unless `url` is an existing regular file, or a link to one (a FIFO or a device would block or
/// never end); the check is `FileAccess.regularFileProblem`, the one every tensor and data reader makes.
public func requireRegularFile(_ url: URL, what: String) throws {
    guard FileManager.default.fileExists(atPath: url.path) else {
        throw ConfigError("\(url.path): no such file; expected \(what)")
    }
    if FileAccess.regularFileProblem(url.path) != nil {
        throw ConfigError("\(url.path): not a regular file; expected \(what)")
    }
}
