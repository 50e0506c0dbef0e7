import Foundation
import Testing
import Torch

/// `voxelformer info` counts BrainX per module from the shapes, and `brainx embed --weights` names what it needs.
@Suite struct BrainXInfoTests {
    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    static func collapsed(_ text: String) -> [String] {
        text.split(separator: "\n").map { $0.split(separator: " ").joined(separator: " ") }
    }

    /// The notes' counts (umbrae-vindex.md B2) for UMBRAE's preset, and BrainXC's trainable share.
    @Test func infoCountsUMBRAEsBrainXPerModule() throws {
        let preset = Self.repository.appendingPathComponent("configs/brainx-umbrae.yaml").path
        let r = try CLI.run(["info", "--config", preset])
        #expect(r.status == 0, "\(r.summary)")
        let lines = Self.collapsed(r.stdout)
        #expect(lines.contains("lin1.fmri1 + lin2.fmri1 (subject 1, 15,724 voxels) 16,102,912"), "\(r.stdout)")
        #expect(lines.contains("lin1.fmri7 + lin2.fmri7 (subject 7, 12,682 voxels) 12,987,904"))
        #expect(lines.contains("perceiver.perceiver (resampler) 88,382,464"))
        #expect(lines.contains("perceiver (ln_vision + resampler + llm_proj) 89,434,112"))
        #expect(lines.contains("total 146,500,608"))

        let adapted = try CLI.run(["info", "--config", preset, "model.variant=brainxc", "model.freeze_perceiver=true",
                                   "data.train_subjects=[7]", "data.test_subjects=[7]"])
        let more = Self.collapsed(adapted.stdout)
        #expect(more.contains("total 102,422,016") && more.contains("trainable (perceiver frozen) 12,987,904"), "\(adapted.stdout)")
        let nested = try CLI.run(["info", "--config", preset, "targets.nested_tokens=9"])
        #expect(nested.stdout.contains("output 9 x 1024"), "\(nested.stdout)")
    }

    @Test func embedWithWeightsNeedsAConfig() throws {
        let r = try CLI.run(["brainx", "embed", "--weights", "w.safetensors", "--out", "/tmp/none"])
        #expect(r.status != 0 && !r.signalled)
        #expect(r.errorLine == "Error: --weights: needs --config, the run config giving the architecture (configs/brainx-umbrae.yaml)")
    }
}
