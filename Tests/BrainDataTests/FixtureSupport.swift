import Foundation
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
