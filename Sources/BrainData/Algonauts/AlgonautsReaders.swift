import Foundation
import Torch

/// One subject's fMRI file of one series: a dataset `(N_TR, parcels)` per run, keyed
/// `ses-<sess>_task-<task>[_run-<r>]`. When two keys name the same episode the last in name order wins,
/// as in MedARC's dictionary.
public final class AlgonautsFMRIFile: @unchecked Sendable {
    public let subject: Int
    public let series: AlgonautsSeries
    public let file: HDF5File
    /// Episode → dataset key.
    public let keys: [AlgonautsEpisode: String]

    public var url: URL { file.url }
    public var episodes: [AlgonautsEpisode] { keys.keys.sorted() }

    public init(_ url: URL, subject: Int, series: AlgonautsSeries) throws {
        (self.subject, self.series) = (subject, series)
        file = try HDF5File(url)
        var keys: [AlgonautsEpisode: String] = [:]
        for key in file.keys { keys[try AlgonautsEpisode.parse(key: key, in: url)] = key }
        self.keys = keys
    }

    /// The run's `(N_TR, parcels)` matrix as float32; a key that is not 2-D, or whose width is not
    /// `parcels` when given, throws naming the file and key.
    public func read(_ episode: AlgonautsEpisode, parcels: Int? = nil) throws -> Tensor {
        guard let key = keys[episode] else {
            throw DataError("\(url.path): no run of \(episode) for \(AlgonautsLayout.subjectName(subject)) "
                + "(runs present: \(episodes.map(\.description).joined(separator: ", ")))")
        }
        let ds = try file.dataset(key)
        try Self.checkShape(ds, parcels: parcels)
        return try ds.read().to(.float32)
    }

    static func checkShape(_ ds: HDF5Dataset, parcels: Int?) throws {
        guard ds.shape.count == 2, parcels == nil || ds.shape[1] == parcels else {
            throw DataError("\(ds.file.url.path): dataset '\(ds.name)' has shape \(ds.shape); expected "
                + "(N_TR, \(parcels.map(String.init) ?? "parcels")), one row per TR")
        }
        guard ds.dtype.isFloatingPoint else {
            throw DataError("\(ds.file.url.path): dataset '\(ds.name)' holds \(ds.dtype); expected floats")
        }
    }
}

/// One feature set: a model's folder and one hooked layer (MedARC's `include_features` key `model/layer`,
/// e.g. `whisper/layers.12`: folder `whisper`, dataset `layers.12` in every shard).
public struct AlgonautsFeatureSpec: Hashable, Sendable, Codable, CustomStringConvertible {
    public let model: String
    public let layer: String
    public init(model: String, layer: String) { (self.model, self.layer) = (model, layer) }

    /// Splits `model/layer` at the first `/` (layer names may hold dots, not slashes).
    public init(_ key: String) throws {
        guard let slash = key.firstIndex(of: "/"), slash != key.startIndex, key.index(after: slash) != key.endIndex else {
            throw DataError("feature '\(key)': expected model/layer, e.g. whisper/layers.12")
        }
        self.init(model: String(key[..<slash]), layer: String(key[key.index(after: slash)...]))
    }

    public var description: String { "\(model)/\(layer)" }
}

/// How a `(T, L, D)` layer becomes `(T, D)`: MedARC's `global_pool: avg` averages over `L`; `none` keeps it.
public enum AlgonautsFeaturePooling: String, Sendable, Codable, CaseIterable {
    case none, avg
}

/// A model's feature shards of one series, found recursively under `<featuresRoot>/<model>/<series>` and
/// keyed by task (file stem after the last `_`: `friends_s01e01a` → `s01e01a`, `movie10_bourne01` → `bourne01`).
public struct AlgonautsFeatureShards: Sendable {
    public let model: String
    public let series: AlgonautsSeries
    public let folder: URL
    /// Task → shard file.
    public let files: [String: URL]

    public init(layout: AlgonautsLayout, model: String, series: AlgonautsSeries) throws {
        (self.model, self.series) = (model, series)
        folder = layout.featureFolder(model: model, series: series)
        var isFolder: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.path, isDirectory: &isFolder), isFolder.boolValue else {
            throw DataError("\(folder.path): no such folder (expected the \(series.rawValue) feature shards of "
                + "model '\(model)', e.g. \(layout.featureFile(model: model, task: series == .friends ? "s01e01a" : "bourne01").path))")
        }
        var files: [String: URL] = [:]
        let paths = (FileManager.default.enumerator(atPath: folder.path)?.compactMap { $0 as? String } ?? [])
            .filter { $0.hasSuffix(".h5") }.sorted()
        for path in paths {
            let url = folder.appendingPathComponent(path)
            files[AlgonautsLayout.task(ofFeatureFile: url)] = url
        }
        self.files = files
    }

    /// The layer's features of `task` as float32: `(T, D)`, or `(T, L, D)` unless pooled. Size-1 dimensions
    /// after the first are squeezed (MedARC squeezes every one, which would also drop T of a 1-TR shard).
    public func read(task: String, layer: String, pooling: AlgonautsFeaturePooling = .avg) throws -> Tensor {
        guard let url = files[task] else {
            throw DataError("\(folder.path): no feature shard for \(task) (expected \(series.rawValue)_\(task).h5 below it)")
        }
        let ds = try HDF5File(url).dataset(layer)
        guard ds.dtype.isFloatingPoint else {
            throw DataError("\(url.path): dataset '\(layer)' holds \(ds.dtype); expected floats")
        }
        var t = try ds.read().to(.float32)
        let kept = [t.shape.first ?? 0] + t.shape.dropFirst().filter { $0 != 1 }
        guard !t.shape.isEmpty, kept.count == 2 || kept.count == 3 else {
            throw DataError("\(url.path): dataset '\(layer)' has shape \(ds.shape); expected (T, D) or (T, L, D)")
        }
        t = t.reshape(kept)
        if kept.count == 3, pooling == .avg { t = t.mean(1) }
        return t
    }
}

/// Pads `features` (time first) to `length` rows by repeating its last row, or keeps its first `length`
/// rows: MedARC's `_pad_trunc_features` (features and fMRI are "often off by 1 or 2", both start with the film).
public func padOrTruncateFeatures(_ features: Tensor, to length: Int) throws -> Tensor {
    let rows = features.shape.first ?? 0
    if rows >= length { return features.slice(0, start: 0, end: length) }
    guard rows > 0 else { throw DataError("features have no rows; cannot pad them to \(length) TRs") }
    let last = features.slice(0, start: rows - 1, end: rows)
    var shape = features.shape
    shape[0] = length - rows
    return Tensor.cat([features, last.expand(shape)], dim: 0).contiguous()
}
