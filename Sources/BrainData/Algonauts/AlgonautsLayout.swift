import Foundation

/// The two fMRI series of the Algonauts 2025 release (one HDF5 file per subject per series).
public enum AlgonautsSeries: String, CaseIterable, Sendable, Codable {
    case friends, movie10
}

/// One fMRI run's identity: the `task` entity of its key (`s01e01a`, `bourne01`, `figures01`) and the repeat
/// `run` (1 when the key has no `run` entity, as in MedARC). Features belong to the task; both runs of a
/// repeated film share them.
public struct AlgonautsEpisode: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public let task: String
    public let run: Int

    public init(task: String, run: Int = 1) { (self.task, self.run) = (task, run) }

    /// `s01e01a` (Friends) or `(figures01, 2)` printed as `figures01_run-2`; run 1 prints bare.
    public var description: String { run == 1 ? task : "\(task)_run-\(run)" }

    /// MedARC sorts its episode keys: Friends by name, movie10 by (task, run).
    public static func < (a: Self, b: Self) -> Bool { (a.task, a.run) < (b.task, b.run) }

    /// Friends when the task parses as `s<SS>e<EE><part>`, else movie10.
    public var series: AlgonautsSeries { Self.friendsParts(task) == nil ? .movie10 : .friends }

    /// `s01e01a` → (season 1, episode 1, part "a"); nil when `task` does not start so (a prefix match,
    /// as MedARC's `re.match(r"s([0-9]+)e([0-9]+)([a-z])")`).
    public static func friendsParts(_ task: String) -> (season: Int, episode: Int, part: Character)? {
        var rest = Substring(task)
        guard rest.first == "s" else { return nil }
        rest = rest.dropFirst()
        let season = rest.prefix { $0.isASCII && $0.isNumber }
        rest = rest.dropFirst(season.count)
        guard !season.isEmpty, rest.first == "e" else { return nil }
        rest = rest.dropFirst()
        let episode = rest.prefix { $0.isASCII && $0.isNumber }
        rest = rest.dropFirst(episode.count)
        guard !episode.isEmpty, let part = rest.first, part.isASCII, part.isLowercase,
              let s = Int(season), let e = Int(episode) else { return nil }
        return (s, e, part)
    }

    /// `bourne01` → ("bourne", 1); nil unless `task` starts with lowercase letters then digits
    /// (MedARC's `re.match(r"([a-z]+)([0-9]+)")`).
    public static func movieParts(_ task: String) -> (movie: String, part: Int)? {
        let movie = task.prefix { $0.isASCII && $0.isLowercase }
        let digits = task.dropFirst(movie.count).prefix { $0.isASCII && $0.isNumber }
        guard !movie.isEmpty, !digits.isEmpty, let part = Int(digits) else { return nil }
        return (String(movie), part)
    }

    /// Parses an fMRI dataset key (`ses-003_task-s01e01a`, `ses-012_task-figures01_run-2`) as MedARC does:
    /// `_`-separated `name-value` entities; `task` names the episode, `run` (default 1) the repeat.
    /// A malformed key throws naming `file` and the key.
    public static func parse(key: String, in file: URL) throws -> AlgonautsEpisode {
        var entities: [String: String] = [:]
        for entity in key.split(separator: "_", omittingEmptySubsequences: false) {
            guard let dash = entity.firstIndex(of: "-") else {
                throw DataError("\(file.path): key '\(key)': entity '\(entity)' has no '-' "
                    + "(expected keys like ses-003_task-s01e01a or ses-012_task-figures01_run-2)")
            }
            entities[String(entity[..<dash])] = String(entity[entity.index(after: dash)...])
        }
        guard let task = entities["task"], !task.isEmpty else {
            throw DataError("\(file.path): key '\(key)' has no task entity (expected keys like ses-003_task-s01e01a)")
        }
        var run = 1
        if let value = entities["run"] {
            guard let r = Int(value), r >= 1 else {
                throw DataError("\(file.path): key '\(key)': run '\(value)' is not a positive integer")
            }
            run = r
        }
        guard friendsParts(task) != nil || movieParts(task) != nil else {
            throw DataError("\(file.path): key '\(key)': task '\(task)' is neither a Friends run (s01e01a) "
                + "nor a movie10 run (bourne01)")
        }
        return AlgonautsEpisode(task: task, run: run)
    }
}

/// Which episodes a split uses. MedARC's `episode_filter` defaults: Friends seasons 1–5, movies bourne and
/// wolf, run 1 only (so the second viewing of figures and life is left out).
public struct AlgonautsEpisodeFilter: Sendable, Codable, Equatable {
    public var seasons: Set<Int>
    public var movies: Set<String>
    public var runs: Set<Int>

    public init(seasons: Set<Int> = Set(1...5), movies: Set<String> = ["bourne", "wolf"], runs: Set<Int> = [1]) {
        (self.seasons, self.movies, self.runs) = (seasons, movies, runs)
    }

    public func accepts(_ episode: AlgonautsEpisode) -> Bool {
        guard runs.contains(episode.run) else { return false }
        if let friends = AlgonautsEpisode.friendsParts(episode.task) { return seasons.contains(friends.season) }
        if let movie = AlgonautsEpisode.movieParts(episode.task) { return movies.contains(movie.movie) }
        return false
    }
}

/// Where the Algonauts 2025 files lie. `root` is the `algonauts_2025.competitors` folder (`fmri/sub-0X/func/…`);
/// `featuresRoot` holds MedARC's per-model shards `<Model>/friends/s1/friends_s01e01a.h5` and
/// `<Model>/movie10/bourne/movie10_bourne01.h5` (default `root/features`, where the synthetic generator writes).
public struct AlgonautsLayout: Sendable {
    /// MedARC's subject order; outputs stack subjects in the order requested.
    public static let subjects = [1, 2, 3, 5]
    /// Schaefer-2018 parcels per TR.
    public static let parcels = 1000
    /// Seconds per fMRI sample.
    public static let repetitionTime = 1.49

    public let root: URL
    public let featuresRoot: URL

    public init(root: URL, featuresRoot: URL? = nil) {
        self.root = root
        self.featuresRoot = featuresRoot ?? root.appendingPathComponent("features")
    }

    public static func subjectName(_ subject: Int) -> String { String(format: "sub-%02d", subject) }

    /// The subject's fMRI file of `series`, as the release names it.
    public func fmriFile(subject: Int, series: AlgonautsSeries) -> URL {
        let sub = Self.subjectName(subject)
        let name = switch series {
        case .friends: "\(sub)_task-friends_space-MNI152NLin2009cAsym_atlas-Schaefer18_parcel-1000Par7Net_desc-s123456_bold.h5"
        case .movie10: "\(sub)_task-movie10_space-MNI152NLin2009cAsym_atlas-Schaefer18_parcel-1000Par7Net_bold.h5"
        }
        return root.appendingPathComponent("fmri/\(sub)/func/\(name)")
    }

    /// A model's folder of one series' feature shards.
    public func featureFolder(model: String, series: AlgonautsSeries) -> URL {
        featuresRoot.appendingPathComponent(model).appendingPathComponent(series.rawValue)
    }

    /// Where the shard of `task` goes: `friends/s1/friends_s01e01a.h5`, `movie10/bourne/movie10_bourne01.h5`.
    public func featureFile(model: String, task: String) -> URL {
        let folder: String
        let series: AlgonautsSeries
        if let f = AlgonautsEpisode.friendsParts(task) {
            (series, folder) = (.friends, "s\(f.season)")
        } else {
            (series, folder) = (.movie10, AlgonautsEpisode.movieParts(task)?.movie ?? task)
        }
        return featureFolder(model: model, series: series)
            .appendingPathComponent(folder).appendingPathComponent("\(series.rawValue)_\(task).h5")
    }

    /// A shard's task: the part of its file stem after the last `_` (MedARC's `path.stem.split("_")[-1]`).
    public static func task(ofFeatureFile url: URL) -> String {
        String(url.deletingPathExtension().lastPathComponent.split(separator: "_").last ?? "")
    }
}
