import Foundation
import Testing

/// `voxelformer train train.profile=true`: the console names the trace and the table, and both are in the run folder.
@Suite(.serialized) struct ProfileOptionTests {
    @Test func trainSaysWhereTheProfileIsAndWritesIt() throws {
        let fx = try CLIFixture.get()
        let run = try fx.scratch("profile").appendingPathComponent("run")
        let r = try CLI.run(["train", "--config", fx.config.path, "--run-dir", run.path, "train.profile=true",
                             "train.profile_steps=2", "train.max_steps=4"], timeout: 120)
        #expect(r.status == 0, "\(r.summary)")
        let trace = run.appendingPathComponent("profile.json"), table = run.appendingPathComponent("profile.md")
        #expect(r.stdout.contains("profile: \(trace.path) (top ops in profile.md)\n"), "\(r.stdout)")
        #expect(FileManager.default.fileExists(atPath: trace.path))
        let text = try String(contentsOf: table, encoding: .utf8)
        #expect(text.hasPrefix("# Profile of training steps 2-3\n"))
    }
}
