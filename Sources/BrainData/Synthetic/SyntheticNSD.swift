import Foundation
import Torch

/// Which generative model a synthetic NSD follows (docs/synthetic-data.md, "Presets").
public enum SyntheticPreset: String, Codable, Sendable, CaseIterable {
    /// Subjects are small shifts and warps of one anatomical template on a common grid: the same cortical
    /// location has nearly the same raw voxel coordinates and similar tuning in every subject; the noise is
    /// spatially smooth plus white, with per-session offsets.
    case sharedAnatomy = "shared-anatomy"
    /// The first generator: each subject is an independently rotated, scaled and placed ellipsoid (raw
    /// coordinates unrelated across subjects) with white noise.
    case independent
}

/// Sizes, noise and seed of a synthetic NSD (see docs/synthetic-data.md). The defaults make a dataset that
/// generates in seconds and trains in minutes on two CPU cores; real NSD sizes are noted per field.
/// Codable with snake_case keys; keys left out keep their defaults.
public struct SyntheticNSDConfig: Codable, Sendable, Equatable {
    public var preset = SyntheticPreset.sharedAnatomy
    public var seed: UInt64 = 0
    /// Subjects `subj01 ...` (NSD: 8).
    public var subjects = 3
    /// Shared test images, seen by every subject `testRepeats` times (NSD: 1000 x 3). At least 300 so that
    /// 300-trial evaluation pools rarely repeat an image.
    public var testImages = 300
    public var testRepeats = 3
    /// Images seen only by one subject (NSD: about 9000 per subject, up to 3 times each).
    public var trainImagesPerSubject = 700
    public var trainRepeats = 1
    /// Trials per session (NSD: 750). The last session may be shorter.
    public var trialsPerSession = 200
    /// Mean nsdgeneral voxel count; subjects vary by about +-20 % (NSD: 12682 ... 17907).
    public var voxels = 1500
    /// Dimension of the hidden latent of an image.
    public var latentDim = 16
    /// Standard deviation of each voxel's noise; the signal's variance averages 1 over voxels, so the
    /// per-voxel SNR (signal variance / noise variance) is `1 / noise^2`.
    public var noise = 6.0
    /// Images are `(3, imageSize, imageSize)` in [0, 1] (NSD's release: 224).
    public var imageSize = 32
    /// Targets are `(tokens, tokenDim)` per image (NSD with ViT-bigG/14: 256 x 1664).
    public var tokens = 16
    public var tokenDim = 64
    /// Random Fourier features of the tuning field and their frequency (cycles per template radius).
    public var tuningFeatures = 64
    public var tuningFrequency = 0.6
    /// `shared-anatomy` only: the fraction of the noise variance that is spatially smooth (the rest is white).
    public var correlatedNoise = 0.5
    /// `shared-anatomy` only: standard deviation of the smooth per-session offsets, relative to `noise`.
    public var sessionOffset = 0.3
    /// `shared-anatomy` only: mean signal variance of a voxel; voxels' responsiveness varies smoothly over the
    /// template around it (`independent`: 1 everywhere).
    public var signalVariance = 0.5
    public init() {}

    enum CodingKeys: String, CodingKey {
        case preset, seed, subjects, noise, voxels, tokens
        case correlatedNoise = "correlated_noise", sessionOffset = "session_offset", signalVariance = "signal_variance"
        case testImages = "test_images", testRepeats = "test_repeats"
        case trainImagesPerSubject = "train_images_per_subject", trainRepeats = "train_repeats"
        case trialsPerSession = "trials_per_session", latentDim = "latent_dim", imageSize = "image_size"
        case tokenDim = "token_dim", tuningFeatures = "tuning_features", tuningFrequency = "tuning_frequency"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func value<T: Decodable>(_ key: CodingKeys, _ fallback: T) throws -> T {
            try c.decodeIfPresent(T.self, forKey: key) ?? fallback
        }
        if let name = try c.decodeIfPresent(String.self, forKey: .preset) {
            guard let known = SyntheticPreset(rawValue: name) else {
                throw DataError("synthetic NSD: preset must be one of "
                    + SyntheticPreset.allCases.map(\.rawValue).joined(separator: ", ") + ", got '\(name)'")
            }
            preset = known
        }
        seed = try value(.seed, seed)
        subjects = try value(.subjects, subjects)
        testImages = try value(.testImages, testImages)
        testRepeats = try value(.testRepeats, testRepeats)
        trainImagesPerSubject = try value(.trainImagesPerSubject, trainImagesPerSubject)
        trainRepeats = try value(.trainRepeats, trainRepeats)
        trialsPerSession = try value(.trialsPerSession, trialsPerSession)
        voxels = try value(.voxels, voxels)
        latentDim = try value(.latentDim, latentDim)
        noise = try value(.noise, noise)
        imageSize = try value(.imageSize, imageSize)
        tokens = try value(.tokens, tokens)
        tokenDim = try value(.tokenDim, tokenDim)
        tuningFeatures = try value(.tuningFeatures, tuningFeatures)
        tuningFrequency = try value(.tuningFrequency, tuningFrequency)
        correlatedNoise = try value(.correlatedNoise, correlatedNoise)
        sessionOffset = try value(.sessionOffset, sessionOffset)
        signalVariance = try value(.signalVariance, signalVariance)
    }

    /// All images: the shared test images, then every subject's own.
    public var imageCount: Int { testImages + subjects * trainImagesPerSubject }
    public var trialsPerSubject: Int { testImages * testRepeats + trainImagesPerSubject * trainRepeats }

    public func validate() throws {
        func need(_ ok: Bool, _ message: String) throws { if !ok { throw DataError("synthetic NSD: \(message)") } }
        try need((1...8).contains(subjects), "subjects must be 1...8 (NSD names subj01 ... subj08), got \(subjects)")
        try need(testImages >= 1 && testRepeats >= 1, "test_images and test_repeats must be at least 1")
        try need(trainImagesPerSubject >= 2 && trainRepeats >= 1,
                 "train_images_per_subject must be at least 2 and train_repeats at least 1")
        try need(trialsPerSession >= 1, "trials_per_session must be at least 1")
        try need(voxels >= 50, "voxels must be at least 50, got \(voxels)")
        try need(latentDim >= 1 && tokens >= 1 && tokenDim >= 1 && tuningFeatures >= 1,
                 "latent_dim, tokens, token_dim and tuning_features must be positive")
        try need(noise >= 0 && noise.isFinite, "noise must be a finite non-negative number, got \(noise)")
        try need(imageSize >= 4, "image_size must be at least 4, got \(imageSize)")
        try need(correlatedNoise >= 0 && correlatedNoise < 1,
                 "correlated_noise must be in [0, 1) (some noise must be white), got \(correlatedNoise)")
        try need(signalVariance > 0 && signalVariance.isFinite, "signal_variance must be a finite positive number, got \(signalVariance)")
        try need(sessionOffset >= 0 && sessionOffset.isFinite, "session_offset must be a finite non-negative number, got \(sessionOffset)")
    }
}

/// One synthetic subject: its anatomy (mask, voxel positions, template coordinates), tuning and trials.
public struct SyntheticSubject: @unchecked Sendable {
    /// 1-based, as in `subj01`.
    public let number: Int
    /// `(X, Y, Z)` int16: 1 = nsdgeneral ROI, 0 = brain outside it, -1 = outside the brain.
    public let mask: Tensor
    /// `(V, 3)` int64: the ROI voxels `(i, j, k)` in `np.argwhere(mask == 1)` order (= betas columns).
    public let voxelIndices: Tensor
    /// `(V, 3)` float32: where each voxel lands in the shared template (the unit ball).
    public let templateCoordinates: Tensor
    /// `(V, latentDim)` float32: each voxel's tuning vector (`w(u)`, mixed with the subject's own field
    /// under `shared-anatomy`).
    public let tuning: Tensor
    /// 0-based image id of every trial, chronological; the index is the global trial (betas row).
    public let trialImages: [Int]
    public let trialsPerSession: Int

    public var voxelCount: Int { voxelIndices.size(0) }
    public var sessions: Int { (trialImages.count + trialsPerSession - 1) / trialsPerSession }
}

/// A synthetic NSD world: latents of every image, the fixed maps from latents to targets and pictures,
/// the template tuning field and each subject's anatomy and trial sequence. Every draw comes from
/// libtorch's generator seeded from `config.seed` and a per-part stream number, so a seed fixes the data;
/// the caller's generator state is restored afterwards. Generations are serialised by `rngLock` (code
/// drawing from libtorch's generator on another thread at the same time would still perturb them).
public final class SyntheticNSD: @unchecked Sendable {
    public let config: SyntheticNSDConfig
    /// `(imageCount, latentDim)` float32, standard normal.
    public let latents: Tensor
    /// True for the shared test images (NSD's `shared1000`).
    public let shared: [Bool]
    public let subjects: [SyntheticSubject]

    // targets = tanh(W2 tanh(W1 z)): W1 (hidden, latentDim), W2 (tokens*tokenDim, hidden)
    let targetW1: Tensor, targetW2: Tensor
    // w(u) = c * cos(u Omega + phi) A: Omega (3, K), phi (K), A (K, latentDim)
    let omega: Tensor, phase: Tensor, amplitude: Tensor
    // smooth noise fields (shared-anatomy): sqrt(2/K) cos(u Omega + phi), for trial noise and session offsets
    let noiseOmega: Tensor, noisePhase: Tensor, offsetOmega: Tensor, offsetPhase: Tensor

    static let targetHidden = 64
    static let roiRadius = 1.0, brainRadius = 1.6, warpStrength = 0.15

    static let rngLock = NSRecursiveLock()

    public init(_ config: SyntheticNSDConfig = SyntheticNSDConfig()) throws {
        try config.validate()
        self.config = config
        Self.rngLock.lock()
        defer { Self.rngLock.unlock() }
        let saved = Torch.rngState()
        defer { Torch.setRNGState(saved) }
        let d = config.latentDim, n = config.imageCount

        Self.seed(config, stream: 1)
        latents = Tensor.randn([n, d])
        let order = Tensor.randperm(n).toArray(Int.self)
        var shared = [Bool](repeating: false, count: n)
        for id in order.prefix(config.testImages) { shared[id] = true }
        self.shared = shared

        Self.seed(config, stream: 2)
        targetW1 = Tensor.randn([Self.targetHidden, d]) * (1.5 / Double(d).squareRoot())
        targetW2 = Tensor.randn([config.tokens * config.tokenDim, Self.targetHidden]) * (2.0 / Double(Self.targetHidden).squareRoot())

        Self.seed(config, stream: 3)
        let k = config.tuningFeatures
        omega = Tensor.randn([3, k]) * (2 * Double.pi * config.tuningFrequency)
        phase = Tensor.rand([k]) * (2 * Double.pi)
        amplitude = Tensor.randn([k, d]) * (2.0 / Double(d * k)).squareRoot()

        Self.seed(config, stream: 5)
        let noiseWave = 2 * Double.pi * Self.noiseFrequency
        noiseOmega = Tensor.randn([3, Self.noiseFeatures]) * noiseWave
        noisePhase = Tensor.rand([Self.noiseFeatures]) * (2 * Double.pi)
        offsetOmega = Tensor.randn([3, Self.noiseFeatures]) * noiseWave
        offsetPhase = Tensor.rand([Self.noiseFeatures]) * (2 * Double.pi)

        Self.seed(config, stream: 4)
        let template = Self.makeTemplate(config)
        let testIds = order.prefix(config.testImages).sorted()
        var subjects: [SyntheticSubject] = []
        for s in 0..<config.subjects {
            Self.seed(config, stream: 100 + UInt64(s))
            let start = config.testImages + s * config.trainImagesPerSubject
            let own = order[start..<(start + config.trainImagesPerSubject)].sorted()
            let field = { [omega, phase, amplitude] (u: Tensor) in
                Self.tuning(u, omega: omega, phase: phase, amplitude: amplitude)
            }
            switch config.preset {
            case .independent:
                subjects.append(Self.makeSubject(number: s + 1, config: config, testIds: testIds, ownIds: own,
                                                 tuning: field))
            case .sharedAnatomy:
                subjects.append(Self.makeSharedSubject(number: s + 1, config: config, template: template,
                                                       testIds: testIds, ownIds: own, tuning: field))
            }
        }
        self.subjects = subjects
    }

    public var imageCount: Int { config.imageCount }

    /// Target tokens `(n, tokens, tokenDim)` float32 of latents `z` `(n, latentDim)`.
    public func targets(_ z: Tensor) -> Tensor {
        let hidden = z.matmul(targetW1.T).tanh()                // (n, hidden)
        return hidden.matmul(targetW2.T).tanh().reshape([z.size(0), config.tokens, config.tokenDim])
    }

    /// The tuning field `w(u)` `(V, latentDim)` at template points `u` `(V, 3)`.
    public func tuning(at u: Tensor) -> Tensor {
        Self.tuning(u, omega: omega, phase: phase, amplitude: amplitude)
    }

    static func tuning(_ u: Tensor, omega: Tensor, phase: Tensor, amplitude: Tensor) -> Tensor {
        (u.matmul(omega) + phase).cos().matmul(amplitude)      // (V, K) @ (K, d)
    }

    /// Pictures `(n, 3, S, S)` float32 in [0, 1] rendering latents `z`: three Gaussian blobs whose centres
    /// and colours, and the grey background, are the normal CDF of latent coordinates 0 ..< 16 (cycled
    /// when `latentDim < 16`).
    public func images(_ z: Tensor) -> Tensor {
        let n = z.size(0), s = config.imageSize, d = config.latentDim
        let columns = Tensor((0..<16).map { Int64($0 % d) })
        let p = (z.indexSelect(1, columns) / 2.0.squareRoot()).erf() * 0.5 + 0.5     // (n, 16) in (0, 1)
        let blobs = p.slice(1, start: 0, end: 15).reshape([n, 3, 5])                                   // (n, blob, 5)
        let axis = (Tensor.arange(s, dtype: .float32) + 0.5) / Double(s)               // (S)
        let cx = (blobs.select(2, 0) * 0.7 + 0.15).reshape([n, 3, 1, 1])
        let cy = (blobs.select(2, 1) * 0.7 + 0.15).reshape([n, 3, 1, 1])
        let dx = axis.reshape([1, 1, 1, s]) - cx, dy = axis.reshape([1, 1, s, 1]) - cy
        let bump = ((dx.square() + dy.square()) * (-1 / (2 * 0.12 * 0.12))).exp()       // (n, blob, S, S)
        let colour = blobs.slice(2, start: 2, end: 5)                                           // (n, blob, 3)
        let picture = colour.permute(0, 2, 1).reshape([n, 3, 3, 1]) * bump.reshape([n, 1, 3, s * s])
        let background = (p.select(1, 15) * 0.3 + 0.1).reshape([n, 1, 1, 1])
        return (picture.sum(2).reshape([n, 3, s, s]) + background).clamp(min: 0, max: 1)
    }

    /// Single-trial betas of `subject` `(trials, V)` float32, z-scored per voxel with the mean and standard
    /// deviation (correction 1) of its training trials, together with those statistics `(V)`.
    public func betas(_ subject: SyntheticSubject) -> (betas: Tensor, mean: Tensor, std: Tensor) {
        Self.rngLock.lock()
        defer { Self.rngLock.unlock() }
        let saved = Torch.rngState()
        defer { Torch.setRNGState(saved) }
        Self.seed(config, stream: 200 + UInt64(subject.number))
        let trials = Tensor(subject.trialImages.map(Int64.init))
        let signal = latents.indexSelect(0, trials).matmul(subject.tuning.T)            // (trials, V)
        let raw: Tensor
        switch config.preset {
        case .independent: raw = signal + Tensor.randn(signal.shape) * config.noise
        case .sharedAnatomy: raw = signal + noise(subject)
        }
        let train = Tensor(subject.trialImages.enumerated().filter { !shared[$0.element] }.map { Int64($0.offset) })
        let rows = raw.indexSelect(0, train)
        let mean = rows.mean(0), std = rows.std([0]).clamp(min: 1e-6)
        return ((raw - mean) / std, mean, std)
    }

    static func seed(_ config: SyntheticNSDConfig, stream: UInt64) {
        Torch.manualSeed(config.seed &* 1_000_003 &+ stream)
    }
}
