import BrainData
import Foundation
import Testing
import Torch
@testable import Training
@testable import VoxelFormer

/// The NSD data roots BrainData's tests use (`Tests/BrainDataTests/Fixtures/generate_fixtures.py`):
/// `nsd` holds subjects 1 and 2 (8 and 4 train trials, targets (10, 2, 3)); `nsd_bad` holds subject 1
/// with NaN at betas (1, 2) and inf at (3, 0) and (4, 5), subject 2 with one column too many, subject 3
/// with a sample pointing past the last betas row.
private let brainFixtures = Fixture.directory.deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("BrainDataTests/Fixtures")

private func dataConfig(_ root: URL, train: [Int], test: [Int], overrides: [String] = []) throws -> DataConfig {
    try VoxelFormerConfig.load(path: nil, overrides: ["data.root=\(root.path)", "data.train_subjects=\(train)",
                                                      "data.test_subjects=\(test)"] + overrides).data
}

private func message(_ body: () throws -> Any) -> String? {
    do { _ = try body() } catch { return "\(error)" }
    return nil
}

@Suite struct NSDTrainingDataTests {
    let nsd = brainFixtures.appendingPathComponent("nsd")
    let bad = brainFixtures.appendingPathComponent("nsd_bad")

    @Test func servesEverySubjectAfterLoadingThemAll() throws {
        let data = try NSDTrainingData(config: dataConfig(nsd, train: [1, 2], test: [2]), targetShape: [2, 3])
        #expect(data.trainTrialCount(subject: 1) == 8)
        #expect(data.trainTrialCount(subject: 2) == 4)
        #expect(data.replacedNonFinite.isEmpty)
        let test = try data.testSet(subject: 2)  // subject 2 has only the older test/0.tar
        #expect(test.imageIDs == [8, 8])
        #expect(test.targets.shape == [2, 2, 3])
    }

    /// It used to drop the subject silently (`try? … ?? 0` trial count) and train on the others.
    @Test func aBrokenSubjectStopsLoadingNamingTheSubjectAndFile() throws {
        let betas = bad.appendingPathComponent("betas_all_subj01_fp32_renorm.hdf5").path
        #expect(message { try NSDTrainingData(config: dataConfig(bad, train: [1], test: [1])) }
            == "subject 1 (data.train_subjects) cannot be loaded: \(betas): dataset 'betas' has 1 NaN and 2 inf "
            + "values in 3 rows: 1, 3, 4; expected finite betas (set data.nan_policy=zero to replace them by 0)")
        let tar = bad.appendingPathComponent("wds/subj03/train/0.tar").path
        #expect(message { try NSDTrainingData(config: dataConfig(bad, train: [3], test: [3])) }
            == "subject 3 (data.train_subjects) cannot be loaded: \(tar): sample 'sample000000001' refers to betas "
            + "row 6, but \(bad.appendingPathComponent("betas_all_subj03_fp32_renorm.hdf5").path) dataset 'betas' has 6 rows")
    }

    @Test func nanPolicyZeroReplacesAndCounts() throws {
        let config = try dataConfig(bad, train: [1], test: [1], overrides: ["data.nan_policy=zero"])
        #expect(config.nanPolicy == .zero)
        let data = try NSDTrainingData(config: config)
        #expect(data.replacedNonFinite == [1: 3])
        #expect(try dataConfig(nsd, train: [1], test: [1]).nanPolicy == .error)
        #expect(message { try dataConfig(nsd, train: [1], test: [1], overrides: ["data.nan_policy=drop"]) }
            == "data.nan_policy: expected error or zero, got 'drop'")
    }

    /// A test subject without its test shard used to train to the end and then crash in evaluation.
    @Test func aMissingTestShardFailsBeforeTraining() throws {
        let copy = FileManager.default.temporaryDirectory.appendingPathComponent("nsd-\(UUID().uuidString)")
        try FileManager.default.copyItem(at: nsd, to: copy)
        defer { try? FileManager.default.removeItem(at: copy) }
        try FileManager.default.removeItem(at: copy.appendingPathComponent("wds/subj02/test/0.tar"))
        #expect(message { try NSDTrainingData(config: dataConfig(copy, train: [1], test: [2])) }
            == "subject 2 (data.test_subjects) cannot be loaded: \(copy.path)/wds/subj02/new_test/0.tar: no such file "
            + "(nor \(copy.path)/wds/subj02/test/0.tar); a test subject needs its test trials")
        // a train-only subject needs no test shard
        #expect(try NSDTrainingData(config: dataConfig(copy, train: [2], test: [1])).trainTrialCount(subject: 2) == 4)
    }

    @Test func duplicateSubjectsAreAConfigError() throws {
        #expect(message { try NSDTrainingData(config: dataConfig(nsd, train: [1, 2, 1], test: [1])) }
            == "data.train_subjects: subject 1 listed more than once in [1, 2, 1]")
        var config = DataConfig()
        config.root = nsd.path
        config.trainSubjects = [1]
        config.testSubjects = [2, 2]
        #expect(message { try NSDTrainingData(config: config) }
            == "data.test_subjects: subject 2 listed more than once in [2, 2]")
    }

    /// Targets of the wrong width used to reach the loss and kill the process inside libtorch.
    @Test func targetsMustMatchTheModel() throws {
        let targets = nsd.appendingPathComponent("clip_targets.hdf5").path
        #expect(message { try NSDTrainingData(config: dataConfig(nsd, train: [1], test: [1]), targetShape: [256, 1664]) }
            == "\(targets): 'targets' has shape [10, 2, 3]; the model expects (images, 256, 1664) with at least one "
            + "image (model.clip_seq_dim, model.clip_emb_dim)")
    }

    /// Evaluation loads only the test subjects: broken train subject 3 is not read.
    @Test func evaluationSkipsTheTrainSubjects() throws {
        let config = try dataConfig(bad, train: [3], test: [1], overrides: ["data.nan_policy=zero"])
        let data = try NSDTrainingData(config: config, loadTrainSubjects: false)
        #expect(data.trainSubjects.isEmpty && data.testSubjects == [1])
        #expect(message { try NSDTrainingData(config: config) }?.hasPrefix("subject 3 (data.train_subjects)") == true)
    }
}
