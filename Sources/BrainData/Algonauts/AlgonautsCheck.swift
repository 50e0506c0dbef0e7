import Foundation
import Torch

/// Validates an Algonauts 2025 root (real or synthetic): every subject's fMRI files (keys that parse, 2-D
/// float runs of the expected width, no NaN/inf, no empty run), the runs some subject lacks (they drop out
/// for everybody), and every feature shard (a (T, D) or (T, L, D) float layer, no NaN/inf, one width per
/// layer, T within 2 TRs of the fMRI). Problems are collected, not thrown, so one run lists them all.
public struct AlgonautsCheck: Sendable {
    /// One fMRI file.
    public struct Row: Sendable, Equatable {
        public var subject: Int
        public var series: AlgonautsSeries
        public var file: String
        public var runs: Int
        /// Width of the runs (nil when none could be read).
        public var parcels: Int?
        public var totalTRs: Int
        /// NaN and ±inf values over every run.
        public var nonFinite: Int
    }
    /// One layer of one model over one series' shards.
    public struct FeatureRow: Sendable, Equatable {
        public var model: String
        public var layer: String
        public var series: AlgonautsSeries
        public var shards: Int
        /// Shape of a shard's layer after the time dimension (D, or L and D).
        public var shape: [Int]
        public var nonFinite: Int
        /// Shards whose T differs from the fMRI's by 1 or 2 TRs (padded or truncated when loading).
        public var offByFew: Int
    }

    public let layout: AlgonautsLayout
    public private(set) var rows: [Row] = []
    public private(set) var featureRows: [FeatureRow] = []
    /// Episodes some subject lacks, one line each (expected in the release; not problems).
    public private(set) var missingRuns: [String] = []
    public private(set) var problems: [String] = []

    /// `subjects` default to the `fmri/sub-XX` folders present; `features` to every layer of every model
    /// folder under the features root (none when it does not exist); `parcels` to any width equal across runs.
    public init(layout: AlgonautsLayout, subjects: [Int]? = nil, features: [AlgonautsFeatureSpec]? = nil,
                parcels: Int? = nil) {
        self.layout = layout
        let fm = FileManager.default
        guard fm.fileExists(atPath: layout.root.path) else {
            problems.append("\(layout.root.path): no such data root")
            return
        }
        let fmriFolder = layout.root.appendingPathComponent("fmri")
        let subjects = subjects ?? ((try? fm.contentsOfDirectory(atPath: fmriFolder.path)) ?? [])
            .compactMap { $0.hasPrefix("sub-") ? Int($0.dropFirst(4)) : nil }.sorted()
        if subjects.isEmpty { problems.append("\(fmriFolder.path): no subjects (expected sub-01/func/…_bold.h5)") }
        var width = parcels
        var runs: [Int: Set<AlgonautsEpisode>] = [:]
        var lengths: [String: Int] = [:]  // task → shortest run over subjects
        for series in AlgonautsSeries.allCases {
            let urls = subjects.map { layout.fmriFile(subject: $0, series: series) }
            guard urls.contains(where: { fm.fileExists(atPath: $0.path) }) else { continue }
            for (subject, url) in zip(subjects, urls) {
                guard let file = attempt({ try AlgonautsFMRIFile(url, subject: subject, series: series) }) else { continue }
                var row = Row(subject: subject, series: series, file: url.lastPathComponent, runs: 0, parcels: nil,
                              totalTRs: 0, nonFinite: 0)
                for episode in file.episodes {
                    let key = file.keys[episode]!
                    guard episode.series == series else {
                        problems.append("\(url.path): key '\(key)' is a \(episode.series.rawValue) run in the \(series.rawValue) file")
                        continue
                    }
                    guard let run = attempt({ () throws -> Tensor in
                        let ds = try file.file.dataset(key)
                        try AlgonautsFMRIFile.checkShape(ds, parcels: width)
                        return try ds.read().to(.float32)
                    }) else { continue }
                    width = width ?? run.shape[1]
                    guard run.shape[0] > 0 else {
                        problems.append("\(url.path): dataset '\(key)' has no TRs")
                        continue
                    }
                    let bad = run.isfinite().logicalNot().sum().itemInt()
                    if bad > 0 { problems.append("\(url.path): dataset '\(key)' has \(bad) NaN or infinite values") }
                    row.runs += 1
                    row.parcels = run.shape[1]
                    row.totalTRs += run.shape[0]
                    row.nonFinite += bad
                    runs[subject, default: []].insert(episode)
                    lengths[episode.task] = min(lengths[episode.task] ?? .max, run.shape[0])
                }
                rows.append(row)
            }
        }
        if !subjects.isEmpty && rows.isEmpty && problems.isEmpty {
            problems.append("\(fmriFolder.path): no fMRI files (expected \(layout.fmriFile(subject: subjects[0], series: .friends).path))")
        }
        missingRuns = AlgonautsAlignment(subjects: subjects, runs: runs).missingRunMessages
        checkFeatures(features, lengths: lengths)
    }

    private mutating func checkFeatures(_ specs: [AlgonautsFeatureSpec]?, lengths: [String: Int]) {
        let fm = FileManager.default
        let layout = self.layout
        let models = specs.map { Array(Set($0.map(\.model))).sorted() }
            ?? ((try? fm.contentsOfDirectory(atPath: layout.featuresRoot.path)) ?? []).filter {
                var isFolder: ObjCBool = false
                return fm.fileExists(atPath: layout.featuresRoot.appendingPathComponent($0).path, isDirectory: &isFolder)
                    && isFolder.boolValue
            }.sorted()
        for model in models {
            for series in AlgonautsSeries.allCases {
                let tasks = lengths.keys.filter { AlgonautsEpisode(task: $0).series == series }.sorted()
                guard !tasks.isEmpty else { continue }
                guard let shards = attempt({ try AlgonautsFeatureShards(layout: layout, model: model, series: series) }) else { continue }
                for task in tasks where shards.files[task] == nil {
                    problems.append("\(shards.folder.path): no feature shard for \(task), which has fMRI")
                }
                var layerRows: [String: FeatureRow] = [:]
                for task in tasks {
                    guard let url = shards.files[task], let file = attempt({ try HDF5File(url) }) else { continue }
                    let layers = specs?.filter { $0.model == model }.map(\.layer) ?? file.keys
                    for layer in layers {
                        guard let t = attempt({ try shards.read(task: task, layer: layer, pooling: .none) }) else { continue }
                        var row = layerRows[layer] ?? FeatureRow(model: model, layer: layer, series: series, shards: 0,
                                                                 shape: Array(t.shape.dropFirst()), nonFinite: 0, offByFew: 0)
                        if Array(t.shape.dropFirst()) != row.shape {
                            problems.append("\(url.path): dataset '\(layer)' has shape \(t.shape); other shards of "
                                + "\(model) have (T, \(row.shape.map(String.init).joined(separator: ", ")))")
                        }
                        let bad = t.isfinite().logicalNot().sum().itemInt()
                        if bad > 0 { problems.append("\(url.path): dataset '\(layer)' has \(bad) NaN or infinite values") }
                        let gap = abs(t.shape[0] - lengths[task]!)
                        if gap > 2 {
                            problems.append("\(url.path): dataset '\(layer)' has \(t.shape[0]) rows; the fMRI of \(task) has "
                                + "\(lengths[task]!) TRs (expected within 2)")
                        } else if gap > 0 {
                            row.offByFew += 1
                        }
                        row.shards += 1
                        row.nonFinite += bad
                        layerRows[layer] = row
                    }
                }
                featureRows += layerRows.keys.sorted().map { layerRows[$0]! }
            }
        }
    }

    /// Runs `body`; a thrown error becomes a problem and nil.
    private mutating func attempt<R>(_ body: () throws -> R) -> R? {
        do { return try body() } catch let error as DataError {
            problems.append(error.message)
        } catch {
            problems.append("\(error)")
        }
        return nil
    }

    /// A plain-text report: one line per fMRI file and per feature layer, then missing runs and problems.
    public var lines: [String] {
        var lines = rows.map { r in
            "\(AlgonautsLayout.subjectName(r.subject)) \(r.series.rawValue): \(r.runs) runs, \(r.totalTRs) TRs x "
                + "\(r.parcels.map(String.init) ?? "?") parcels, \(r.nonFinite) non-finite"
        }
        lines += featureRows.map { f in
            "features \(f.model)/\(f.layer) \(f.series.rawValue): \(f.shards) shards of (T, \(f.shape.map(String.init).joined(separator: ", "))), "
                + "\(f.offByFew) off by 1-2 TRs, \(f.nonFinite) non-finite"
        }
        lines += missingRuns.map { "missing run: \($0)" }
        lines += problems.map { "problem: \($0)" }
        return lines
    }
}
