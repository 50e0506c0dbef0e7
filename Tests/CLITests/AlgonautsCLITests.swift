import Foundation
import Testing

/// `voxelformer synth --algonauts` and `voxelformer data check --algonauts` through the built binary.
@Suite(.serialized) struct AlgonautsCLITests {
    @Test func synthThenCheckThenABrokenRunFails() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("algonauts-cli-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let root = dir.appendingPathComponent("synth")
        let synth = try CLI.run(["synth", "--algonauts", "tiny", "--seed", "3", "--out", root.path])
        #expect(synth.status == 0, "\(synth.summary)")
        #expect(synth.stdout.contains("noise ceiling all: "))
        #expect(synth.stdout.contains("missing run: sub-02: s01e02a"))
        let check = try CLI.run(["data", "check", "--algonauts", root.path])
        #expect(check.status == 0, "\(check.summary)")
        #expect(check.stdout.contains("sub-02 friends: 7 runs, "))
        #expect(check.stdout.contains("missing run: s01e02a: missing for sub-02 (dropped for every subject)"))
        // A shard folder that is not there: a problem naming it, exit 1.
        let features = dir.appendingPathComponent("elsewhere")
        try FileManager.default.createDirectory(at: features.appendingPathComponent("whisper"), withIntermediateDirectories: true)
        let moved = try CLI.run(["data", "check", "--algonauts", root.path, "--features", features.path])
        #expect(moved.status == 1)
        #expect(moved.stdout.contains("problem: \(features.path)/whisper/friends: no such folder"))
        let bad = try CLI.run(["synth", "--algonauts", "huge", "--out", root.path])
        #expect(bad.status != 0 && bad.errorLine == "Error: --algonauts huge: expected default or tiny")
    }
}
