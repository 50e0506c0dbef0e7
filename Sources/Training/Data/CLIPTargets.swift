import BrainData
import CLIP
import Foundation
import Torch

/// Computes CLIP targets for the images of an HDF5 file (MindEye2's `coco_images_224_float16.hdf5`,
/// dataset `images`, (N, 3, H, W) in [0, 1]) and writes them as `clip_targets.hdf5`, dataset `targets`
/// (N, ...targetShape), row i for image i: the file `NSDDataset.targets` reads.
///
/// The run is resumable. Rows go to `OUT.partial` a batch at a time; after each batch is flushed,
/// `OUT.progress.json` (replaced atomically) records how many rows are in it and the settings that decided
/// their values. A later run with the same settings continues from there; one with other settings stops
/// with the differences. When the last row is written the partial file is renamed to `OUT` and the progress
/// file removed, so `OUT` exists only complete.
public struct CLIPTargetsJob {
    /// What decides the values written: a resumed run must have the same.
    public struct Settings: Codable, Equatable, Sendable {
        /// The images file (absolute path), its size in bytes, its dataset and that dataset's shape.
        public var images: String
        public var imagesBytes: Int
        public var imagesDataset: String
        public var imagesShape: [Int]
        /// Rows encoded: images 0..<count.
        public var count: Int
        /// The tower (a built-in name or a config file) and its configuration as built.
        public var model: String
        public var modelConfig: String
        public var weights: String
        public var weightsBytes: Int
        public var output: String
        public var quirk: Bool
        /// The autocast dtype of the forward pass (float32: none) and the dtype stored in the file.
        public var compute: String
        public var storage: String
        /// (count, ...targetShape).
        public var shape: [Int]

        public init(images: String, imagesBytes: Int, imagesDataset: String, imagesShape: [Int], count: Int,
                    model: String, modelConfig: String, weights: String, weightsBytes: Int, output: String,
                    quirk: Bool, compute: String, storage: String, shape: [Int]) {
            (self.images, self.imagesBytes, self.imagesDataset, self.imagesShape, self.count) =
                (images, imagesBytes, imagesDataset, imagesShape, count)
            (self.model, self.modelConfig, self.weights, self.weightsBytes) = (model, modelConfig, weights, weightsBytes)
            (self.output, self.quirk, self.compute, self.storage, self.shape) = (output, quirk, compute, storage, shape)
        }

        /// "name: then → now" for each setting that differs.
        func differences(from other: Settings) -> [String] {
            let mine = Mirror(reflecting: self).children, theirs = Mirror(reflecting: other).children
            return zip(mine, theirs).compactMap { a, b in
                let (x, y) = ("\(a.value)", "\(b.value)")
                return x == y ? nil : "\(a.label ?? "?"): \(x) → \(y)"
            }
        }
    }

    /// The progress file's content.
    struct Progress: Codable {
        var settings: Settings
        var rowsDone: Int
    }

    /// Where a run stands, for a progress display.
    public struct Status: Sendable {
        public var rowsDone: Int
        public var rows: Int
        /// Rows written by this process (not those a resumed run found) and the seconds they took.
        public var rowsThisRun: Int
        public var seconds: Double
    }

    public enum Outcome: Equatable, Sendable {
        case completed(resumedAt: Int)
        /// `shouldStop` answered true: the rows so far are saved; rerunning continues.
        case interrupted(rowsDone: Int)
    }

    public let encoder: CLIPImageEncoder
    public let images: HDF5Dataset
    public let settings: Settings
    public let out: URL
    public var batchSize = 32
    public var device: Device = .cpu
    /// The autocast dtype, or nil for float32.
    public var autocast: DType?
    public var storage: DType = .float16

    public var partial: URL { out.deletingLastPathComponent().appendingPathComponent(out.lastPathComponent + ".partial") }
    public var progressFile: URL {
        out.deletingLastPathComponent().appendingPathComponent(out.lastPathComponent + ".progress.json")
    }

    public init(encoder: CLIPImageEncoder, images: HDF5Dataset, settings: Settings, out: URL) {
        (self.encoder, self.images, self.settings, self.out) = (encoder, images, settings, out)
    }

    /// The rows a previous run left in `partial`, or nil when it starts afresh (nothing there, a partial
    /// file without a progress record, or a record of no rows). Throws when that run had other settings.
    public func rowsAlreadyWritten() throws -> Int? {
        let fm = FileManager.default
        guard fm.fileExists(atPath: progressFile.path) else { return nil }
        let progress: Progress
        do { progress = try JSONDecoder().decode(Progress.self, from: Data(contentsOf: progressFile)) } catch {
            throw DataError("\(progressFile.path): not a progress record of `voxelformer clip` (\(error)); delete it "
                + "and \(partial.lastPathComponent) to start over")
        }
        // No rows yet: nothing to keep, whatever the settings were.
        if progress.rowsDone == 0 { return nil }
        let differences = progress.settings.differences(from: settings)
        guard differences.isEmpty else {
            throw DataError("\(partial.path) was started with other settings (\(differences.joined(separator: "; "))): "
                + "rerun with the original ones to continue it, or delete it and \(progressFile.lastPathComponent) to "
                + "start over")
        }
        guard fm.fileExists(atPath: partial.path), (0...settings.count).contains(progress.rowsDone) else { return nil }
        return progress.rowsDone
    }

    /// Encodes the rows not written yet. `shouldStop` is asked after each batch; `progress` hears each one.
    public func run(shouldStop: () -> Bool = { false }, progress: (Status) -> Void = { _ in }) throws -> Outcome {
        let fm = FileManager.default
        if fm.fileExists(atPath: out.path) {
            throw DataError("\(out.path) exists already: delete it (or choose another --out) to write it again")
        }
        let writer: HDF5Writer
        let start: Int
        if let done = try rowsAlreadyWritten() {
            start = done
            writer = try HDF5Writer(updating: partial)
            try writer.openDataset(NSDLayout.targetsKey, dtype: storage, shape: settings.shape)
        } else {
            start = 0
            try? fm.removeItem(at: progressFile)
            writer = try HDF5Writer(creating: partial)
            try writer.createDataset(NSDLayout.targetsKey, dtype: storage, shape: settings.shape)
            try writer.flush()
            try record(rowsDone: 0)
        }
        let began = Date()
        var row = start
        while row < settings.count {
            let end = min(row + batchSize, settings.count)
            let targets: Tensor
            do { targets = try encode(rows: row..<end) } catch {
                // a failure before any row leaves nothing behind
                if row == 0 { try? writer.close(); try? fm.removeItem(at: partial); try? fm.removeItem(at: progressFile) }
                throw error
            }
            try writer.write(NSDLayout.targetsKey, rows: targets, at: row)
            try writer.flush()  // the rows reach the file before the record says they are there
            try record(rowsDone: end)
            row = end
            progress(Status(rowsDone: row, rows: settings.count, rowsThisRun: row - start,
                            seconds: Date().timeIntervalSince(began)))
            if row < settings.count && shouldStop() {
                try writer.close()
                return .interrupted(rowsDone: row)
            }
        }
        try writer.close()
        guard rename(partial.path, out.path) == 0 else {
            throw DataError("\(out.path): cannot rename \(partial.lastPathComponent) to it: \(String(cString: strerror(errno)))")
        }
        try? fm.removeItem(at: progressFile)
        try? fm.removeItem(atPath: progressFile.path + ".tmp")
        return .completed(resumedAt: start)
    }

    /// One batch of images to targets in the storage dtype, on the CPU. Pixels must be finite and in [0, 1].
    func encode(rows: Range<Int>) throws -> Tensor {
        let pixels = try images.readRows(rows)
        let values = pixels.to(.float32)
        let low = values.min().item(), high = values.max().item()
        guard low.isFinite, high.isFinite, low >= -1e-3, high <= 1 + 1e-3 else {
            let what = !(low.isFinite && high.isFinite) ? "non-finite pixels" : "pixel values from \(low) to \(high)"
            throw DataError("\(images.file.url.path): dataset '\(images.name)' rows \(rows.lowerBound)..<\(rows.upperBound) "
                + "hold \(what); expected images in [0, 1] like MindEye2's coco_images_224_float16.hdf5 (divide 0-255 "
                + "pixels by 255)")
        }
        let output = try Torch.autocast(device, dtype: autocast ?? .bfloat16, enabled: autocast != nil) {
            try encoder(values.to(device))
        }
        let stored = output.to(dtype: storage, device: .cpu)
        guard stored.isfinite().all().item() != 0 else {
            throw DataError("images \(rows.lowerBound)..<\(rows.upperBound) of \(images.file.url.path) give non-finite "
                + "targets in \(storage) (the weights hold NaN, or values overflow \(storage): try --storage float32)")
        }
        return stored
    }

    /// Replaces the progress record through `OUT.progress.json.tmp` renamed over it, so it is never
    /// half-written and a kill leaves no stray temporary file of another name.
    func record(rowsDone: Int) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        let temporary = progressFile.path + ".tmp"
        do {
            try encoder.encode(Progress(settings: settings, rowsDone: rowsDone)).write(to: URL(fileURLWithPath: temporary))
        } catch {
            throw DataError("\(progressFile.path): cannot write the progress record: \(error)")
        }
        guard rename(temporary, progressFile.path) == 0 else {
            throw DataError("\(progressFile.path): cannot write the progress record: \(String(cString: strerror(errno)))")
        }
    }
}
