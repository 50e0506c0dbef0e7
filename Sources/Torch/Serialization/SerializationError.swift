import Foundation

/// A file that cannot be read or written as a tensor file (.npy, safetensors). The message names the file
/// (or the caller-given source) and, where there is one, the tensor, and says what was expected.
public struct SerializationError: Error, CustomStringConvertible, LocalizedError, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var errorDescription: String? { message }
}
