import Foundation
import Torch

/// Writes a `SyntheticAlgonauts` release in the Algonauts 2025 layout (`fmri/sub-0X/func/…_bold.h5`, one
/// float32 dataset per run keyed `ses-<sess>_task-<task>[_run-<r>]`), MedARC's feature shards under
/// `features/<model>/{friends/s1/friends_s01e01a.h5, movie10/bourne/movie10_bourne01.h5}`, and
/// `synthetic_info.json` with the config and the noise ceilings.
public enum SyntheticAlgonautsWriter {
    /// What `synthetic_info.json` holds.
    public struct Info: Codable, Sendable, Equatable {
        public var config: SyntheticAlgonautsConfig
        public var hrf: [Double]
        /// Noise ceiling (mean Pearson r of the noiseless response against the recorded one) by split:
        /// `all` runs, MedARC's `train` filter (Friends 1–5, bourne, wolf, run 1), and its validation sets
        /// `val_s6`, `val_figures`, `val_life` (run 1); a split without episodes is left out.
        public var ceiling: [String: Double]
        /// The ceiling of each subject over all its runs, in `config.subjects` order.
        public var subjectCeilings: [Double]
        /// Runs a subject lacks, as `sub-02: s05e02a`.
        public var missingRuns: [String]
    }

    public static let infoFile = "synthetic_info.json"

    /// The splits `Info.ceiling` reports.
    public static let splits: [(String, AlgonautsEpisodeFilter?)] = [
        ("all", nil),
        ("train", AlgonautsEpisodeFilter()),
        ("val_s6", AlgonautsEpisodeFilter(seasons: [6], movies: [], runs: [1])),
        ("val_figures", AlgonautsEpisodeFilter(seasons: [], movies: ["figures"], runs: [1])),
        ("val_life", AlgonautsEpisodeFilter(seasons: [], movies: ["life"], runs: [1])),
    ]

    /// Generates from `config` and writes under `root` (created if needed); returns what the info file holds.
    @discardableResult
    public static func write(_ config: SyntheticAlgonautsConfig, to root: URL) throws -> Info {
        try write(SyntheticAlgonauts(config), to: root)
    }

    @discardableResult
    public static func write(_ data: SyntheticAlgonauts, to root: URL) throws -> Info {
        let layout = AlgonautsLayout(root: root)
        let config = data.config
        let fm = FileManager.default
        for s in config.subjects {
            let episodes = (data.responses[s] ?? [:]).keys.sorted()
            for series in AlgonautsSeries.allCases {
                let mine = episodes.filter { $0.series == series }
                guard !mine.isEmpty else { continue }
                let url = layout.fmriFile(subject: s, series: series)
                try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                let writer = try HDF5Writer(creating: url)
                for (i, e) in mine.enumerated() {
                    let repeated = config.runs(of: e.task).count > 1
                    try writer.write(key(e, session: i / 4 + 1, repeated: repeated), data.responses[s]![e]!)
                }
                try writer.close()
            }
        }
        for model in config.models {
            for (task, features) in data.features[model.name] ?? [:] {
                let url = layout.featureFile(model: model.name, task: task)
                try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                let writer = try HDF5Writer(creating: url)
                try writer.write(model.layer, features)
                try writer.close()
            }
        }
        var ceilings: [String: Double] = [:]
        for (name, filter) in splits {
            let accepted = config.subjects.allSatisfy { s in
                (data.responses[s] ?? [:]).keys.contains { filter?.accepts($0) ?? true }
            }
            if accepted { ceilings[name] = try data.ceiling(filter: filter).score }
        }
        let all = try data.ceiling()
        let present = Set(config.tasks)
        let missing = config.missing.filter { present.contains($0.task) && config.subjects.contains($0.subject) }
            .map { "\(AlgonautsLayout.subjectName($0.subject)): \(AlgonautsEpisode(task: $0.task, run: $0.run))" }
        let info = Info(config: config, hrf: data.hrf, ceiling: ceilings, subjectCeilings: all.subjects, missingRuns: missing)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(info).write(to: root.appendingPathComponent(infoFile))
        return info
    }

    /// The release's key of `episode`: `ses-001_task-s01e01a`, `ses-003_task-figures01_run-2` (a run entity
    /// only for films shown twice, which always have run 1 and 2).
    static func key(_ episode: AlgonautsEpisode, session: Int, repeated: Bool) -> String {
        let base = String(format: "ses-%03d_task-", session) + episode.task
        return repeated ? base + "_run-\(episode.run)" : base
    }

    /// Reads `synthetic_info.json` of a synthetic root (nil when the root has none).
    public static func info(at root: URL) throws -> Info? {
        let url = root.appendingPathComponent(infoFile)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        do { return try JSONDecoder().decode(Info.self, from: Data(contentsOf: url)) } catch {
            throw DataError("\(url.path): not a synthetic Algonauts info file (\(error))")
        }
    }
}
