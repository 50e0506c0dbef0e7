import BrainData
import Foundation
import Torch
import VoxelFormer

/// Where the data is and which subjects train and test.
public struct DataConfig: Codable, Equatable, Sendable {
    /// The data root in MindEye2's layout (real NSD or `voxelformer synth` output).
    public var root = "data/synthetic"
    public var trainSubjects: [Int] = [1, 2, 3]
    public var testSubjects: [Int] = [1, 2, 3]
    /// How betas are kept in memory: float32, float16 or bfloat16.
    public var betasDtype = BetasDType.float32
    /// Positional input of the SIREN code: `raw` voxel indices (the reference), `normalized` to [-1, 1] by
    /// the volume's shape, or `mm` through the NIfTI affine (docs/ablations.md).
    public var coordinates = VoxelCoordinates.raw
    /// NaN/inf betas: `error` stops naming the rows, `zero` replaces them by 0 and reports how many.
    public var nanPolicy = NaNPolicy.error
    /// Batches prepared ahead of the training loop.
    public var prefetch = 4
    /// Train on each subject's first this many sessions (0: all). MindEye2's 1-hour fine-tuning is 1; the test
    /// set stays whole.
    public var sessions = 0
    /// Train on this fraction of each subject's training trials (after `sessions`), drawn with
    /// `fraction_seed`: UMBRAE's weakly supervised adaptation (`data_ratio`). The test set stays whole.
    public var fraction = 1.0
    public var fractionSeed: UInt64 = 0

    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case root, trainSubjects = "train_subjects", testSubjects = "test_subjects", betasDtype = "betas_dtype"
        case coordinates, nanPolicy = "nan_policy", prefetch, sessions, fraction, fractionSeed = "fraction_seed"
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), d = DataConfig()
        root = try c.get(.root, d.root)
        trainSubjects = try c.get(.trainSubjects, d.trainSubjects)
        testSubjects = try c.get(.testSubjects, d.testSubjects)
        betasDtype = try c.get(.betasDtype, d.betasDtype)
        coordinates = try c.get(.coordinates, d.coordinates)
        nanPolicy = try c.get(.nanPolicy, d.nanPolicy)
        prefetch = try c.get(.prefetch, d.prefetch)
        sessions = try c.get(.sessions, d.sessions)
        fraction = try c.get(.fraction, d.fraction)
        fractionSeed = try c.get(.fractionSeed, d.fractionSeed)
    }
    public func validate() throws {
        if trainSubjects.isEmpty { throw ConfigError("data.train_subjects: needs at least one subject") }
        for (key, subjects) in [("train_subjects", trainSubjects), ("test_subjects", testSubjects)] {
            if let s = subjects.first(where: { $0 < 1 }) {
                throw ConfigError("data.\(key): subject numbers start at 1, got \(s)")
            }
            let repeated = Dictionary(grouping: subjects, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted()
            if !repeated.isEmpty {
                throw ConfigError("data.\(key): subject \(repeated.map(String.init).joined(separator: ", ")) listed more than once in \(subjects)")
            }
        }
        if sessions < 0 { throw ConfigError("data.sessions: must be 0 (every session) or more, got \(sessions)") }
        if !(fraction > 0 && fraction <= 1) { throw ConfigError("data.fraction: must be in (0, 1], got \(fraction)") }
        if !(0...Self.maxPrefetch).contains(prefetch) {
            throw ConfigError("data.prefetch: must be between 0 and \(Self.maxPrefetch) batches, got \(prefetch)")
        }
    }
    static let maxPrefetch = 64
}

/// The optimisation schedule (the spec's "Losses and schedule").
public struct TrainConfig: Codable, Equatable, Sendable {
    public var epochs = 150
    public var batchSize = 32
    public var maxLR = 5e-5
    /// The SIREN code's (`pos_embed.linear`) learning rate as a multiple of max_lr; 0 freezes it.
    public var sirenLRScale = 1.0
    public var weightDecay = 1e-2
    /// Maximum gradient norm; `off` (or null) disables clipping and is stored as `.inf`.
    public var gradClip = 1.0
    /// Fraction of epochs trained with BiMixCo before SoftCLIP.
    public var mixupPct = 0.33
    /// BiMixCo's second term: `reference` (row softmax) or `symmetric` (MindEye's column softmax).
    public var bimixcoForm = BiMixCoForm.reference
    /// BiMixCo's temperature.
    public var mixcoTemperature = 0.1
    /// SoftCLIP's temperature, annealed by cosine from start to end over the SoftCLIP epochs.
    public var softclipStartTemperature = 0.004
    public var softclipEndTemperature = 0.0075
    public var clipLossScale = 1.0
    /// Train the diffusion prior jointly (its loss flows back into the brain model).
    public var usePrior = false
    /// Weight of the prior's MSE in the total loss.
    public var priorLossScale = 30.0
    /// Clip the prior's gradients together with the brain model's (the reference clips the brain model only).
    public var clipPriorGrads = false
    public var seed: UInt64 = 42
    /// fp32 (default), bf16 or fp16 autocast.
    public var precision = Precision.fp32
    /// Where autocast runs: cpu, or cuda (refused until modules move to the GPU).
    public var device = ComputeDevice.cpu
    /// Write a checkpoint every this many epochs (the final one is always written).
    public var checkpointEvery = 1
    /// Also write the checkpoint every this many optimiser steps (0: only at epoch ends); keeps
    /// `checkpoint.safetensors` (the last) and `best.safetensors` (the best evaluated).
    public var checkpointEverySteps = 0
    /// Intra-op threads; 0 keeps libtorch's default.
    public var threads = 0
    /// Stop after this many optimiser steps in total (0: no limit); for quick runs.
    public var maxSteps = 0
    /// Record `profile_steps` steps with libtorch's profiler after one warm-up step, writing `profile.json`
    /// (a Chrome trace) and `profile.md` (the top operators) into the run folder (docs/profiling.md).
    public var profile = false
    public var profileSteps = 3
    /// Recompute the brain model's encoder layers and Q-Former blocks (and the prior's layers) in the backward
    /// pass instead of keeping their activations: the same gradients, less peak memory, more time per step.
    /// Freed host memory then goes back to the system as glibc does by default (`HostMemory`).
    public var activationCheckpointing = false
    /// Start from another run's weights (a training checkpoint or a safetensors state dict; `train
    /// --init-from`): the family decides what carries over (MindEye2: everything but the new subject's ridge
    /// weight). Absent: the seed's initialisation.
    public var initFrom: String?

    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case epochs, batchSize = "batch_size", maxLR = "max_lr", sirenLRScale = "siren_lr_scale"
        case weightDecay = "weight_decay"
        case gradClip = "grad_clip", mixupPct = "mixup_pct", bimixcoForm = "bimixco_form"
        case mixcoTemperature = "mixco_temperature", softclipStartTemperature = "softclip_start_temperature"
        case softclipEndTemperature = "softclip_end_temperature"
        case clipLossScale = "clip_loss_scale", usePrior = "use_prior", priorLossScale = "prior_loss_scale"
        case clipPriorGrads = "clip_prior_grads"
        case seed, precision, device, checkpointEvery = "checkpoint_every", threads, maxSteps = "max_steps"
        case checkpointEverySteps = "checkpoint_every_steps"
        case profile, profileSteps = "profile_steps", initFrom = "init_from"
        case activationCheckpointing = "activation_checkpointing"
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), d = TrainConfig()
        epochs = try c.get(.epochs, d.epochs)
        batchSize = try c.get(.batchSize, d.batchSize)
        maxLR = try c.get(.maxLR, d.maxLR)
        sirenLRScale = try c.get(.sirenLRScale, d.sirenLRScale)
        weightDecay = try c.get(.weightDecay, d.weightDecay)
        gradClip = try c.gradClip(.gradClip, d.gradClip)
        mixupPct = try c.get(.mixupPct, d.mixupPct)
        bimixcoForm = try c.get(.bimixcoForm, d.bimixcoForm)
        mixcoTemperature = try c.get(.mixcoTemperature, d.mixcoTemperature)
        softclipStartTemperature = try c.get(.softclipStartTemperature, d.softclipStartTemperature)
        softclipEndTemperature = try c.get(.softclipEndTemperature, d.softclipEndTemperature)
        clipLossScale = try c.get(.clipLossScale, d.clipLossScale)
        usePrior = try c.get(.usePrior, d.usePrior)
        priorLossScale = try c.get(.priorLossScale, d.priorLossScale)
        clipPriorGrads = try c.get(.clipPriorGrads, d.clipPriorGrads)
        seed = try c.get(.seed, d.seed)
        precision = try c.get(.precision, d.precision)
        device = try c.get(.device, d.device)
        checkpointEvery = try c.get(.checkpointEvery, d.checkpointEvery)
        threads = try c.get(.threads, d.threads)
        maxSteps = try c.get(.maxSteps, d.maxSteps)
        checkpointEverySteps = try c.get(.checkpointEverySteps, d.checkpointEverySteps)
        profile = try c.get(.profile, d.profile)
        profileSteps = try c.get(.profileSteps, d.profileSteps)
        activationCheckpointing = try c.get(.activationCheckpointing, d.activationCheckpointing)
        initFrom = try c.decodeIfPresent(String.self, forKey: .initFrom)
    }
    /// Epochs beyond this are a typo (the paper trains 150); the bound also keeps epochs x steps far from overflow.
    static let maxEpochs = 100_000
    /// More intra-op threads than this only oversubscribes the machine (and 100,000 hangs libtorch's pool).
    static let maxThreads = 1024
    /// A profile keeps every operator call in memory; a few steps show where the time goes.
    static let maxProfileSteps = 100
    public func validate() throws {
        if epochs < 3 || epochs > Self.maxEpochs {
            throw ConfigError("train.epochs: must be between 3 (OneCycle warms up over 2 epochs: pct_start = 2/epochs) and \(Self.maxEpochs), got \(epochs)")
        }
        if batchSize < 2 { throw ConfigError("train.batch_size: contrastive losses need at least 2, got \(batchSize)") }
        if !(maxLR > 0) || !maxLR.isFinite { throw ConfigError("train.max_lr: must be a positive finite number, got \(maxLR)") }
        if !(weightDecay >= 0) || !weightDecay.isFinite {
            throw ConfigError("train.weight_decay: must be a finite number >= 0, got \(weightDecay)")
        }
        if !(gradClip > 0) { throw ConfigError("train.grad_clip: must be positive, or off to disable clipping, got \(gradClip)") }
        for (key, v) in [("clip_loss_scale", clipLossScale), ("prior_loss_scale", priorLossScale)] where !(v >= 0) || !v.isFinite {
            throw ConfigError("train.\(key): must be a finite number >= 0, got \(v)")
        }
        if !(0...Self.maxThreads).contains(threads) {
            throw ConfigError("train.threads: must be between 0 (libtorch's default) and \(Self.maxThreads), got \(threads)")
        }
        if maxSteps < 0 { throw ConfigError("train.max_steps: must be 0 (no limit) or more, got \(maxSteps)") }
        if checkpointEverySteps < 0 {
            throw ConfigError("train.checkpoint_every_steps: must be 0 (epoch ends only) or more, got \(checkpointEverySteps)")
        }
        if !(sirenLRScale >= 0) || !sirenLRScale.isFinite {
            throw ConfigError("train.siren_lr_scale: must be 0 (frozen) or more, got \(sirenLRScale)")
        }
        for (key, t) in [("mixco_temperature", mixcoTemperature), ("softclip_start_temperature", softclipStartTemperature),
                         ("softclip_end_temperature", softclipEndTemperature)] where !(t > 0) || !t.isFinite {
            throw ConfigError("train.\(key): must be a positive finite number, got \(t)")
        }
        if !(0...1).contains(mixupPct) { throw ConfigError("train.mixup_pct: must be in [0, 1], got \(mixupPct)") }
        if checkpointEvery < 1 { throw ConfigError("train.checkpoint_every: must be at least 1, got \(checkpointEvery)") }
        if !(1...Self.maxProfileSteps).contains(profileSteps) {
            throw ConfigError("train.profile_steps: must be between 1 and \(Self.maxProfileSteps), got \(profileSteps)")
        }
    }
}

/// Retrieval evaluation settings (the spec's "Retrieval evaluation").
public struct EvalConfig: Codable, Equatable, Sendable {
    public var pools = 30
    public var poolSize = 300
    public var protocolName = RetrievalProtocol.singleTrial
    public var ties = TieRule.fractional
    public var seed: UInt64 = 0
    public var batchSize = 16
    /// Evaluate during training every this many epochs (the last epoch is always evaluated).
    public var everyEpochs = 1

    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case pools, poolSize = "pool_size", protocolName = "protocol", ties, seed, batchSize = "batch_size"
        case everyEpochs = "every_epochs"
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), d = EvalConfig()
        pools = try c.get(.pools, d.pools)
        poolSize = try c.get(.poolSize, d.poolSize)
        protocolName = try c.get(.protocolName, d.protocolName)
        ties = try c.get(.ties, d.ties)
        seed = try c.get(.seed, d.seed)
        batchSize = try c.get(.batchSize, d.batchSize)
        everyEpochs = try c.get(.everyEpochs, d.everyEpochs)
    }
    public func validate() throws {
        if pools < 1 { throw ConfigError("eval.pools: must be at least 1, got \(pools)") }
        if poolSize < 2 { throw ConfigError("eval.pool_size: must be at least 2, got \(poolSize)") }
        if everyEpochs < 1 { throw ConfigError("eval.every_epochs: must be at least 1, got \(everyEpochs)") }
        if batchSize < 1 { throw ConfigError("eval.batch_size: must be at least 1, got \(batchSize)") }
    }
}

extension KeyedDecodingContainer {
    /// A gradient-clipping norm: a number, or `off`/`false`/`null` (stored as `.inf`: no clipping).
    func gradClip(_ key: Key, _ fallback: Double) throws -> Double {
        guard contains(key) else { return fallback }
        if (try? decodeNil(forKey: key)) == true { return .infinity }
        if let v = try? decode(Double.self, forKey: key) { return v }
        if let b = try? decode(Bool.self, forKey: key), !b { return .infinity }
        let text = (try? decode(String.self, forKey: key)) ?? "?"
        if ["off", "none"].contains(text.lowercased()) { return .infinity }
        throw ConfigError("train.grad_clip: expected a positive number or off, found '\(text)'")
    }

}
