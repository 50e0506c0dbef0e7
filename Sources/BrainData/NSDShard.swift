import Foundation
import Torch

/// Reading one webdataset shard of NSD trials: member names and `behav.npy` values are checked before
/// any becomes an index, so a stray file or a NaN, inf or 1e300 in a behaviour array is an error naming
/// the shard and the sample, never a crash or a wrong row.
extension NSDDataset {
    /// `behav.npy` columns this reader uses, with the names errors give them.
    static let behavColumns = (image: 0, subject: 1, session: 2, row: 5)
    /// Doubles hold every integer up to 2^53 exactly; anything larger is no index.
    static let largestIndex = 9_007_199_254_740_992.0

    /// The trials of one webdataset shard of `subject`, from each sample's `behav.npy`, in archive order.
    public static func trials(in shard: URL, subject: Int) throws -> [NSDTrial] {
        let samples = try samples(in: shard)
        // An empty shard is a lost session (or test set), never a valid one: NSD sessions hold 750 trials
        if samples.isEmpty {
            let size = (try? FileManager.default.attributesOfItem(atPath: shard.path)[.size] as? Int) ?? 0
            throw DataError("\(shard.path): \(size == 0 ? "an empty file" : "a tar archive with no members"); expected "
                + "webdataset samples (sample<digits>.behav.npy, ...)")
        }
        return try samples.map { key, members in
            guard let data = members["behav.npy"] else {
                throw DataError("\(shard.path): sample '\(key)' has no behav.npy member")
            }
            return try trial(behav: data, key: key, shard: shard, subject: subject)
        }
    }

    /// The members of `shard` grouped by sample key, in archive order. Every member must be named
    /// `sample<digits>.<extension>` as webdataset writes NSD shards (`sample000000123.behav.npy`).
    static func samples(in shard: URL) throws -> [(key: String, members: [String: Data])] {
        var result: [(key: String, members: [String: Data])] = []
        for member in try TarReader(shard).members() {
            let (key, ext) = TarReader.splitKey(member.name)
            let digits = key.dropFirst("sample".count)
            guard key.hasPrefix("sample"), !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }),
                  !ext.isEmpty
            else {
                throw DataError("\(shard.path): member '\(member.name)' is not named sample<digits>.<extension> "
                    + "(expected webdataset sample members such as sample000000123.behav.npy)")
            }
            if result.last?.key == key {
                guard result[result.count - 1].members[ext] == nil else {
                    throw DataError("\(shard.path): member '\(member.name)' appears twice in sample '\(key)'")
                }
                result[result.count - 1].members[ext] = member.data
            } else {
                result.append((key, [ext: member.data]))
            }
        }
        return result
    }

    /// One sample's trial: image, subject, session and betas row must be finite integers, the image and
    /// row non-negative, the session at least 1, the subject the shard's folder's. (Upper bounds need the
    /// betas and targets files: `BetasValidation.checkRows`, `NSDDataset.checkImages`.)
    static func trial(behav data: Data, key: String, shard: URL, subject: Int) throws -> NSDTrial {
        let source = "\(shard.path) member \(key).behav.npy"
        let behav: [Double]
        do {
            let array = try Npy.decode(data, source: source)
            guard array.dtype != .bool else {
                throw DataError("\(source): dtype \(array.dtype); expected float64 (1, 17)")
            }
            behav = array.to(.float64).toArray(Double.self)
        } catch let error as DataError { throw error } catch { throw DataError("\(error)") }
        let c = behavColumns
        guard behav.count > c.row else {
            throw DataError("\(shard.path): sample '\(key)' behav.npy has \(behav.count) values; expected (1, 17)")
        }
        func integer(_ column: Int, _ name: String) throws -> Int {
            let value = behav[column]
            guard value.isFinite, value == value.rounded(), abs(value) <= largestIndex else {
                throw DataError("\(shard.path): sample '\(key)' behav.npy [0, \(column)] (\(name)) is \(value); "
                    + "expected an integer")
            }
            return Int(value)
        }
        let image = try integer(c.image, "image id")
        let owner = try integer(c.subject, "subject")
        let session = try integer(c.session, "session")
        let row = try integer(c.row, "global trial")
        guard image >= 0 else {
            throw DataError("\(shard.path): sample '\(key)' behav.npy [0, 0] (image id) is \(image); "
                + "expected a 0-based image id")
        }
        guard owner == subject else {
            throw DataError("\(shard.path): sample '\(key)' behav.npy [0, 1] (subject) is \(owner); expected "
                + "\(subject), the subject whose folder holds the shard")
        }
        guard session >= 1 else {
            throw DataError("\(shard.path): sample '\(key)' behav.npy [0, 2] (session) is \(session); "
                + "expected a 1-based session")
        }
        guard row >= 0 else {
            throw DataError("\(shard.path): sample '\(key)' behav.npy [0, 5] (global trial) is \(row); "
                + "expected a 0-based betas row")
        }
        return NSDTrial(subject: subject, image: image, session: session, row: row, key: key, shard: shard)
    }
}
