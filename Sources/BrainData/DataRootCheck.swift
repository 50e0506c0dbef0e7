import Foundation
import Torch

/// Validates an NSD data root (real or synthetic) without holding whole betas matrices: every subject's
/// mask against its betas columns, its betas values (NaN/inf, read a block of rows at a time), every
/// trial's behaviour values and betas row, image ids against the images, targets and `shared1000.npy`,
/// train/test separation and `COCO_73k_subj_indices.hdf5`. Problems are collected, not thrown, so one
/// run lists them all.
public struct DataRootCheck: Sendable {
    public struct Subject: Sendable, Equatable {
        public var subject: Int
        public var voxels: Int
        public var sessions: Int
        public var trainTrials: Int
        public var testTrials: Int
        public var testImages: Int
        /// Test images by how many trials show them: `[3: 300]` = 300 images seen 3 times.
        public var repeats: [Int: Int]
        /// NaN and ±inf betas, with their rows.
        public var nonFinite = BetasValidation.NonFinite()
    }

    public let root: URL
    public private(set) var subjects: [Subject] = []
    /// Rows of `coco_images_224_float16.hdf5` (nil when missing).
    public private(set) var images: Int?
    /// Shape of the CLIP targets (nil when missing).
    public private(set) var targetsShape: [Int]?
    public private(set) var sharedImages: Int?
    public private(set) var problems: [String] = []
    /// NaN and ±inf values of the CLIP targets, over the rows the trials show (rows = image ids).
    public private(set) var targetsNonFinite = BetasValidation.NonFinite()

    /// `targetShape` is the (tokens, dim) a model expects and where that comes from ("model.clip_seq_dim x
    /// model.clip_emb_dim of configs/demo.yaml"); without it a synthetic root's `synthetic_info.json` gives it.
    public init(root: URL, targetShape expected: (shape: [Int], source: String)? = nil) {
        self.root = root
        let layout = NSDLayout(root: root)
        let fm = FileManager.default
        guard fm.fileExists(atPath: root.path) else {
            problems.append("\(root.path): no such data root")
            return
        }
        images = attempt { try HDF5File(layout.images).dataset("images").shape.first }
        if fm.fileExists(atPath: layout.targetsHDF5.path) {
            targetsShape = attempt { try HDF5File(layout.targetsHDF5).dataset(NSDLayout.targetsKey).shape }
        } else if fm.fileExists(atPath: layout.targetsSafetensors.path) {
            targetsShape = attempt {
                do { return try Safetensors.read(layout.targetsSafetensors)[NSDLayout.targetsKey]?.shape }
                catch { throw DataError("\(error)") }
            }
            if targetsShape == nil && problems.isEmpty {
                problems.append("\(layout.targetsSafetensors.path): no tensor '\(NSDLayout.targetsKey)'")
            }
        } else {
            problems.append(layout.missingTargetsMessage)
        }
        var shared: Set<Int>?
        if let flags = attempt({ () throws -> Tensor in
            do { return try Npy.read(layout.shared1000) } catch { throw DataError("\(error)") }
        }) {
            let ids = flags.nonzero().toArray(Int64.self).map(Int.init)
            shared = Set(ids)
            sharedImages = ids.count
            if let images, flags.shape != [images] {
                problems.append("\(layout.shared1000.path): shape \(flags.shape); expected (\(images),), one flag per image")
            }
        }
        let present = layout.subjects()
        if present.isEmpty {
            problems.append("\(root.path): no subjects (expected betas_all_subj0S_fp32_renorm.hdf5 files)")
        }
        for s in layout.subjectsWithData() where !present.contains(s) {
            problems.append("\(layout.betas(s).path): no such file, but the root holds shards or a mask of "
                + String(format: "subj%02d", s) + "; expected its betas (trials, voxels)")
        }
        if let targetsShape, let expected = expected ?? Self.syntheticTargetShape(layout) {
            if targetsShape.count != 3 || Array(targetsShape.dropFirst()) != expected.shape {
                problems.append("\(targetsFile(layout).path): '\(NSDLayout.targetsKey)' has shape \(targetsShape); expected "
                    + "(images, \(expected.shape.map(String.init).joined(separator: ", "))), the \(expected.source)")
            }
        }
        let indices: HDF5File?
        if fm.fileExists(atPath: layout.subjectIndices.path) {
            indices = attempt { try HDF5File(layout.subjectIndices) }
        } else {
            indices = nil
            problems.append("\(layout.subjectIndices.path): no such file; expected datasets subj01, subj02, ... (the "
                + "image id of each trial), which the shards are checked against")
        }
        let limit = [images, targetsShape?.first].compactMap { $0 }.min()
        var shown = Set<Int>()
        for s in present {
            if let (row, found, seen) = attempt({ try Self.checkSubject(s, layout, imageLimit: limit, shared: shared, indices: indices) }) {
                subjects.append(row)
                problems += found
                shown.formUnion(seen)
            }
        }
        if targetsShape != nil, let limit {
            if let found = attempt({ try Self.nonFiniteTargets(layout, rows: shown.filter { $0 >= 0 && $0 < limit }) }) {
                targetsNonFinite = found
                if found.count > 0 {
                    problems.append("\(targetsFile(layout).path): '\(NSDLayout.targetsKey)' has \(found.summary) "
                        + "(rows are image ids); expected finite CLIP targets")
                }
            }
        }
    }

    private func targetsFile(_ layout: NSDLayout) -> URL {
        FileManager.default.fileExists(atPath: layout.targetsHDF5.path) ? layout.targetsHDF5 : layout.targetsSafetensors
    }

    /// (tokens, token_dim) from a synthetic root's `synthetic_info.json`, or nil for other roots.
    static func syntheticTargetShape(_ layout: NSDLayout) -> (shape: [Int], source: String)? {
        let url = layout.root.appendingPathComponent("synthetic_info.json")
        guard let data = try? Data(contentsOf: url),
              let info = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let config = info["config"] as? [String: Any],
              let tokens = config["tokens"] as? Int, let dim = config["token_dim"] as? Int else { return nil }
        return ([tokens, dim], "tokens x token_dim of \(url.path)")
    }

    /// Counts NaN and ±inf target values over `rows` (the images the trials show), reading runs of
    /// consecutive rows at most `blockRows` at a time, so real NSD's 62 GB of targets are never held.
    static func nonFiniteTargets(_ layout: NSDLayout, rows: Set<Int>) throws -> BetasValidation.NonFinite {
        var found = BetasValidation.NonFinite()
        let sorted = rows.sorted()
        if FileManager.default.fileExists(atPath: layout.targetsHDF5.path) {
            let targets = try HDF5File(layout.targetsHDF5).dataset(NSDLayout.targetsKey)
            var i = 0
            while i < sorted.count {
                var j = i + 1
                while j < sorted.count, sorted[j] == sorted[j - 1] + 1, j - i < 64 { j += 1 }
                let block = try targets.readRows(sorted[i]..<sorted[j - 1] + 1).to(.float32)
                _ = found.add(block.reshape(block.size(0), -1), start: sorted[i])
                i = j
            }
        } else {
            let all: Tensor
            do { all = try Safetensors.read(layout.targetsSafetensors)[NSDLayout.targetsKey]! } catch { throw DataError("\(error)") }
            let picked = all.indexSelect(0, Tensor(sorted.map(Int64.init))).to(.float32)
            let bad = picked.reshape(picked.size(0), -1)
            var perRow = BetasValidation.NonFinite()
            _ = perRow.add(bad, start: 0)
            found = perRow
            found.rows = perRow.rows.map { sorted[$0] }
        }
        return found
    }

    public var ok: Bool { problems.isEmpty }

    /// The subject's table row and the problems found; a problem that stops the check is thrown.
    private static func checkSubject(_ s: Int, _ layout: NSDLayout, imageLimit limit: Int?, shared: Set<Int>?,
                                     indices: HDF5File?) throws
        -> (Subject, [String], Set<Int>)
    {
        var problems: [String] = []
        let betas = try HDF5File(layout.betas(s)).dataset("betas")
        let mask = try NIfTIImage(layout.mask(s))
        try BetasValidation.checkVoxelCount(betas: betas, maskVoxels: mask.count(equalTo: 1), mask: mask.url)
        let dataset = try NSDDataset(root: layout.root)
        let train = try dataset.trainTrials(s)
        let test = try dataset.testTrials(s)
        try BetasValidation.checkRows(train + test, betas: betas)
        let name = String(format: "subj%02d", s)
        let nonFinite = try BetasValidation.nonFinite(betas)
        if nonFinite.count > 0 {
            problems.append("\(betas.file.url.path): dataset '\(betas.name)' has \(nonFinite.summary)")
        }

        var seenRows = Set<Int>()
        if let again = (train + test).first(where: { !seenRows.insert($0.row).inserted }) {
            problems.append("\(again.shard.path): sample '\(again.key)' reuses betas row \(again.row) of \(name)")
        }
        if let limit, let bad = (train + test).first(where: { $0.image < 0 || $0.image >= limit }) {
            problems.append("\(bad.shard.path): sample '\(bad.key)' shows image \(bad.image), but the images/targets "
                + "hold \(limit) rows")
        }
        if let shared {
            if let bad = train.first(where: { shared.contains($0.image) }) {
                problems.append("\(bad.shard.path): training sample '\(bad.key)' shows shared test image \(bad.image)")
            }
            if let bad = test.first(where: { !shared.contains($0.image) }) {
                problems.append("\(bad.shard.path): test sample '\(bad.key)' shows image \(bad.image), not in shared1000.npy")
            }
        }
        if let indices {
            let order = try indices.dataset(name).read().to(.int64).toArray(Int64.self)
            if let bad = (train + test).first(where: { $0.row >= order.count || order[$0.row] != Int64($0.image) }) {
                let expected = bad.row < order.count ? "\(order[bad.row])" : "nothing (\(order.count) trials)"
                problems.append("\(bad.shard.path): sample '\(bad.key)' shows image \(bad.image) at trial \(bad.row), but "
                    + "\(layout.subjectIndices.lastPathComponent) '\(name)' lists \(expected)")
            }
        }
        let perImage = Dictionary(grouping: test, by: \.image).mapValues(\.count)
        let repeats = Dictionary(grouping: perImage.values, by: { $0 }).mapValues(\.count)
        let row = Subject(subject: s, voxels: betas.shape[1], sessions: layout.sessions(s), trainTrials: train.count,
                          testTrials: test.count, testImages: perImage.count, repeats: repeats, nonFinite: nonFinite)
        return (row, problems, Set((train + test).map(\.image)))
    }

    private mutating func attempt<T>(_ body: () throws -> T?) -> T? {
        do { return try body() } catch let error as DataError {
            problems.append(error.message)
        } catch {
            problems.append("\(error)")
        }
        return nil
    }

    /// The report `voxelformer data check` prints.
    public var report: String {
        var lines = ["data root: \(root.path)"]
        let header = ["subject", "voxels", "sessions", "train trials", "test trials", "test images", "non-finite",
                      "repeats"]
        let rows = subjects.map { s -> [String] in
            let histogram = s.repeats.keys.sorted().map { "\($0)x\(s.repeats[$0]!)" }.joined(separator: " ")
            return [String(format: "subj%02d", s.subject), "\(s.voxels)", "\(s.sessions)", "\(s.trainTrials)",
                    "\(s.testTrials)", "\(s.testImages)", "\(s.nonFinite.count)", histogram]
        }
        let widths = header.indices.map { c in ([header] + rows).map { $0[c].count }.max()! }
        for row in [header] + rows {
            lines.append(row.indices.map { row[$0].padding(toLength: widths[$0], withPad: " ", startingAt: 0) }
                .joined(separator: "  ").trimmingCharacters(in: .whitespaces))
        }
        lines.append("images: \(images.map(String.init) ?? "missing"), targets: "
            + "\(targetsShape.map { "\($0)" } ?? "missing"), shared test images: \(sharedImages.map(String.init) ?? "missing")")
        lines.append("non-finite: NaN or inf betas values; repeats: test images by number of trials "
            + "(3x300 = 300 images seen 3 times)")
        if problems.isEmpty {
            lines.append("problems: none")
        } else {
            lines.append("problems (\(problems.count)):")
            lines += problems.map { "  - " + $0 }
        }
        return lines.joined(separator: "\n")
    }
}
