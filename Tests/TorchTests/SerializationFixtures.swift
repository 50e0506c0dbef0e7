import Foundation
@testable import Torch

/// The arrays that Fixtures/generate_serialization.py writes, listed here by hand.
enum SerializationFixtures {
    static func url(_ name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/serialization/\(name)")
    }

    /// The .npy arrays by fixture name (`f32` is `f32.npy`), each also a tensor in
    /// torch_all_dtypes.safetensors except `empty`.
    static let npyNames = ["f32", "f16", "f64", "i64", "i32", "i16", "i8", "u8", "bool", "empty"]

    static func tensor(_ name: String) -> Tensor {
        switch name {
        case "f32": Tensor([-1.5, 0.0, 2.25, 0.001, .infinity, -0.0] as [Float], shape: [2, 3])
        case "f16": Tensor([1.0, -2.5, 65504.0] as [Float]).to(.float16)
        case "f64": Tensor((0..<17).map { Double($0) * 0.1 - 0.5 }, shape: [1, 17])
        case "i64": Tensor([Int64.min, Int64.max, 0, -1], shape: [2, 2])
        case "i32": Tensor([Int32.min, Int32.max, 7, -7])
        case "i16": Tensor([-32768, 32767, 1, -1] as [Int16], shape: [2, 1, 2])
        case "i8": Tensor([-128] as [Int8], shape: [])
        case "u8": Tensor([0, 1, 127, 128, 255] as [UInt8])
        case "bool": Tensor([true, false, false, true], shape: [2, 2])
        case "empty": Tensor.zeros([2, 0])
        case "bf16": Tensor([1.0, -2.0, 0.5, 3.140625] as [Float]).to(.bfloat16)
        default: fatalError("no fixture tensor \(name)")
        }
    }

    /// A fresh empty folder for files a test writes.
    static func temporaryFolder() throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("serialization-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    /// A deterministic generator for corrupting bytes (xorshift64).
    struct Corrupter {
        var state: UInt64
        mutating func next() -> UInt64 {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            return state
        }
        mutating func corrupt(_ data: Data, within range: Range<Int>) -> Data {
            var out = data
            for _ in 0..<(1 + Int(next() % 4)) {
                out[range.lowerBound + Int(next() % UInt64(range.count))] = UInt8(truncatingIfNeeded: next())
            }
            return out
        }
    }
}
