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

    public init(model: [String: Tensor], optimizer: [String: Tensor], scheduler: [String: Tensor], torchRNG: Tensor,
                epoch: Int, step: Int, stepInEpoch: Int, samplerState: String, configYAML: String)
    {
        (self.model, self.optimizer, self.scheduler, self.torchRNG) = (model, optimizer, scheduler, torchRNG)
        (self.epoch, self.step, self.stepInEpoch, self.samplerState, self.configYAML) =
            (epoch, step, stepInEpoch, samplerState, configYAML)
    }

    public func write(to url: URL) throws {
        var tensors: [String: Tensor] = ["rng.torch": torchRNG]
        for (k, v) in model { tensors["model." + k] = v }
        for (k, v) in optimizer { tensors["optimizer." + k] = v }
        for (k, v) in scheduler { tensors["scheduler." + k] = v }
        try Safetensors.write(tensors, metadata: [
            "format": Self.format, "epoch": String(epoch), "step": String(step),
            "step_in_epoch": String(stepInEpoch), "sampler": samplerState, "config": configYAML,
        ], to: url)
    }

    public static func read(_ url: URL) throws -> Checkpoint {
        let meta = try Safetensors.readMetadata(url)
        guard meta["format"] == format else {
            throw ConfigError("\(url.path): not a VoxelFormer training checkpoint (metadata format is "
                + "\(meta["format"].map { "'\($0)'" } ?? "missing"), expected '\(format)'); "
                + "model-only weights load with `--weights`")
        }
        func int(_ key: String) throws -> Int {
            guard let v = meta[key].flatMap(Int.init) else {
                throw ConfigError("\(url.path): checkpoint metadata '\(key)' is missing or not an integer")
            }
            return v
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
            epoch: try int("epoch"), step: try int("step"), stepInEpoch: try int("step_in_epoch"),
            samplerState: meta["sampler"] ?? "", configYAML: meta["config"] ?? "")
    }
}
