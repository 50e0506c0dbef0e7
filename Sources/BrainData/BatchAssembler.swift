import Foundation
import Torch

/// The tensors of one batch, ready for the model: the one batch type from the data layer to the trainer.
public struct NSDBatch: @unchecked Sendable {
    public let subject: Int
    /// (B, 1, V) float32 betas rows.
    public let voxels: Tensor
    /// (B, T, E) float32 CLIP targets of the trials' images.
    public let targets: Tensor
    /// 0-based 73k image ids, one per trial.
    public let images: [Int]
    /// Betas rows, one per trial.
    public let rows: [Int]
    /// The other subjects' parts of a mixed batch (`Batch.others`), in subject order.
    public var others: [NSDBatch] = []
    /// Every part, one per subject: this batch (without `others`) then `others`.
    public var parts: [NSDBatch] {
        [NSDBatch(subject: subject, voxels: voxels, targets: targets, images: images, rows: rows)] + others
    }
    /// Trials over all parts.
    public var count: Int { parts.reduce(0) { $0 + $1.voxels.size(0) } }

    public init(subject: Int, voxels: Tensor, targets: Tensor, images: [Int], rows: [Int]) {
        (self.subject, self.voxels, self.targets, self.images, self.rows) = (subject, voxels, targets, images, rows)
    }
}

/// Builds `NSDBatch`es from the sampler's `Batch`es (positions into a subject's training trials) or from
/// explicit trials (test sets).
public struct BatchAssembler: Sendable {
    public let dataset: NSDDataset

    public init(dataset: NSDDataset) { self.dataset = dataset }

    public func assemble(_ batch: Batch) throws -> NSDBatch {
        let subject = try dataset.subject(batch.subject)
        return try assemble(subject: batch.subject, trials: batch.trials.map { subject.trainTrials[$0] })
    }

    public func assemble(subject: Int, trials: [NSDTrial]) throws -> NSDBatch {
        let s = try dataset.subject(subject)
        let images = trials.map(\.image)
        return NSDBatch(subject: subject, voxels: s.voxels(trials).unsqueeze(1), targets: try dataset.targets(images),
                        images: images, rows: trials.map(\.row))
    }
}
