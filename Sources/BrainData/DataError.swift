import Foundation

/// A problem with a user's data files: the message names the file (and key) and what was expected.
public struct DataError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}
