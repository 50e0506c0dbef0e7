import Foundation
import Testing
import Torch
@testable import BrainData

/// Shards written in the test with our `TarWriter`: every bad behaviour value or member name is an error
/// naming the shard and the sample, never a crash (`Int(Double.nan)` traps) or a wrong index.
@Suite struct NSDShardTests {
    /// The trials of a one-sample shard of subject 1 whose behav.npy holds these columns.
    func trials(image: Double = 3, subject: Double = 1, session: Double = 1, row: Double = 4) throws
        -> (URL, Result<[NSDTrial], DataError>)
    {
        let dir = try temporaryFolder("shard")
        let shard = dir.appendingPathComponent("0.tar")
        try writeShard(shard, [("sample000000007.behav.npy",
                                try behavNpy(image: image, subject: subject, session: session, row: row))])
        defer { try? FileManager.default.removeItem(at: dir) }
        do { return (shard, .success(try NSDDataset.trials(in: shard, subject: 1))) } catch let error as DataError {
            return (shard, .failure(error))
        }
    }

    func message(_ outcome: (URL, Result<[NSDTrial], DataError>)) -> String? {
        if case .failure(let error) = outcome.1 { return error.message }
        return nil
    }

    @Test func validBehaviourGivesTheTrial() throws {
        let (shard, result) = try trials(image: 3, subject: 1, session: 2, row: 4)
        #expect(try result.get() == [NSDTrial(subject: 1, image: 3, session: 2, row: 4, key: "sample000000007", shard: shard)])
    }

    @Test(arguments: [(Double.nan, "nan"), (.infinity, "inf"), (-.infinity, "-inf"), (1e300, "1e+300"), (2.5, "2.5")])
    func nonIntegralImageIdsAreErrors(value: Double, shown: String) throws {
        let outcome = try trials(image: value)
        #expect(message(outcome) == "\(outcome.0.path): sample 'sample000000007' behav.npy [0, 0] (image id) is "
            + "\(shown); expected an integer")
    }

    @Test func everyUsedColumnIsChecked() throws {
        var outcome = try trials(row: .nan)
        #expect(message(outcome) == "\(outcome.0.path): sample 'sample000000007' behav.npy [0, 5] (global trial) is "
            + "nan; expected an integer")
        outcome = try trials(session: .infinity)
        #expect(message(outcome) == "\(outcome.0.path): sample 'sample000000007' behav.npy [0, 2] (session) is "
            + "inf; expected an integer")
        outcome = try trials(subject: 1.5)
        #expect(message(outcome) == "\(outcome.0.path): sample 'sample000000007' behav.npy [0, 1] (subject) is "
            + "1.5; expected an integer")
        // 2^53 + 2 is an exact double but no index a file can have.
        outcome = try trials(row: 9_007_199_254_740_994)
        #expect(message(outcome) == "\(outcome.0.path): sample 'sample000000007' behav.npy [0, 5] (global trial) is "
            + "9.007199254740994e+15; expected an integer")
    }

    @Test func valuesOutOfRangeAreErrors() throws {
        var outcome = try trials(image: -1)
        #expect(message(outcome) == "\(outcome.0.path): sample 'sample000000007' behav.npy [0, 0] (image id) is -1; "
            + "expected a 0-based image id")
        outcome = try trials(subject: 2)
        #expect(message(outcome) == "\(outcome.0.path): sample 'sample000000007' behav.npy [0, 1] (subject) is 2; "
            + "expected 1, the subject whose folder holds the shard")
        outcome = try trials(session: 0)
        #expect(message(outcome) == "\(outcome.0.path): sample 'sample000000007' behav.npy [0, 2] (session) is 0; "
            + "expected a 1-based session")
        outcome = try trials(row: -3)
        #expect(message(outcome) == "\(outcome.0.path): sample 'sample000000007' behav.npy [0, 5] (global trial) is -3; "
            + "expected a 0-based betas row")
    }

    @Test(arguments: ["sample000000123", "x/sample1.behav.npy", "sample.behav.npy", "sampleX1.behav.npy",
                      "__key__.behav.npy", "sample12"])
    func membersOutsideTheSampleNamingAreRejected(name: String) throws {
        let dir = try temporaryFolder("shard")
        defer { try? FileManager.default.removeItem(at: dir) }
        let shard = dir.appendingPathComponent("0.tar")
        let behav = try behavNpy(image: 3, subject: 1, session: 1, row: 4)
        try writeShard(shard, [("sample000000001.behav.npy", behav), (name, behav)])
        #expect(dataErrorMessage { _ = try NSDDataset.trials(in: shard, subject: 1) }
            == "\(shard.path): member '\(name)' is not named sample<digits>.<extension> (expected webdataset sample "
            + "members such as sample000000123.behav.npy)")
    }

    @Test func aMemberTwiceInOneSampleIsAnError() throws {
        let dir = try temporaryFolder("shard")
        defer { try? FileManager.default.removeItem(at: dir) }
        let shard = dir.appendingPathComponent("0.tar")
        let behav = try behavNpy(image: 3, subject: 1, session: 1, row: 4)
        try writeShard(shard, [("sample1.behav.npy", behav), ("sample1.behav.npy", behav)])
        #expect(dataErrorMessage { _ = try NSDDataset.trials(in: shard, subject: 1) }
            == "\(shard.path): member 'sample1.behav.npy' appears twice in sample 'sample1'")
    }

    @Test func aBoolBehaviourArrayIsAnError() throws {
        let dir = try temporaryFolder("shard")
        defer { try? FileManager.default.removeItem(at: dir) }
        let shard = dir.appendingPathComponent("0.tar")
        try writeShard(shard, [("sample1.behav.npy", try Npy.encode(Tensor([Bool](repeating: true, count: 17))))])
        #expect(dataErrorMessage { _ = try NSDDataset.trials(in: shard, subject: 1) }
            == "\(shard.path) member sample1.behav.npy: dtype bool; expected float64 (1, 17)")
    }

    /// The image must have a CLIP targets row: fixture `nsd` has 10 images.
    @Test func imagesPastTheTargetsAreErrors() throws {
        let root = try temporaryCopy(of: "nsd")
        defer { try? FileManager.default.removeItem(at: root.deletingLastPathComponent()) }
        let shard = root.appendingPathComponent("wds/subj02/train/0.tar")
        try writeShard(shard, [("sample000000000.behav.npy", try behavNpy(image: 10, subject: 2, session: 1, row: 3))])
        #expect(dataErrorMessage { _ = try NSDDataset(root: root).subject(2) }
            == "\(shard.path): sample 'sample000000000' shows image 10, but \(root.path)/clip_targets.hdf5 'targets' "
            + "has 10 rows")
    }

    /// `data check` reports the same errors as problems instead of crashing.
    @Test func dataCheckReportsBadBehaviour() throws {
        let root = try temporaryCopy(of: "nsd")
        defer { try? FileManager.default.removeItem(at: root.deletingLastPathComponent()) }
        let shard = root.appendingPathComponent("wds/subj02/train/0.tar")
        try writeShard(shard, [("sample000000000.behav.npy", try behavNpy(image: 1e300, subject: 2, session: 1, row: 3))])
        let check = DataRootCheck(root: root)
        #expect(check.problems == [noIndices(root), "\(shard.path): sample 'sample000000000' behav.npy [0, 0] (image id) "
            + "is 1e+300; expected an integer"])
        #expect(check.subjects.map(\.subject) == [1])
    }
}
