import BrainData
import Foundation
import Torch

/// Serves training and test data from a data root in MindEye2's layout (real NSD or `voxelformer synth`
/// output) through the data layer.
///
/// Every subject it serves is loaded and validated when it is made, so a broken subject (betas, mask,
/// shards, NaN betas, a missing test shard) stops the command before any training, with an error naming
/// the subject and the file; no subject is ever left out.
public final class NSDTrainingData: TrainingData, @unchecked Sendable {
    public let dataset: NSDDataset
    public let trainSubjects: [Int]
    public let testSubjects: [Int]
    /// NaN/inf betas replaced by 0 per subject under `data.nan_policy=zero` (subjects with none left out).
    public let replacedNonFinite: [Int: Int]
    let assembler: BatchAssembler
    let coordinateForm: VoxelCoordinates
    let loaded: [Int: NSDSubject]
    /// With `data.fraction` < 1: per subject, the positions into its training trials it trains on (sorted).
    let selected: [Int: [Int]]

    /// - Parameters:
    ///   - targetShape: the model's (clip_seq_dim, clip_emb_dim); the CLIP targets must match it. Empty: not
    ///     checked here (a family that derives its shape from the targets checks them itself).
    ///   - loadTrainSubjects: false when only the test subjects are needed (evaluation); subjects only
    ///     in data.train_subjects are then not loaded or served.
    public init(config: DataConfig, targetShape: [Int]? = nil, loadTrainSubjects: Bool = true) throws {
        try config.validate()  // duplicate subjects, among others, for a DataConfig built in code
        dataset = try NSDDataset(root: URL(fileURLWithPath: config.root),
                                 options: NSDOptions(betasDType: config.betasDtype.dtype, nanPolicy: config.nanPolicy,
                                                     sessions: config.sessions == 0 ? nil : config.sessions))
        for s in config.trainSubjects + config.testSubjects where !dataset.subjects.contains(s) {
            throw ConfigError("data.train_subjects/test_subjects: subject \(s) is not in \(config.root) "
                + "(subjects present: \(dataset.subjects.map(String.init).joined(separator: ", ")))")
        }
        trainSubjects = loadTrainSubjects ? config.trainSubjects : []
        testSubjects = config.testSubjects
        assembler = BatchAssembler(dataset: dataset)
        coordinateForm = config.coordinates

        if let targetShape, !targetShape.isEmpty { try Self.checkTargets(dataset, expected: targetShape) }
        var loaded: [Int: NSDSubject] = [:]
        for s in trainSubjects + testSubjects where loaded[s] == nil {
            let role = testSubjects.contains(s) && !trainSubjects.contains(s) ? "data.test_subjects" : "data.train_subjects"
            do {
                if testSubjects.contains(s) && dataset.layout.testShard(s) == nil {
                    throw DataError("\(dataset.layout.newTest(s).path): no such file (nor "
                        + "\(dataset.layout.oldTest(s).path)); a test subject needs its test trials")
                }
                let subject = try dataset.subject(s)
                if testSubjects.contains(s) {
                    guard !subject.testTrials.isEmpty else {
                        throw DataError("\(dataset.layout.testShard(s)!.path): no test trials")
                    }
                }
                if trainSubjects.contains(s) && subject.trainTrials.isEmpty {
                    throw DataError("\(dataset.layout.trainFolder(s).path): no training trials in the shards")
                }
                loaded[s] = subject
            } catch let error as DataError {
                throw DataError("subject \(s) (\(role)) cannot be loaded: \(error.message)")
            }
        }
        self.loaded = loaded
        selected = try loaded.compactMapValues { s -> [Int]? in
            guard config.fraction < 1 else { return nil }
            return try Self.fraction(config.fraction, of: s.trainTrials.count, seed: config.fractionSeed, subject: s.subject)
        }
        replacedNonFinite = loaded.compactMapValues { $0.replacedNonFinite > 0 ? $0.replacedNonFinite : nil }
    }

    /// A seeded `fraction` of `count` training trials (positions, sorted): subject s shuffles 0..<count with
    /// the seed `seed + s` and keeps the first round(fraction·count), at least one.
    static func fraction(_ fraction: Double, of count: Int, seed: UInt64, subject: Int) throws -> [Int] {
        let kept = Int((fraction * Double(count)).rounded())
        guard kept >= 1 else {
            throw ConfigError("data.fraction: \(fraction) of subject \(subject)'s \(count) training trials keeps none; "
                + "it needs at least \(String(format: "%.3g", 0.5 / Double(max(count, 1)))) to keep one")
        }
        var order = Array(0..<count)
        var generator = SeededGenerator(seed: seed &+ UInt64(subject))
        generator.shuffle(&order)
        return order.prefix(kept).sorted()
    }

    /// The targets file must hold (images, clip_seq_dim, clip_emb_dim) with at least one image.
    static func checkTargets(_ dataset: NSDDataset, expected: [Int]) throws {
        let (shape, file) = try dataset.targetsShape()
        guard shape.count == 3, shape[0] > 0, Array(shape.dropFirst()) == expected else {
            throw DataError("\(file.path): '\(NSDLayout.targetsKey)' has shape \(shape); the model expects (images, "
                + "\(expected.map(String.init).joined(separator: ", "))) with at least one image "
                + "(model.clip_seq_dim, model.clip_emb_dim)")
        }
    }

    func subject(_ s: Int) throws -> NSDSubject {
        guard let subject = loaded[s] else {
            throw ConfigError("subject \(s) is not in data.train_subjects or data.test_subjects")
        }
        return subject
    }

    public func coordinates(subject: Int) throws -> Tensor {
        let s = try self.subject(subject)
        return s.positions(coordinateForm)
    }

    /// Every served subject was loaded in `init` (test subjects too: the ridge baseline fits on their
    /// train trials), so this cannot fail for one; any other subject is a programmer's mistake.
    public func trainTrialCount(subject: Int) -> Int {
        guard let s = loaded[subject] else {
            preconditionFailure("trainTrialCount: subject \(subject) is in neither data.train_subjects "
                + "\(trainSubjects) nor data.test_subjects \(testSubjects)")
        }
        return selected[subject]?.count ?? s.trainTrials.count
    }

    public func trainBatch(_ batch: Batch) throws -> NSDBatch {
        guard let positions = selected[batch.subject] else { return try assembler.assemble(batch) }
        return try assembler.assemble(Batch(subject: batch.subject, trials: batch.trials.map { positions[$0] }))
    }

    public func testSet(subject: Int) throws -> (voxels: Tensor, targets: Tensor, imageIDs: [Int]) {
        let s = try self.subject(subject)
        let b = try assembler.assemble(subject: subject, trials: s.testTrials)
        return (b.voxels, b.targets, b.images)
    }
}
