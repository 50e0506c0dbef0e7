import Foundation
import Testing
import Torch
@testable import Encoding

/// The PyTorch-generated fixtures beside the tests (`Fixtures/generate_encoding.py`,
/// `Fixtures/generate_flow_matching.py`).
enum Fixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    static func tensors(_ file: String) throws -> [String: Tensor] { try Safetensors.read(url(file)) }
    static func json(_ file: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url(file))) as? [String: Any])
    }
    /// Entry `key` of a JSON fixture decoded as `T` (configs decode through our own snake_case keys).
    static func decode<T: Decodable>(_ type: T.Type, _ file: String, _ key: String) throws -> T {
        let entry = try #require(try json(file)[key], "\(file) has no \(key)")
        return try JSONDecoder().decode(T.self, from: JSONSerialization.data(withJSONObject: entry, options: [.fragmentsAllowed]))
    }

    /// The tensors stored as "<prefix>.<name>", keyed by name.
    static func weights(_ cases: [String: Tensor], prefix: String) -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (key, value) in cases where key.hasPrefix(prefix + ".") { out[String(key.dropFirst(prefix.count + 1))] = value }
        return out
    }
}

/// max |actual − expected| / max |expected|: the relative error of a whole output, which stays meaningful
/// where single elements of `expected` are near zero.
func relativeError(_ actual: Tensor, _ expected: Tensor) -> Double {
    (actual.to(.float64) - expected.to(.float64)).abs().max().item() / expected.to(.float64).abs().max().item()
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
