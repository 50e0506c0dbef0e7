import Foundation
import Testing
@testable import Torch

/// One entry of `Fixtures/ops.json` (written by `Fixtures/generate_ops.py`): a tensor (`shape`, `dtype`,
/// `values`), a printed form (`text`) or a number (`value`).
struct FixtureEntry: Decodable {
    let shape: [Int]?
    let dtype: String?
    let values: [FixtureValue]?
    let text: String?
    let value: Double?
    let requires_grad: Bool?
    let dtype_original: String?
}

enum FixtureValue: Decodable {
    case bool(Bool)
    case number(Double)

    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) {
            self = .bool(b)
        } else if let s = try? c.decode(String.self) {
            guard let d = Double(s) else { throw DecodingError.dataCorruptedError(in: c, debugDescription: s) }
            self = .number(d)
        } else {
            self = .number(try c.decode(Double.self))
        }
    }
    var double: Double {
        switch self {
        case .bool(let b): b ? 1 : 0
        case .number(let d): d
        }
    }
}

enum Fixtures {
    static let ops: [String: FixtureEntry] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/ops.json")
        do {
            return try JSONDecoder().decode([String: FixtureEntry].self, from: Data(contentsOf: url))
        } catch {
            fatalError("cannot read \(url.path): \(error)")
        }
    }()

    static func entry(_ name: String) -> FixtureEntry {
        guard let e = ops[name] else { fatalError("ops.json has no entry \(name)") }
        return e
    }
    static func dtype(named name: String) -> DType {
        guard let d = DType.allCases.first(where: { $0.description == name }) else { fatalError("unknown dtype \(name)") }
        return d
    }
    /// The tensor stored under `name`, in its stored dtype (or `dtype` when given).
    static func tensor(_ name: String, dtype: DType? = nil) -> Tensor {
        let e = entry(name)
        guard let shape = e.shape, let values = e.values, let stored = e.dtype else { fatalError("\(name) is not a tensor") }
        let d = dtype ?? Fixtures.dtype(named: stored)
        if stored == "bool" { return Tensor(values.map { $0.double != 0 }, shape: shape).to(d) }
        if d.isFloatingPoint { return Tensor(values.map(\.double), shape: shape).to(d) }
        return Tensor(values.map { Int64($0.double) }, shape: shape).to(d)
    }
    static func text(_ name: String) -> String {
        guard let t = entry(name).text else { fatalError("\(name) has no text") }
        return t
    }
    static func number(_ name: String) -> Double {
        guard let v = entry(name).value else { fatalError("\(name) has no value") }
        return v
    }
}

/// Same shape and every element within `atol + rtol * |expected|` (NaN matches NaN). The dtype must match
/// unless `checkDType` is false.
func expectClose(_ actual: Tensor, _ expected: Tensor, rtol: Double = 1e-5, atol: Double = 1e-6,
                 checkDType: Bool = true, sourceLocation: SourceLocation = #_sourceLocation)
{
    #expect(actual.shape == expected.shape, "shape", sourceLocation: sourceLocation)
    if checkDType { #expect(actual.dtype == expected.dtype, "dtype", sourceLocation: sourceLocation) }
    guard actual.shape == expected.shape else { return }
    let a = actual.toArray(Double.self), e = expected.toArray(Double.self)
    var worst: (index: Int, a: Double, e: Double)? = nil
    for i in a.indices {
        if a[i].isNaN && e[i].isNaN { continue }
        if a[i] == e[i] { continue }
        if !(Swift.abs(a[i] - e[i]) <= atol + rtol * Swift.abs(e[i])) {
            if worst == nil || Swift.abs(a[i] - e[i]) > Swift.abs(worst!.a - worst!.e) { worst = (i, a[i], e[i]) }
        }
    }
    #expect(worst == nil, "element \(worst?.index ?? -1): \(worst?.a ?? 0) vs expected \(worst?.e ?? 0)",
            sourceLocation: sourceLocation)
}

/// Same shape, dtype and exactly the same values.
func expectEqual(_ actual: Tensor, _ expected: Tensor, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(actual.shape == expected.shape, "shape", sourceLocation: sourceLocation)
    #expect(actual.dtype == expected.dtype, "dtype", sourceLocation: sourceLocation)
    #expect(actual.toArray(Double.self) == expected.toArray(Double.self), sourceLocation: sourceLocation)
}

/// Compares against the fixture `name` (converted to the actual dtype's precision class).
func expectFixture(_ actual: Tensor, _ name: String, rtol: Double = 1e-5, atol: Double = 1e-6,
                   sourceLocation: SourceLocation = #_sourceLocation)
{
    let expected = Fixtures.tensor(name)
    if expected.dtype.isFloatingPoint {
        expectClose(actual, expected, rtol: rtol, atol: atol, sourceLocation: sourceLocation)
    } else {
        expectEqual(actual, expected, sourceLocation: sourceLocation)
    }
}

/// Seeded draws. libtorch's generator is process-wide, so `make test` runs tests one at a time
/// (`swift test --no-parallel`); the lock also keeps seeded tests of this target from interleaving.
enum SeededDraws {
    static let lock = NSLock()

    static func draw(seed: UInt64, matching expected: Tensor, _ body: () -> Tensor) -> Tensor {
        run(seed: seed, body)
    }
    /// Runs `body` right after seeding, under the lock.
    static func run<R>(seed: UInt64, _ body: () -> R) -> R {
        lock.lock()
        defer { lock.unlock() }
        Torch.manualSeed(seed)
        return body()
    }
}
