import Foundation
import Torch

/// A problem with a user's data files: the message names the file (and key) and what was expected.
public struct DataError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

extension DataError {
    /// Throws unless `url` is a regular file (or a link to one), before anything opens it: opening a FIFO
    /// for reading would block forever. `expected` says what the file should be ("an HDF5 file").
    static func checkRegularFile(_ url: URL, expected: String) throws {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw DataError("\(url.path): no such file (expected \(expected))")
        }
        if let problem = FileAccess.regularFileProblem(url.path) {
            throw DataError("\(url.path): \(problem) (expected \(expected))")
        }
    }
}
