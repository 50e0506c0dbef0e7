import Foundation
import Testing
import Torch

/// The PyTorch-generated fixtures beside the tests (see `Fixtures/generate_fixtures.py`).
enum Fixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }

    /// A JSON fixture whose snake_case keys map to camelCase properties.
    static func decode<T: Decodable>(_: T.Type, _ name: String) throws -> T {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        return try decoder.decode(T.self, from: Data(contentsOf: url(name)))
    }
}

/// Expects `actual` to hold `expected` element-wise within `atol + rtol·|expected|`, naming the worst element.
func expectClose(_ actual: Tensor, _ expected: [Double], atol: Double, rtol: Double, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation)
{
    let values = actual.toArray(Double.self)
    #expect(values.count == expected.count, "\(what): \(values.count) values, expected \(expected.count)",
            sourceLocation: sourceLocation)
    guard values.count == expected.count else { return }
    var worst = (index: -1, excess: 0.0)
    for (i, (a, e)) in zip(values, expected).enumerated() {
        let excess = Swift.abs(a - e) - (atol + rtol * Swift.abs(e))
        if !(excess <= worst.excess) { worst = (i, excess.isNaN ? .infinity : excess) }
    }
    #expect(worst.index < 0,
            "\(what): element \(worst.index) is \(worst.index < 0 ? 0 : values[worst.index]), expected \(worst.index < 0 ? 0 : expected[worst.index])",
            sourceLocation: sourceLocation)
}

func expectClose(_ actual: Tensor, _ expected: Tensor, atol: Double, rtol: Double, _ what: String,
                 sourceLocation: SourceLocation = #_sourceLocation)
{
    #expect(actual.shape == expected.shape, "\(what): shape", sourceLocation: sourceLocation)
    expectClose(actual, expected.toArray(Double.self), atol: atol, rtol: rtol, what, sourceLocation: sourceLocation)
}
