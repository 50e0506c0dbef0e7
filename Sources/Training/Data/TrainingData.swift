import BrainData
import Torch

/// What the trainer and the evaluator need from a dataset, per subject. `NSDTrainingData` serves it from
/// a data root; tests can serve it from memory.
/// Implementations are read from a background thread (the prefetcher) while training runs.
public protocol TrainingData: AnyObject, Sendable {
    /// Subjects available for training.
    var trainSubjects: [Int] { get }
    var testSubjects: [Int] { get }
    /// (V, 3) float32 positions of the subject's voxels, in betas-column order.
    func coordinates(subject: Int) throws -> Tensor
    func trainTrialCount(subject: Int) -> Int
    /// The sampler's batch (positions into the subject's train trials) as tensors: voxels (B, 1, V) float32
    /// and targets (B, T, E) float32.
    func trainBatch(_ batch: Batch) throws -> NSDBatch
    /// Every test trial: voxels (N, 1, V), targets (N, T, E), and each trial's image id.
    func testSet(subject: Int) throws -> (voxels: Tensor, targets: Tensor, imageIDs: [Int])
}
