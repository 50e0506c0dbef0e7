import BrainData
import Encoding
import Foundation
import Torch

/// The aligned episodes of an encoding run, in memory as MedARC keeps them: the training episodes (drawn
/// from in windows) and the held-out ones (evaluated whole).
public final class EncodingData: @unchecked Sendable {
    public let config: EncodingDataConfig
    /// Empty when loaded for evaluation only.
    public let train: [AlgonautsEpisodeData]
    public let val: [AlgonautsEpisodeData]
    /// Each stream's shape as the encoder's `feat_dims` (D, or [L, D] unpooled).
    public let featDims: [FeatureDim]
    /// V, the parcels.
    public let parcels: Int
    /// The episodes some subject lacks, dropped for everybody (`s05e20a: missing for sub-02 …`).
    public let missingRuns: [String]

    /// Reads the held-out episodes, and the training ones when `training`; throws naming the filter when
    /// one of them is empty.
    public init(config: EncodingDataConfig, training: Bool = true) throws {
        self.config = config
        let specs = try config.features.map(AlgonautsFeatureSpec.init)
        func open(_ filter: AlgonautsEpisodeFilter, _ keys: String) throws -> AlgonautsDataset {
            let set = try AlgonautsDataset(layout: config.layout, subjects: config.subjects, filter: filter, features: specs,
                                           pooling: config.pooling, parcels: config.parcels)
            guard !set.episodes.isEmpty else {
                throw ConfigError("\(keys): no episode in \(config.root) that subjects \(config.subjects) all have "
                    + "(seasons \(filter.seasons.sorted()), movies \(filter.movies.sorted()), runs \(filter.runs.sorted()))")
            }
            return set
        }
        let valSet = try open(config.valFilter, "data.val_seasons/val_movies/val_runs")
        var missing = valSet.alignment.missingRunMessages
        if training {
            let trainSet = try open(config.trainFilter, "data.train_seasons/train_movies/train_runs")
            missing = Array(Set(missing + trainSet.alignment.missingRunMessages)).sorted()
            train = try trainSet.loadAll()
        } else {
            train = []
        }
        val = try valSet.loadAll()
        missingRuns = missing
        let first = val[0]
        featDims = first.features.map { $0.ndim == 3 ? FeatureDim($0.shape[2], layers: $0.shape[1]) : FeatureDim($0.shape[1]) }
        parcels = first.fmri.shape[2]
    }

    /// The windows' fMRI (N, S, L, V) and each feature stream (N, L, D_i) (or (N, L, layers, D_i)).
    public func batch(_ windows: [AlgonautsWindow]) -> (fmri: Tensor, features: [Tensor]) {
        let parts = windows.map { train[$0.episode].window(offset: $0.offset, length: config.sampleLength) }
        return (Tensor.stack(parts.map(\.fmri), dim: 0),
                featDims.indices.map { i in Tensor.stack(parts.map { $0.features[i] }, dim: 0) })
    }
}
