import Foundation

/// A mistake in a configuration file or override; the message names the key and what is allowed. It
/// lives in Torch, the one target every layer above shares: model configs (VoxelFormer), run configs
/// (Training) and the CLI throw the same error.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension KeyedDecodingContainer {
    /// The value at `key`, or `fallback` (the config's default) when the key is absent: the one decoding
    /// style of every config section.
    public func get<T: Decodable>(_ key: Key, _ fallback: T) throws -> T {
        // Yams reads any integer scalar holding `:` as base 60 and traps on overflow (found by fuzzing):
        // such text is refused before it reaches that parser.
        if T.self is any FixedWidthInteger.Type || T.self is [Int].Type {
            let texts = (try? decodeIfPresent(String.self, forKey: key)).flatMap { $0.map { [$0] } }
                ?? (try? decodeIfPresent([String].self, forKey: key)).flatMap { $0 } ?? []
            if let text = texts.first(where: { $0.contains(":") }) {
                throw DecodingError.dataCorruptedError(
                    forKey: key, in: self, debugDescription: "expected an integer, found '\(text.prefix(40))'")
            }
        }
        return try decodeIfPresent(T.self, forKey: key) ?? fallback
    }
}

/// A choice-typed config key (`train.precision: bf16`): decoded from its raw string, and refused with
/// "expected a, b or c, got 'x'" (the decoding path names the key).
public protocol ConfigChoice: RawRepresentable, CaseIterable, Codable where RawValue == String {}

extension ConfigChoice {
    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = Self(rawValue: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "expected \(Self.choices), got '\(text)'"))
        }
        self = value
    }

    /// "fp32, bf16 or fp16".
    public static var choices: String {
        let names = allCases.map(\.rawValue)
        return names.count < 2 ? names.joined() : names.dropLast().joined(separator: ", ") + " or " + names.last!
    }
}
