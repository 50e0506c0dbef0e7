import Foundation
import Torch

/// MedARC's episode alignment: of the episodes the filter accepts, only those every requested subject has
/// are kept (sorted); the others drop out for everybody and are listed with the subjects that lack them.
public struct AlgonautsAlignment: Sendable, Equatable {
    public let subjects: [Int]
    /// Episodes present for every subject, sorted.
    public let episodes: [AlgonautsEpisode]
    /// Episodes some subject lacks → the subjects lacking them (these runs are not used).
    public let incomplete: [AlgonautsEpisode: [Int]]

    /// `runs` holds each subject's episodes.
    public init(subjects: [Int], runs: [Int: Set<AlgonautsEpisode>], filter: AlgonautsEpisodeFilter? = nil) {
        self.subjects = subjects
        var all = Set<AlgonautsEpisode>()
        for s in subjects { all.formUnion(runs[s] ?? []) }
        if let filter { all = all.filter(filter.accepts) }
        var kept: [AlgonautsEpisode] = []
        var incomplete: [AlgonautsEpisode: [Int]] = [:]
        for e in all.sorted() {
            let lacking = subjects.filter { !(runs[$0]?.contains(e) ?? false) }
            if lacking.isEmpty { kept.append(e) } else { incomplete[e] = lacking }
        }
        (episodes, self.incomplete) = (kept, incomplete)
    }

    /// One line per dropped episode: `s05e20a: missing for sub-02`.
    public var missingRunMessages: [String] {
        incomplete.keys.sorted().map { e in
            "\(e): missing for \(incomplete[e]!.map(AlgonautsLayout.subjectName).joined(separator: ", ")) (dropped for every subject)"
        }
    }
}

/// One aligned episode: every subject's run truncated to the shortest, stacked, and each feature set
/// padded (last row repeated) or truncated to that length.
public struct AlgonautsEpisodeData: @unchecked Sendable {
    public let episode: AlgonautsEpisode
    /// (S, T, parcels), subjects in the dataset's order.
    public let fmri: Tensor
    /// One per feature spec: (T, D_i), or (T, L, D_i) unpooled.
    public let features: [Tensor]
    /// Each subject's TRs before truncation.
    public let subjectLengths: [Int]
    /// Each feature set's rows before padding or truncation.
    public let featureLengths: [Int]

    /// T, the aligned length.
    public var length: Int { fmri.shape[1] }

    /// TRs `offset ..< offset + length` of the fMRI `(S, L, parcels)` and of every feature set `(L, D_i)`.
    public func window(offset: Int, length: Int) -> (fmri: Tensor, features: [Tensor]) {
        precondition(offset >= 0 && offset + length <= self.length, "window \(offset)+\(length) outside \(self.length) TRs")
        return (fmri.slice(1, start: offset, end: offset + length),
                features.map { $0.slice(0, start: offset, end: offset + length) })
    }
}

/// The Algonauts 2025 fMRI of several subjects and the chosen feature sets, aligned as MedARC aligns them.
/// Episodes are read from disk when asked for (`episode(_:)`); `loadAll()` reads them all (MedARC keeps
/// everything in memory).
public final class AlgonautsDataset: @unchecked Sendable {
    public let layout: AlgonautsLayout
    public let subjects: [Int]
    public let filter: AlgonautsEpisodeFilter
    public let features: [AlgonautsFeatureSpec]
    public let pooling: AlgonautsFeaturePooling
    /// Parcels per row every run must have (nil: any, but equal across subjects).
    public let parcels: Int?
    public let alignment: AlgonautsAlignment
    /// Per series, one file per subject in `subjects` order.
    let fmriFiles: [AlgonautsSeries: [AlgonautsFMRIFile]]
    /// Per series, per model.
    let shards: [AlgonautsSeries: [String: AlgonautsFeatureShards]]

    public var episodes: [AlgonautsEpisode] { alignment.episodes }

    /// Opens the fMRI files of the series the filter can accept (Friends when it has seasons, movie10 when
    /// it has movies) and the feature shards of every spec; a missing file or folder throws naming it.
    public init(layout: AlgonautsLayout, subjects: [Int] = AlgonautsLayout.subjects,
                filter: AlgonautsEpisodeFilter = AlgonautsEpisodeFilter(), features: [AlgonautsFeatureSpec] = [],
                pooling: AlgonautsFeaturePooling = .avg, parcels: Int? = AlgonautsLayout.parcels) throws {
        guard !subjects.isEmpty, Set(subjects).count == subjects.count else {
            throw DataError("\(layout.root.path): subjects \(subjects): expected one or more distinct subjects")
        }
        (self.layout, self.subjects, self.filter, self.features, self.pooling, self.parcels) =
            (layout, subjects, filter, features, pooling, parcels)
        var series: [AlgonautsSeries] = []
        if !filter.seasons.isEmpty { series.append(.friends) }
        if !filter.movies.isEmpty { series.append(.movie10) }
        var files: [AlgonautsSeries: [AlgonautsFMRIFile]] = [:]
        var runs: [Int: Set<AlgonautsEpisode>] = [:]
        for s in series {
            files[s] = try subjects.map { sub in
                let file = try AlgonautsFMRIFile(layout.fmriFile(subject: sub, series: s), subject: sub, series: s)
                // A key of the other series (a Friends task in the movie10 file) would be read from the wrong file.
                runs[sub, default: []].formUnion(file.keys.keys.filter { $0.series == s })
                return file
            }
        }
        fmriFiles = files
        alignment = AlgonautsAlignment(subjects: subjects, runs: runs, filter: filter)
        var shards: [AlgonautsSeries: [String: AlgonautsFeatureShards]] = [:]
        let needed = Set(alignment.episodes.map(\.series))
        for s in series where needed.contains(s) {
            for model in Set(features.map(\.model)).sorted() {
                shards[s, default: [:]][model] = try AlgonautsFeatureShards(layout: layout, model: model, series: s)
            }
        }
        self.shards = shards
    }

    /// The aligned episode: subjects' runs truncated to the shortest and stacked, features fitted to it.
    public func episode(_ episode: AlgonautsEpisode) throws -> AlgonautsEpisodeData {
        guard let files = fmriFiles[episode.series], alignment.episodes.contains(episode) else {
            throw DataError("\(layout.root.path): episode \(episode) is not one every subject has under this filter")
        }
        let runs = try files.map { try $0.read(episode, parcels: parcels) }
        let widths = Set(runs.map { $0.shape[1] })
        guard widths.count == 1 else {
            throw DataError("\(episode): subjects' runs have \(runs.map { $0.shape[1] }) parcels "
                + "(\(files.map(\.url.lastPathComponent).joined(separator: ", "))); expected the same number")
        }
        let lengths = runs.map { $0.shape[0] }
        let length = lengths.min()!
        let fmri = Tensor.stack(runs.map { $0.slice(0, start: 0, end: length) }, dim: 0)
        var feats: [Tensor] = []
        var featureLengths: [Int] = []
        for spec in features {
            let f = try shards[episode.series]![spec.model]!.read(task: episode.task, layer: spec.layer, pooling: pooling)
            featureLengths.append(f.shape[0])
            do { feats.append(try padOrTruncateFeatures(f, to: length)) } catch {
                throw DataError("\(spec) of \(episode.task): \(error)")
            }
        }
        return AlgonautsEpisodeData(episode: episode, fmri: fmri, features: feats,
                                    subjectLengths: lengths, featureLengths: featureLengths)
    }

    /// Every aligned episode, in order.
    public func loadAll() throws -> [AlgonautsEpisodeData] { try episodes.map(episode) }
}
