import BrainX
import Foundation
import Testing
import Torch
@testable import Training

/// `brainx embed --weights W --config C`: UMBRAE's weights, converted by scripts/convert_umbrae.py, build the
/// model from a config; the shapes come from the weights.
@Suite(.serialized) struct BrainXWeightsTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../BrainXTests/Fixtures").standardizedFileURL
    /// The generator's "brainx" model (subjects 1 and 3, 37 and 53 voxels, 3 tokens each, 8 latents x 32,
    /// output 24), saved as UMBRAE's `.pth` with `module.` names and converted by scripts/convert_umbrae.py.
    static let weights = fixtures.appendingPathComponent("umbrae_brainx.safetensors")

    /// The architecture only, as configs/brainx-umbrae.yaml gives UMBRAE's.
    static func configFile(depth: Int = 2) throws -> String {
        let url = temporaryDirectory().appendingPathComponent("umbrae.yaml")
        try """
        family: brainx
        model: {hidden_dim: 32, depth: \(depth), heads: 4, dim_head: 6, ff_mult: 4}
        """.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    @Test func convertedUMBRAEWeightsReproduceThePyTorchOutputs() throws {
        let family = try BrainXFamily.load(weights: Self.weights, config: try Self.configFile())
        let m = family.config.model
        #expect(m.subjects == [1, 3] && m.numVoxels == [37, 53] && m.numLatents == 8 && m.outDim == 24)
        #expect(m.useToken && m.numTokens == 3 && !m.useNorm)
        #expect(family.config.data.trainSubjects == [1, 3] && family.config.data.testSubjects == [1])
        let cases = try Safetensors.read(Self.fixtures.appendingPathComponent("brainx_cases.safetensors"))
        for (i, s) in [1, 3].enumerated() {
            let out = try Torch.noGrad { try family.predict(cases["brainx.subject\(i).voxels"]!, subject: s) }
            let expected = cases["brainx.subject\(i).output"]!
            #expect(out.shape == expected.shape)
            let error = (out - expected).abs().max().item() / expected.abs().max().item()
            #expect(error <= 1e-5, "subject \(s): relative error \(error)")
        }
    }

    @Test func weightsThatDoNotFitTheConfigAreNamed() throws {
        #expect {
            _ = try BrainXFamily.load(weights: Self.weights, config: try Self.configFile(depth: 3))
        } throws: { error in
            "\(error)".contains("perceiver.perceiver.layers.2.0.to_q.weight")
        }
        #expect(throws: ConfigError("\(Self.fixtures.path)/brainx_cases.safetensors: no tensor 'lin2.fmri1.weight'; "
            + "expected UMBRAE's BrainX weights (brainx) under its names")) {
            _ = try BrainXFamily.load(weights: Self.fixtures.appendingPathComponent("brainx_cases.safetensors"),
                                      config: try Self.configFile())
        }
    }
}
