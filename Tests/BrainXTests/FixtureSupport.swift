import Foundation
import Testing
import Torch
@testable import BrainX

/// The PyTorch-generated fixtures beside the tests (see `Fixtures/generate_brainx.py`).
enum Fixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    /// The model labels of the generator: "brainx", "brainx_norm", "brainx_act_first", "brainxs".
    static let labels = ["brainx", "brainx_norm", "brainx_act_first", "brainxs"]

    struct Entry: Decodable {
        let config: BrainXConfig
        let names: [String]
    }
    static func entries() throws -> [String: Entry] {
        try JSONDecoder().decode([String: Entry].self, from: Data(contentsOf: url("brainx_configs.json")))
    }
    /// The config of model `label`, decoded through our keys.
    static func config(_ label: String) throws -> BrainXConfig { try #require(try entries()[label]).config }
    static func weights(_ label: String) throws -> [String: Tensor] { try Safetensors.read(url("brainx_\(label).safetensors")) }
    static func cases() throws -> [String: Tensor] { try Safetensors.read(url("brainx_cases.safetensors")) }
    static func counts() throws -> [String: Int] {
        try JSONDecoder().decode([String: Int].self, from: Data(contentsOf: url("brainx_counts.json")))
    }

    /// The fixture model `label`, weights loaded strictly, in evaluation mode.
    static func model(_ label: String) throws -> any BrainXModel {
        let model = try makeBrainX(try config(label))
        try model.load(stateDict: try weights(label))
        model.eval()
        return model
    }
}

/// max |actual − expected| / max |expected|: the relative error of a whole output, which stays meaningful
/// where single elements of `expected` are near zero.
func relativeError(_ actual: Tensor, _ expected: Tensor) -> Double {
    (actual - expected).abs().max().item() / expected.abs().max().item()
}

/// Expects equal shapes and a relative error at most `tolerance`, naming the output and the error found.
func expectClose(_ actual: Tensor, _ expected: Tensor, tolerance: Double = 1e-5, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation)
{
    #expect(actual.shape == expected.shape, "\(what): shape \(actual.shape), expected \(expected.shape)",
            sourceLocation: sourceLocation)
    guard actual.shape == expected.shape else { return }
    let error = relativeError(actual, expected)
    #expect(error <= tolerance, "\(what): relative error \(error), allowed \(tolerance)", sourceLocation: sourceLocation)
}
