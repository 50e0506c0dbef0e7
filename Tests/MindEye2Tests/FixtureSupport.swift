import Foundation
import Testing
import Torch
@testable import MindEye2

/// The PyTorch-generated fixtures beside the tests (see `Fixtures/generate_mindeye2.py`).
enum Fixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    static func weights() throws -> [String: Tensor] { try Safetensors.read(url("mindeye2_weights.safetensors")) }
    static func cases() throws -> [String: Tensor] { try Safetensors.read(url("mindeye2_cases.safetensors")) }
    /// "reference" (effective_blocks false) or "effective" (true), decoded through our config keys.
    static func config(_ label: String) throws -> MindEye2Config {
        let all = try JSONDecoder().decode([String: MindEye2Config].self, from: Data(contentsOf: url("mindeye2_configs.json")))
        return try #require(all[label])
    }

    /// What the generator wrote about parameters: the state dict's names in PyTorch's order, and per
    /// configuration the names whose gradient is zero (computed in float64).
    struct Gradients: Decodable {
        let names: [String]
        let zeroGradient: [String: [String]]
        enum CodingKeys: String, CodingKey { case names, zeroGradient = "zero_gradient" }
    }
    static func gradients() throws -> Gradients {
        try JSONDecoder().decode(Gradients.self, from: Data(contentsOf: url("mindeye2_gradients.json")))
    }

    /// The fixture model of configuration `label`, weights loaded strictly.
    static func model(_ label: String) throws -> MindEye2Model {
        let model = MindEye2Model(try config(label))
        try model.load(stateDict: try weights())
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
