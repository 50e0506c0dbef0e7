import Foundation
import Torch

/// One fMRI trial, as a webdataset sample's `behav.npy` (1, 17) describes it.
public struct NSDTrial: Sendable, Equatable {
    public let subject: Int
    /// 0-based NSD 73k image id (`behav[0, 0]`): the row in the images and targets files.
    public let image: Int
    /// 1-based session (`behav[0, 2]`).
    public let session: Int
    /// Global trial index (`behav[0, 5]`): the row in the subject's betas file.
    public let row: Int
    /// The sample key and the shard it came from (for error messages).
    public let key: String
    public let shard: URL
}

/// The repeats of one test image, for MindEye2's output averaging.
public struct NSDTestImage: Sendable, Equatable {
    public let image: Int
    public let trials: [NSDTrial]
}

/// What loading does with NaN or ±inf betas (the config's `data.nan_policy`).
public enum NaNPolicy: String, Codable, Sendable, CaseIterable {
    /// Refuse the subject, naming the rows.
    case error
    /// Replace them by 0 and count them (`NSDSubject.replacedNonFinite`).
    case zero

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let policy = NaNPolicy(rawValue: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                    debugDescription: "expected error or zero, got '\(text)'"))
        }
        self = policy
    }
}

/// Choices made when loading a subject.
public struct NSDOptions: Sendable {
    /// The dtype betas are kept in memory as (`.bfloat16` or `.float16` halve it); batches are float32.
    public var betasDType: DType
    public var nanPolicy: NaNPolicy
    /// Train on the first this many sessions (shards `0.tar` ...) of each subject; nil for all. The test set
    /// is the whole of `new_test` whatever the count (MindEye2's "1 hour" is 1 session).
    public var sessions: Int?

    public init(betasDType: DType = .float32, nanPolicy: NaNPolicy = .error, sessions: Int? = nil) {
        self.betasDType = betasDType
        self.nanPolicy = nanPolicy
        self.sessions = sessions
    }
}

/// One subject, loaded and validated: the betas matrix, the voxel coordinates of its columns, its trials.
public final class NSDSubject: @unchecked Sendable {
    public let subject: Int
    /// (trials, V) in `NSDOptions.betasDType`; row = global trial, column = nsdgeneral voxel.
    public let betas: Tensor
    /// (V, 3) int64 raw (i, j, k) of column `v`, in `np.argwhere(mask == 1)` order.
    public let coordinates: Tensor
    /// (V, 3) float32, `coordinates` through the mask's affine.
    public let millimetres: Tensor
    /// (V, 3) float32, `coordinates` scaled by the mask's grid to [-1, 1].
    public let normalized: Tensor
    public let trainTrials: [NSDTrial]
    /// `new_test/0.tar` (else `test/0.tar`), each repeat its own trial.
    public let testTrials: [NSDTrial]
    /// NaN/inf betas replaced by 0 under `NaNPolicy.zero` (0 otherwise).
    public let replacedNonFinite: Int

    init(subject: Int, betas: Tensor, coordinates: Tensor, millimetres: Tensor, normalized: Tensor,
         trainTrials: [NSDTrial], testTrials: [NSDTrial], replacedNonFinite: Int) {
        self.subject = subject
        self.betas = betas
        self.coordinates = coordinates
        self.millimetres = millimetres
        self.normalized = normalized
        self.trainTrials = trainTrials
        self.testTrials = testTrials
        self.replacedNonFinite = replacedNonFinite
    }

    public var voxelCount: Int { betas.size(1) }

    /// (V, 3) float32 positions of the columns in the form `kind` names (`data.coordinates`).
    public func positions(_ kind: VoxelCoordinates) -> Tensor {
        switch kind {
        case .raw: coordinates.to(.float32)
        case .normalized: normalized
        case .mm: millimetres
        }
    }

    /// The betas rows of `trials`, shape (B, V) float32.
    public func voxels(_ trials: [NSDTrial]) -> Tensor {
        betas.indexSelect(0, Tensor(trials.map { Int64($0.row) })).to(.float32)
    }

    /// Test trials grouped by image (ascending id), repeats in shard order.
    public var testImages: [NSDTestImage] {
        Dictionary(grouping: testTrials, by: \.image).map { NSDTestImage(image: $0.key, trials: $0.value) }
            .sorted { $0.image < $1.image }
    }
}

/// The Natural Scenes Dataset under one data root, laid out as `NSDLayout` describes. Subjects are loaded
/// on first use (the betas once, kept in memory) and cached.
public final class NSDDataset: @unchecked Sendable {
    public let layout: NSDLayout
    public let options: NSDOptions
    /// Subjects whose betas file is present, ascending.
    public let subjects: [Int]
    private let lock = NSLock()
    private var loaded: [Int: NSDSubject] = [:]
    private var targetsFile: HDF5Dataset?
    private var targetsTensor: Tensor?

    public init(root: URL, options: NSDOptions = NSDOptions()) throws {
        layout = NSDLayout(root: root)
        self.options = options
        guard FileManager.default.fileExists(atPath: root.path) else {
            throw DataError("\(root.path): no such data root")
        }
        subjects = layout.subjects()
        guard !subjects.isEmpty else {
            throw DataError("\(root.path): no subjects (expected betas_all_subj0S_fp32_renorm.hdf5 files)")
        }
    }

    /// Sessions = training shards present for `subject`.
    public func sessions(_ subject: Int) -> Int { layout.sessions(subject) }

    /// Training trials in shard (session) order, then sample order within a shard.
    public func trainTrials(_ subject: Int) throws -> [NSDTrial] {
        let shards = layout.trainShards(subject)
        guard !shards.isEmpty else {
            throw DataError("\(layout.trainFolder(subject).path): no training shards (expected {k}.tar per session)")
        }
        // Sessions are numbered 0.tar, 1.tar, ...: a gap is a lost session, which would train on less data silently
        let numbers = shards.map { Int($0.deletingPathExtension().lastPathComponent)! }
        if let gap = (0..<numbers.count).first(where: { numbers[$0] != $0 }) {
            throw DataError("\(layout.trainFolder(subject).appendingPathComponent("\(gap).tar").path): no such file, "
                + "but \(layout.trainFolder(subject).path) holds \(numbers.last!).tar; expected the sessions' shards "
                + "0.tar to \(numbers.last!).tar without gaps")
        }
        if let sessions = options.sessions, sessions > shards.count {
            throw DataError("\(layout.trainFolder(subject).path): data.sessions is \(sessions), but subject \(subject) has "
                + "\(shards.count) training session\(shards.count == 1 ? "" : "s") (0.tar to \(shards.count - 1).tar)")
        }
        return try shards.prefix(options.sessions ?? shards.count).flatMap { try NSDDataset.trials(in: $0, subject: subject) }
    }

    /// Training trials per subject (from the shards alone, without loading betas): the sampler's input.
    public func trainTrialCounts() throws -> [Int: Int] {
        Dictionary(uniqueKeysWithValues: try subjects.map { ($0, try trainTrials($0).count) })
    }

    /// Test trials from `new_test/0.tar`, else `test/0.tar`.
    public func testTrials(_ subject: Int) throws -> [NSDTrial] {
        guard let shard = layout.testShard(subject) else {
            throw DataError("\(layout.newTest(subject).path): no such file (nor \(layout.oldTest(subject).path))")
        }
        return try NSDDataset.trials(in: shard, subject: subject)
    }

    /// The subject's betas, coordinates and trials, validated (see `BetasValidation`); loaded once.
    public func subject(_ subject: Int) throws -> NSDSubject {
        lock.lock()
        defer { lock.unlock() }
        if let s = loaded[subject] { return s }
        let betasFile = try HDF5File(layout.betas(subject))
        let betas = try betasFile.dataset("betas")
        let mask = try NIfTIImage(layout.mask(subject))
        let coordinates = mask.maskCoordinates(equalTo: 1)  // (V, 3)
        try BetasValidation.checkVoxelCount(betas: betas, maskVoxels: coordinates.size(0), mask: mask.url)
        let train = try trainTrials(subject)
        let test = layout.testShard(subject) == nil ? [] : try testTrials(subject)
        try BetasValidation.checkRows(train + test, betas: betas)
        if hasTargets() { try checkImages(train + test) }
        let (matrix, replaced) = try BetasValidation.load(betas, dtype: options.betasDType, nanPolicy: options.nanPolicy)
        let s = NSDSubject(subject: subject, betas: matrix, coordinates: coordinates,
                           millimetres: mask.millimetres(coordinates), normalized: mask.normalized(coordinates),
                           trainTrials: train, testTrials: test, replacedNonFinite: replaced)
        loaded[subject] = s
        return s
    }

    /// CLIP targets of `images` (0-based 73k ids), shape (N, tokens, dim) float32. Read from
    /// `clip_targets.hdf5` (dataset `targets`, row = image id, read row by row as needed) or else
    /// `clip_targets.safetensors` (key `targets`, loaded whole once).
    public func targets(_ images: [Int]) throws -> Tensor {
        lock.lock()
        defer { lock.unlock() }
        try openTargets()
        if let file = targetsFile { return try file.readRows(images).to(.float32) }
        let all = targetsTensor!
        if let bad = images.first(where: { $0 < 0 || $0 >= all.size(0) }) {
            throw DataError("\(layout.targetsSafetensors.path): tensor 'targets' has \(all.size(0)) rows; "
                + "row \(bad) is out of range")
        }
        return all.indexSelect(0, Tensor(images.map(Int64.init))).to(.float32)
    }

    /// The CLIP targets' shape, (images, tokens, dim), and the file it was read from.
    public func targetsShape() throws -> (shape: [Int], file: URL) {
        lock.lock()
        defer { lock.unlock() }
        return try unlockedTargetsShape()
    }

    private func unlockedTargetsShape() throws -> (shape: [Int], file: URL) {
        try openTargets()
        if let file = targetsFile { return (file.shape, layout.targetsHDF5) }
        return (targetsTensor!.shape, layout.targetsSafetensors)
    }

    /// Whether a targets file is present (so that `checkImages` can run).
    func hasTargets() -> Bool {
        let fm = FileManager.default
        return fm.fileExists(atPath: layout.targetsHDF5.path) || fm.fileExists(atPath: layout.targetsSafetensors.path)
    }

    /// Every trial's image must have a targets row (the images are checked by `DataRootCheck`). The
    /// caller holds `lock`.
    private func checkImages(_ trials: [NSDTrial]) throws {
        let (shape, file) = try unlockedTargetsShape()
        guard shape.count == 3, shape[0] > 0 else {
            throw DataError("\(file.path): '\(NSDLayout.targetsKey)' has shape \(shape); expected (images, tokens, dim) "
                + "with at least one image")
        }
        if let bad = trials.first(where: { $0.image >= shape[0] }) {
            throw DataError("\(bad.shard.path): sample '\(bad.key)' shows image \(bad.image), but \(file.path) "
                + "'\(NSDLayout.targetsKey)' has \(shape[0]) rows")
        }
    }

    /// Opens the targets file once (the caller holds `lock`).
    private func openTargets() throws {
        if targetsFile == nil && targetsTensor == nil {
            let fm = FileManager.default
            if fm.fileExists(atPath: layout.targetsHDF5.path) {
                targetsFile = try HDF5File(layout.targetsHDF5).dataset(NSDLayout.targetsKey)
            } else if fm.fileExists(atPath: layout.targetsSafetensors.path) {
                let tensors: [String: Tensor]
                do { tensors = try Safetensors.read(layout.targetsSafetensors) } catch { throw DataError("\(error)") }
                guard let t = tensors[NSDLayout.targetsKey] else {
                    throw DataError("\(layout.targetsSafetensors.path): no tensor '\(NSDLayout.targetsKey)' "
                        + "(keys present: \(tensors.keys.sorted().joined(separator: ", ")))")
                }
                targetsTensor = t
            } else {
                throw DataError(layout.missingTargetsMessage)
            }
        }
    }

    /// Pixels of `images` (0-based 73k ids) from `coco_images_224_float16.hdf5`, shape (N, 3, H, W) float16.
    public func images(_ images: [Int]) throws -> Tensor {
        try HDF5File(layout.images).dataset("images").readRows(images)
    }

    /// The 0-based ids of the shared test images (`shared1000.npy`).
    public func sharedImages() throws -> [Int] {
        let url = layout.shared1000
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw DataError("\(url.path): no such file (expected bool (73000,))")
        }
        let flags: Tensor
        do { flags = try Npy.read(url) } catch { throw DataError("\(error)") }
        guard flags.ndim == 1 else { throw DataError("\(url.path): shape \(flags.shape); expected bool (73000,)") }
        return flags.nonzero().toArray(Int64.self).map(Int.init)
    }
}
