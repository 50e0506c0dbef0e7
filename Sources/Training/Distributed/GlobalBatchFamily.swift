import Foundation

/// A family whose loss, under `DataParallel`, sees the global batch and draws its random numbers for it
/// (MixCo through `DataParallel.current`, dropout through `GlobalBatch`): its training does not depend on
/// the world size, except through the draws `rankLocalDraws` names.
public protocol GlobalBatchFamily: ModelFamily {
    /// What each rank still draws for its own slice with this config (nil: nothing), so that a resume on
    /// another world size would not continue the same run.
    var rankLocalDraws: String? { get }
}

extension VoxelFormerFamily: GlobalBatchFamily {
    public var rankLocalDraws: String? {
        var draws: [String] = []
        if config.model.drop > 0 { draws.append("model.drop \(config.model.drop): attention dropout inside libtorch's kernel") }
        if prior != nil { draws.append("train.use_prior: the diffusion prior's noise") }
        return draws.isEmpty ? nil : draws.joined(separator: "; ")
    }
}

extension MindEye2Family: GlobalBatchFamily {
    public var rankLocalDraws: String? { prior != nil ? "train.use_prior: the diffusion prior's noise" : nil }
}

/// BrainX draws only its tokenizers' dropout (one subject's rows at a time) and its image targets' augmentation
/// (seeded by trial); its losses are means over the rows, or the quantile over the gathered batch.
extension BrainXFamily: GlobalBatchFamily {
    public var rankLocalDraws: String? { nil }
}

extension Trainer {
    /// Why a checkpoint trained by `trained` processes cannot resume on this run's, or nil when it can:
    /// the same world size always can; another one when the family draws everything for the global batch
    /// and the batch splits over the new world size.
    func worldSizeChangeRefusal(from trained: Int) -> String? {
        let world = dataParallel?.worldSize ?? 1
        guard trained != world else { return nil }
        let head = "the checkpoint was trained by \(trained) process(es), this run has \(world)"
        guard let family = family as? any GlobalBatchFamily else {
            return head + "; a run resumes with the world size it started with (this family's losses see each rank's own slice)"
        }
        if let draws = family.rankLocalDraws {
            return head + "; a run resumes with the world size it started with, since each rank draws random numbers for its "
                + "own slice (\(draws))"
        }
        if train.batchSize % world != 0 {
            return head + "; train.batch_size \(train.batchSize) does not split over \(world) ranks"
        }
        return nil
    }
}
