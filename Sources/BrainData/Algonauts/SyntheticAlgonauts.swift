import Foundation
import Torch

/// A synthetic Algonauts 2025 release: stimulus features of a few "models" (smooth AR(1) series), fMRI made
/// from them by a shared linear map, an HRF-shaped lag, a per-subject tanh response and Gaussian noise, so
/// the best possible score (the noise ceiling) is known. The generative model is in docs/encoding-data.md.
public struct SyntheticAlgonautsConfig: Codable, Sendable, Equatable {
    /// One feature "model": its folder, its layer dataset, the feature width D and the layers L (L > 1
    /// writes (T, L, D) shards, the response seeing their mean over L).
    public struct Model: Codable, Sendable, Equatable {
        public var name: String
        public var layer: String
        public var dim: Int
        public var layers: Int
        public init(name: String, layer: String, dim: Int, layers: Int = 1) {
            (self.name, self.layer, self.dim, self.layers) = (name, layer, dim, layers)
        }
    }
    /// A movie10 film: its parts and how many times it was shown (2 writes `_run-1`/`_run-2` keys).
    public struct Movie: Codable, Sendable, Equatable {
        public var name: String
        public var parts: Int
        public var runs: Int
        public init(name: String, parts: Int, runs: Int = 1) { (self.name, self.parts, self.runs) = (name, parts, runs) }
    }
    /// A run one subject lacks (`task`, `run`).
    public struct MissingRun: Codable, Sendable, Equatable {
        public var subject: Int
        public var task: String
        public var run: Int
        public init(subject: Int, task: String, run: Int = 1) { (self.subject, self.task, self.run) = (subject, task, run) }
    }

    public var seed: UInt64 = 0
    public var subjects: [Int] = AlgonautsLayout.subjects
    public var parcels = 1000
    /// Friends seasons 1...seasons, each with `episodesPerSeason` episodes of `parts` parts (a, b, …).
    public var seasons = 6
    public var episodesPerSeason = 2
    public var parts = 2
    /// MedARC's training films (bourne, wolf) and its validation films shown twice (figures, life).
    public var movies = [Movie(name: "bourne", parts: 2), Movie(name: "wolf", parts: 2),
                         Movie(name: "figures", parts: 1, runs: 2), Movie(name: "life", parts: 1, runs: 2)]
    /// TRs of each film part's stimulus, drawn uniformly.
    public var minLength = 80
    public var maxLength = 120
    public var models = [Model(name: "synth_vision", layer: "layers.4", dim: 32),
                         Model(name: "synth_audio", layer: "layers.2", dim: 16, layers: 3),
                         Model(name: "synth_text", layer: "layers.7", dim: 24)]
    /// AR(1) coefficient of the features (their TR-to-TR correlation).
    public var smoothness = 0.9
    /// HRF taps, in TRs (the kernel is a double gamma sampled every 1.49 s).
    public var hrfLength = 12
    /// Standard deviation of the additive noise. The noiseless response's is about 0.7, so the default
    /// release's ceiling is 0.588 at seed 0 (0.761 at noise 0.6).
    public var noiseStd = 1.0
    /// Runs that subjects lack (named after the release's: sub-02 lacks s05e20a, sub-05 lacks s04e01a/b).
    public var missing = [MissingRun(subject: 2, task: "s05e02a"), MissingRun(subject: 5, task: "s04e01a"),
                          MissingRun(subject: 5, task: "s04e01b")]
    /// Each subject's runs end 0 or 1 TR before the stimulus, and each shard has 1 TR fewer to 1 more
    /// than it, so a shard and a run differ by up to 2 TRs, as in the release ("off by 1 or 2").
    public var jitterLengths = true

    public init() {}

    /// A small release for tests and the debug preset: 2 subjects, 16 parcels, short episodes.
    public static func tiny(seed: UInt64 = 0) -> Self {
        var c = Self()
        (c.seed, c.subjects, c.parcels, c.seasons, c.episodesPerSeason) = (seed, [1, 2], 16, 2, 2)
        (c.minLength, c.maxLength, c.hrfLength) = (30, 40, 8)
        c.movies = [Movie(name: "bourne", parts: 1), Movie(name: "figures", parts: 1, runs: 2)]
        c.models = [Model(name: "synth_vision", layer: "layers.4", dim: 6), Model(name: "synth_audio", layer: "layers.2", dim: 4, layers: 2)]
        c.missing = [MissingRun(subject: 2, task: "s01e02a")]
        return c
    }

    /// Every film part's task, Friends then movie10 (`s01e01a`, …, `bourne01`, …).
    public var tasks: [String] {
        var tasks: [String] = []
        let letters = Array("abcdefghijklmnopqrstuvwxyz")
        for s in 1...max(seasons, 1) where seasons > 0 {
            for e in 1...max(episodesPerSeason, 1) where episodesPerSeason > 0 {
                for p in 0..<parts { tasks.append(String(format: "s%02de%02d", s, e) + String(letters[p])) }
            }
        }
        for m in movies where m.parts > 0 { for p in 1...m.parts { tasks.append(m.name + String(format: "%02d", p)) } }
        return tasks
    }

    /// The runs of `task`: 1, or 1 and 2 for a film shown twice.
    public func runs(of task: String) -> [Int] {
        guard let movie = AlgonautsEpisode.movieParts(task), AlgonautsEpisode.friendsParts(task) == nil,
              let m = movies.first(where: { $0.name == movie.movie }) else { return [1] }
        return Array(1...max(m.runs, 1))
    }

    func validate() throws {
        guard !subjects.isEmpty, parcels > 0, !models.isEmpty, minLength > 2, maxLength >= minLength, hrfLength > 0,
              parts >= 0, parts <= 26, models.allSatisfy({ $0.dim > 0 && $0.layers > 0 }), smoothness >= 0, smoothness < 1,
              noiseStd >= 0
        else { throw DataError("synthetic Algonauts config: expected subjects, parcels > 0, models with dim and layers > 0, "
            + "2 < minLength <= maxLength, hrfLength > 0, parts <= 26, 0 <= smoothness < 1 and noiseStd >= 0") }
    }
}

/// The generated release in memory: what `SyntheticAlgonautsWriter` writes, plus the noiseless responses.
public struct SyntheticAlgonauts: @unchecked Sendable {
    public let config: SyntheticAlgonautsConfig
    /// The HRF taps (unit sum of squares).
    public let hrf: [Double]
    /// Per model, per task: the shard's features (T_file, D) or (T_file, L, D), float32.
    public let features: [String: [String: Tensor]]
    /// Per subject, per episode: the noiseless response (N_TR, parcels) and the recorded (noisy) one, float32.
    public let noiseless: [Int: [AlgonautsEpisode: Tensor]]
    public let responses: [Int: [AlgonautsEpisode: Tensor]]

    /// Draws everything from `config.seed` (SplitMix64 and Box–Muller, not libtorch's generator; the
    /// linear map runs in float64 through libtorch).
    public init(_ config: SyntheticAlgonautsConfig) throws {
        try config.validate()
        self.config = config
        var rng = SeededGenerator(seed: config.seed)
        func gaussians(_ n: Int) -> [Double] { (0..<n).map { _ in rng.gaussian() } }
        hrf = Self.doubleGammaHRF(taps: config.hrfLength)
        let totalDim = config.models.reduce(0) { $0 + $1.dim }
        // (D_m, V): the drive's variance is about 1 for unit-variance features.
        let weights = config.models.map { m in
            Tensor(gaussians(m.dim * config.parcels), shape: [m.dim, config.parcels]) / Double(totalDim).squareRoot()
        }
        // (V) per subject: how strongly each parcel follows the drive.
        let gains = Dictionary(uniqueKeysWithValues: config.subjects.map { s in
            (s, Tensor((0..<config.parcels).map { _ in 0.5 + rng.uniform() }, shape: [config.parcels]))
        })
        let missing = Set(config.missing.map { "\($0.subject)/\($0.task)/\($0.run)" })
        var features: [String: [String: Tensor]] = [:]
        var noiseless: [Int: [AlgonautsEpisode: Tensor]] = [:]
        var responses: [Int: [AlgonautsEpisode: Tensor]] = [:]
        let rho = config.smoothness
        for task in config.tasks {
            let length = config.minLength + rng.below(config.maxLength - config.minLength + 1)
            var drive = Tensor.zeros([length, config.parcels], dtype: .float64)
            for (m, model) in config.models.enumerated() {
                // AR(1), stationary with unit variance, a row longer than the stimulus so a shard can hold more.
                let rows = length + 1, width = model.layers * model.dim
                var x = gaussians(width)
                var series = x
                for _ in 1..<rows {
                    x = x.map { rho * $0 + (1 - rho * rho).squareRoot() * rng.gaussian() }
                    series += x
                }
                let full = Tensor(series, shape: [rows, model.layers, model.dim])
                drive = drive + full.slice(0, start: 0, end: length).mean(1).matmul(weights[m])
                let kept = length + (config.jitterLengths ? rng.below(3) - 1 : 0)
                let shard = full.slice(0, start: 0, end: kept)
                features[model.name, default: [:]][task] = (model.layers == 1 ? shard.reshape([kept, model.dim]) : shard)
                    .to(.float32).contiguous()
            }
            // The HRF lag: y*_t = Σ_k h_k drive_{t-k}, zero before the film starts.
            var lagged = Tensor.zeros([length, config.parcels], dtype: .float64)
            for (k, h) in hrf.enumerated() where k < length {
                let shifted = Tensor.cat([Tensor.zeros([k, config.parcels], dtype: .float64),
                                          drive.slice(0, start: 0, end: length - k)], dim: 0)
                lagged = lagged + shifted * h
            }
            for s in config.subjects {
                let signal = (lagged.tanh() * gains[s]!)
                let cut = length - (config.jitterLengths ? rng.below(2) : 0)
                for run in config.runs(of: task) where !missing.contains("\(s)/\(task)/\(run)") {
                    let episode = AlgonautsEpisode(task: task, run: run)
                    let clean = signal.slice(0, start: 0, end: cut).contiguous()
                    let noise = Tensor(gaussians(cut * config.parcels), shape: [cut, config.parcels]) * config.noiseStd
                    noiseless[s, default: [:]][episode] = clean.to(.float32)
                    responses[s, default: [:]][episode] = (clean + noise).to(.float32)
                }
            }
        }
        (self.features, self.noiseless, self.responses) = (features, noiseless, responses)
    }

    /// SPM's canonical double gamma (peak 6 s, undershoot 16 s, ratio 1/6) at 0, TR, 2 TR, …, scaled to unit
    /// sum of squares so the lag keeps the drive's scale.
    public static func doubleGammaHRF(taps: Int, tr: Double = AlgonautsLayout.repetitionTime) -> [Double] {
        func gammaPDF(_ t: Double, _ shape: Double) -> Double {
            t <= 0 ? 0 : Foundation.exp((shape - 1) * Foundation.log(t) - t - lgamma(shape))
        }
        let h = (0..<taps).map { k in gammaPDF(Double(k) * tr, 6) - gammaPDF(Double(k) * tr, 16) / 6 }
        let norm = h.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return h.map { $0 / norm }
    }

    /// The noise ceiling over the episodes `filter` accepts (all when nil): the encoding score of the
    /// noiseless responses as predictions of the recorded ones, each subject's own runs concatenated.
    public func ceiling(filter: AlgonautsEpisodeFilter? = nil) throws -> EncodingScore {
        var truth: [[Tensor]] = [], predictions: [[Tensor]] = []
        for s in config.subjects {
            let episodes = (responses[s] ?? [:]).keys.sorted().filter { filter?.accepts($0) ?? true }
            truth.append(episodes.map { responses[s]![$0]! })
            predictions.append(episodes.map { noiseless[s]![$0]! })
        }
        return try EncodingScore(truth: truth, predictions: predictions)
    }
}

extension SeededGenerator {
    /// A uniform double in [0, 1) from the top 53 bits.
    mutating func uniform() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// A standard normal draw (Box–Muller, the cosine branch only, so one draw costs two words).
    mutating func gaussian() -> Double {
        let u1 = 1 - uniform(), u2 = uniform()
        return (-2 * Foundation.log(u1)).squareRoot() * Foundation.cos(2 * Double.pi * u2)
    }
}
