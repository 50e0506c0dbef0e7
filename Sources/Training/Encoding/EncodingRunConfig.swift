import BrainData
import Encoding
import Foundation
import Torch

/// Where the Algonauts data is, which subjects and feature sets, the training and validation episodes,
/// and MedARC's windows (`sample_length` TRs, `num_samples` windows an epoch).
public struct EncodingDataConfig: Codable, Equatable, Sendable {
    /// The release root (`fmri/sub-0X/func/…`), real or `voxelformer synth --algonauts`.
    public var root = "data/algonauts"
    /// MedARC's feature shards; absent: `root/features`.
    public var featuresRoot: String?
    public var subjects = AlgonautsLayout.subjects
    /// Feature sets as `model/layer`, in the order of the encoder's streams (MedARC's `include_features`).
    public var features = ["llama_3.2_3b/layers.11", "whisper/layers.12", "qwen-2-5-omni-3b/layers.20",
                           "internvl3_14b/layers.30", "vjepa2/norm"]
    /// `avg`: (T, L, D) layers are averaged (MedARC's `global_pool: avg`); `none` keeps L.
    public var pooling = AlgonautsFeaturePooling.avg
    public var parcels = AlgonautsLayout.parcels
    /// Training episodes (MedARC's default `episode_filter`: Friends 1–5, bourne and wolf, run 1).
    public var trainSeasons = [1, 2, 3, 4, 5]
    public var trainMovies = ["bourne", "wolf"]
    public var trainRuns = [1]
    /// Held-out episodes, evaluated whole (MedARC selects on `val_figures`).
    public var valSeasons: [Int] = []
    public var valMovies = ["figures"]
    public var valRuns = [1]
    public var sampleLength = 64
    /// Windows an epoch (MedARC's `num_samples`): `num_samples / batch_size` steps.
    public var numSamples = 2000

    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case root, featuresRoot = "features_root", subjects, features, pooling, parcels
        case trainSeasons = "train_seasons", trainMovies = "train_movies", trainRuns = "train_runs"
        case valSeasons = "val_seasons", valMovies = "val_movies", valRuns = "val_runs"
        case sampleLength = "sample_length", numSamples = "num_samples"
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), d = Self()
        root = try c.get(.root, d.root)
        featuresRoot = try c.decodeIfPresent(String.self, forKey: .featuresRoot)
        subjects = try c.get(.subjects, d.subjects)
        features = try c.get(.features, d.features)
        let poolName = try c.get(.pooling, d.pooling.rawValue)
        guard let pool = AlgonautsFeaturePooling(rawValue: poolName) else {
            throw ConfigError("data.pooling: expected avg or none, got '\(poolName)'")
        }
        pooling = pool
        parcels = try c.get(.parcels, d.parcels)
        trainSeasons = try c.get(.trainSeasons, d.trainSeasons)
        trainMovies = try c.get(.trainMovies, d.trainMovies)
        trainRuns = try c.get(.trainRuns, d.trainRuns)
        valSeasons = try c.get(.valSeasons, d.valSeasons)
        valMovies = try c.get(.valMovies, d.valMovies)
        valRuns = try c.get(.valRuns, d.valRuns)
        sampleLength = try c.get(.sampleLength, d.sampleLength)
        numSamples = try c.get(.numSamples, d.numSamples)
    }

    public var trainFilter: AlgonautsEpisodeFilter {
        AlgonautsEpisodeFilter(seasons: Set(trainSeasons), movies: Set(trainMovies), runs: Set(trainRuns))
    }
    public var valFilter: AlgonautsEpisodeFilter {
        AlgonautsEpisodeFilter(seasons: Set(valSeasons), movies: Set(valMovies), runs: Set(valRuns))
    }
    public var layout: AlgonautsLayout {
        AlgonautsLayout(root: URL(fileURLWithPath: root), featuresRoot: featuresRoot.map { URL(fileURLWithPath: $0) })
    }

    func validate() throws {
        if root.isEmpty { throw ConfigError("data.root: expected the Algonauts release's folder, got nothing") }
        if subjects.isEmpty || Set(subjects).count != subjects.count || subjects.contains(where: { $0 < 1 }) {
            throw ConfigError("data.subjects: expected distinct subject numbers from 1, got \(subjects)")
        }
        if features.isEmpty { throw ConfigError("data.features: expected at least one model/layer feature set") }
        for f in features where (try? AlgonautsFeatureSpec(f)) == nil {
            throw ConfigError("data.features: '\(f)': expected model/layer, e.g. whisper/layers.12")
        }
        if parcels < 1 { throw ConfigError("data.parcels: must be at least 1, got \(parcels)") }
        if trainSeasons.isEmpty && trainMovies.isEmpty {
            throw ConfigError("data.train_seasons, data.train_movies: both are empty; no episode would train")
        }
        if valSeasons.isEmpty && valMovies.isEmpty {
            throw ConfigError("data.val_seasons, data.val_movies: both are empty; no episode would be evaluated")
        }
        if !(1...100_000).contains(sampleLength) { throw ConfigError("data.sample_length: must be in 1...100000 TRs, got \(sampleLength)") }
        if !(1...100_000_000).contains(numSamples) { throw ConfigError("data.num_samples: must be in 1...100000000, got \(numSamples)") }
    }
}

/// MedARC's optimisation (`train_feature_encoder.py`): AdamW at a constant lr, no clipping, fp32, and early
/// stopping at the first epoch whose validation score does not improve.
public struct EncodingTrainConfig: Codable, Equatable, Sendable {
    public var epochs = 10
    public var batchSize = 16
    public var lr = 3e-4
    public var weightDecay = 0.1
    /// Maximum gradient norm; `off` (the default, MedARC's) disables clipping.
    public var gradClip = Double.infinity
    public var seed: UInt64 = 3315
    /// Intra-op threads; 0 keeps libtorch's default.
    public var threads = 0
    /// Epochs without a better validation score before stopping (MedARC: 1); 0 never stops early.
    public var patience = 1
    /// Write checkpoint.safetensors every this many epochs (the last is always written).
    public var checkpointEvery = 1
    /// Stop after this many optimiser steps in total (0: no limit).
    public var maxSteps = 0
    /// Start from another run's weights (the trained modules, strictly).
    public var initFrom: String?

    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case epochs, batchSize = "batch_size", lr, weightDecay = "weight_decay", gradClip = "grad_clip", seed, threads
        case patience, checkpointEvery = "checkpoint_every", maxSteps = "max_steps", initFrom = "init_from"
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), d = Self()
        epochs = try c.get(.epochs, d.epochs)
        batchSize = try c.get(.batchSize, d.batchSize)
        lr = try c.get(.lr, d.lr)
        weightDecay = try c.get(.weightDecay, d.weightDecay)
        gradClip = try c.gradClip(.gradClip, d.gradClip)
        seed = try c.get(.seed, d.seed)
        threads = try c.get(.threads, d.threads)
        patience = try c.get(.patience, d.patience)
        checkpointEvery = try c.get(.checkpointEvery, d.checkpointEvery)
        maxSteps = try c.get(.maxSteps, d.maxSteps)
        initFrom = try c.decodeIfPresent(String.self, forKey: .initFrom)
    }

    func validate() throws {
        if !(1...TrainConfig.maxEpochs).contains(epochs) { throw ConfigError("train.epochs: must be in 1...\(TrainConfig.maxEpochs), got \(epochs)") }
        if batchSize < 1 { throw ConfigError("train.batch_size: must be at least 1, got \(batchSize)") }
        if !(lr > 0) || !lr.isFinite { throw ConfigError("train.lr: must be a positive finite number, got \(lr)") }
        if !(weightDecay >= 0) || !weightDecay.isFinite { throw ConfigError("train.weight_decay: must be a finite number >= 0, got \(weightDecay)") }
        if !(gradClip > 0) { throw ConfigError("train.grad_clip: must be positive, or off to disable clipping, got \(gradClip)") }
        if !(0...TrainConfig.maxThreads).contains(threads) {
            throw ConfigError("train.threads: must be between 0 (libtorch's default) and \(TrainConfig.maxThreads), got \(threads)")
        }
        if patience < 0 { throw ConfigError("train.patience: must be 0 (never stop early) or more, got \(patience)") }
        if checkpointEvery < 1 { throw ConfigError("train.checkpoint_every: must be at least 1, got \(checkpointEvery)") }
        if maxSteps < 0 { throw ConfigError("train.max_steps: must be 0 (no limit) or more, got \(maxSteps)") }
    }
}

/// Validation during training: whole held-out episodes every `every_epochs`; stage 2 samples with
/// `flow.n_timesteps` Euler steps from noise seeded by `seed` (the training RNG is left as it was).
public struct EncodingEvalConfig: Codable, Equatable, Sendable {
    public var everyEpochs = 1
    public var seed: UInt64 = 0
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable { case everyEpochs = "every_epochs", seed }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), d = Self()
        everyEpochs = try c.get(.everyEpochs, d.everyEpochs)
        seed = try c.get(.seed, d.seed)
    }
}

/// Stage 2's `flow` section: `FlowMatchingConfig` without the parcels (the data's) and the U-Net (the
/// `decoder` section).
public struct EncodingFlowConfig: Codable, Equatable, Sendable {
    public var latentDim = 128
    public var sigmaMin = 1e-4
    public var nTimesteps = 25
    public var temperature = 1.0
    public var auxLoss = AuxiliaryLoss.autoencoder
    public var auxLossWeight = 0.1
    public var latent = LatentProjection.learned
    public init() {}
    enum CodingKeys: String, CodingKey, CaseIterable {
        case latentDim = "latent_dim", sigmaMin = "sigma_min", nTimesteps = "n_timesteps", temperature
        case auxLoss = "aux_loss", auxLossWeight = "aux_loss_weight", latent
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), d = Self()
        latentDim = try c.get(.latentDim, d.latentDim)
        sigmaMin = try c.get(.sigmaMin, d.sigmaMin)
        nTimesteps = try c.get(.nTimesteps, d.nTimesteps)
        temperature = try c.get(.temperature, d.temperature)
        auxLoss = try c.get(.auxLoss, d.auxLoss)
        auxLossWeight = try c.get(.auxLossWeight, d.auxLossWeight)
        latent = try c.get(.latent, d.latent)
    }
}
