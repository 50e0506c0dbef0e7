import Foundation
import Torch
@testable import BrainData

/// The folder of fixtures written by `Fixtures/generate_fixtures.py`.
let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")

func fixture(_ path: String) -> URL { fixtures.appendingPathComponent(path) }

/// A JSON object written by the generator.
func fixtureJSON(_ path: String) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(contentsOf: fixture(path))) as! [String: Any]
}

func doubles(_ value: Any?) -> [Double] { (value as! [Any]).map { ($0 as! NSNumber).doubleValue } }
func ints(_ value: Any?) -> [Int] { (value as! [Any]).map { ($0 as! NSNumber).intValue } }

/// The message of the `DataError` that `body` throws, or nil when it throws none.
func dataErrorMessage(_ body: () throws -> Void) -> String? {
    do { try body() } catch let error as DataError { return error.message } catch { return "\(error)" }
    return nil
}

/// A fresh folder under the temporary directory; the caller removes it.
func temporaryFolder(_ label: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

/// A copy of the fixture data root `name` to break one file of, in a temporary folder.
func temporaryCopy(of name: String) throws -> URL {
    let url = try temporaryFolder(name).appendingPathComponent(name)
    try FileManager.default.copyItem(at: fixture(name), to: url)
    return url
}

/// A (1, 17) float64 `behav.npy` as the release writes it (-1 = missing), with the four columns read.
func behavNpy(image: Double, subject: Double, session: Double, row: Double) throws -> Data {
    var behav = [Double](repeating: -1, count: 17)
    (behav[0], behav[1], behav[2], behav[3], behav[5]) = (image, subject, session, 0, row)
    return try Npy.encode(Tensor(behav, shape: [1, 17]))
}

/// Writes a webdataset shard of `members` (name, data) in the order given, with our `TarWriter`.
func writeShard(_ url: URL, _ members: [(String, Data)]) throws {
    var writer = TarWriter()
    for (name, data) in members { try writer.write(name: name, data: data) }
    try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    try writer.write(to: url)
}
