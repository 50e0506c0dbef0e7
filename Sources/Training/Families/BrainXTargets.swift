import BrainData
import BrainX
import Foundation
import Torch

/// VINDEX's target feature spaces as options of a BrainX run (the `targets` section): the data root's
/// targets (the single encoder, `voxelformer clip --model ViT-L-14 --output layer:-2`) aggregated with
/// further layers of the same encoder, mixed with further encoders, and pooled to nested tokens. The
/// model's output shape (`model.num_latents` × `model.out_dim`) follows from the result (docs/brainx.md).
public struct BrainXTargetsConfig: Codable, Equatable, Sendable {
    /// Targets files of further layers of the root's encoder (`voxelformer clip --output layer:N`), each
    /// (images, T, D) with rows = image ids, aggregated with the root's targets (first) by `aggregation`
    /// (VINDEX's aggregated features). A relative path is taken in `data.root`.
    public var layers: [String] = []
    public var aggregation = LayerAggregation.concat
    /// Targets files of further encoders, concatenated after the (aggregated) root targets along the
    /// feature axis (VINDEX's mixture of encoders): (B, T, D + D_1 + ...). Relative paths as `layers`.
    public var mixture: [String] = []
    /// 0: the tokens as they are. Else each source's s × s patch grid is average-pooled to this many
    /// tokens before aggregation and mixing (VINDEX's nested features): 1, 9, 36, 144 or 256.
    public var nestedTokens = 0
    /// Targets computed on the fly instead of read from the data root: the CLIP tower's weights
    /// (safetensors, as `voxelformer clip --weights` takes them); unset (the default): precomputed targets.
    public var imageEncoder: String?
    /// The tower's architecture: a built-in name (`voxelformer clip --model`), or an open_clip config JSON
    /// in `image_model_config`. OpenAI's ViT-L/14 (UMBRAE's) is ViT-L-14-quickgelu.
    public var imageModel = "ViT-L-14-quickgelu"
    public var imageModelConfig: String?
    /// Which output is the target: layer:-2 (UMBRAE's and LLaVA's penultimate layer, CLS dropped) or tokens.
    public var imageOutput = "layer:-2"
    /// The images, (N, 3, H, W) in [0, 1] with row = image id (HDF5 dataset or safetensors key `images`);
    /// unset: the data root's coco_images_224_float16.hdf5.
    public var images: String?
    /// With `image_encoder`: UMBRAE's augmentation of each training image (`ImageAugmentation`); never at evaluation.
    public var augment = true

    public init() {}

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case layers, aggregation, mixture, nestedTokens = "nested_tokens", imageEncoder = "image_encoder"
        case imageModel = "image_model", imageModelConfig = "image_model_config", imageOutput = "image_output", images, augment
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), d = BrainXTargetsConfig()
        layers = try c.get(.layers, d.layers)
        aggregation = try c.get(.aggregation, d.aggregation)
        mixture = try c.get(.mixture, d.mixture)
        nestedTokens = try c.get(.nestedTokens, d.nestedTokens)
        imageEncoder = try c.decodeIfPresent(String.self, forKey: .imageEncoder)
        imageModel = try c.get(.imageModel, d.imageModel)
        imageModelConfig = try c.decodeIfPresent(String.self, forKey: .imageModelConfig)
        imageOutput = try c.get(.imageOutput, d.imageOutput)
        images = try c.decodeIfPresent(String.self, forKey: .images)
        augment = try c.get(.augment, d.augment)
    }

    /// Whether the targets are the data root's as they are.
    public var isIdentity: Bool { layers.isEmpty && mixture.isEmpty && nestedTokens == 0 && imageEncoder == nil }

    public func validate() throws {
        if nestedTokens != 0 && !TargetSpace.nestedCounts.contains(nestedTokens) {
            throw ConfigError("targets.nested_tokens: expected 0 (the tokens as they are) or one of "
                + "\(TargetSpace.nestedCounts.map(String.init).joined(separator: ", ")), got \(nestedTokens)")
        }
        for (key, files) in [("layers", layers), ("mixture", mixture)] {
            if let empty = files.firstIndex(where: { $0.isEmpty }) {
                throw ConfigError("targets.\(key): entry \(empty) is an empty path; expected a targets file")
            }
        }
        if imageEncoder != nil && !(layers.isEmpty && mixture.isEmpty) {
            throw ConfigError("targets.image_encoder: targets computed on the fly cannot be aggregated or mixed with the "
                + "precomputed targets.layers / targets.mixture (those images would not be augmented alike); precompute "
                + "them all with `voxelformer clip`, or leave targets.layers and targets.mixture empty")
        }
    }
}

/// One targets file beside the data root's: HDF5 (dataset `targets`) or safetensors (key `targets`),
/// (images, T, D), row i for image id i, as `voxelformer clip` writes them.
final class TargetsFile: @unchecked Sendable {
    let url: URL
    private let hdf5: HDF5Dataset?
    private let whole: Tensor?
    let shape: [Int]

    init(_ url: URL, key: String) throws {
        self.url = url
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw ConfigError("\(key): \(url.path): no such file; expected a targets file written by `voxelformer clip`")
        }
        if url.pathExtension == "safetensors" {
            guard let t = try Safetensors.read(url)[NSDLayout.targetsKey] else {
                throw ConfigError("\(key): \(url.path): no tensor '\(NSDLayout.targetsKey)'")
            }
            (hdf5, whole, shape) = (nil, t, t.shape)
        } else {
            let d = try HDF5File(url).dataset(NSDLayout.targetsKey)
            (hdf5, whole, shape) = (d, nil, d.shape)
        }
        guard shape.count == 3 else {
            throw ConfigError("\(key): \(url.path): '\(NSDLayout.targetsKey)' has shape \(shape); expected (images, tokens, dim)")
        }
    }

    /// (N, T, D) float32 rows of `images`.
    func rows(_ images: [Int]) throws -> Tensor {
        if let bad = images.first(where: { $0 < 0 || $0 >= shape[0] }) {
            throw DataError("\(url.path): '\(NSDLayout.targetsKey)' has \(shape[0]) rows; image \(bad) is out of range")
        }
        if let hdf5 { return try hdf5.readRows(images).to(.float32) }
        return whole!.indexSelect(0, Tensor(images.map(Int64.init))).to(.float32)
    }
}

/// The `targets` section applied to a batch's targets: (B, T, D) of the data root and the batch's image
/// ids -> (B, T', D'), the targets the model regresses onto. The files open on first use.
final class BrainXTargets: @unchecked Sendable {
    let config: BrainXTargetsConfig
    let root: String
    /// Seeds the augmentation of targets computed on the fly (`train.seed`).
    let seed: UInt64
    private var files: (layers: [TargetsFile], mixture: [TargetsFile])?
    private var encoder: BrainXImageTargets?
    private let lock = NSLock()

    init(_ config: BrainXTargetsConfig, root: String, seed: UInt64 = 0) {
        (self.config, self.root, self.seed) = (config, root, seed)
    }

    /// The on-the-fly encoder (`targets.image_encoder`), loaded on first use.
    func imageTargets() throws -> BrainXImageTargets {
        lock.lock()
        defer { lock.unlock() }
        if let encoder { return encoder }
        let made = try BrainXImageTargets(config, root: root, seed: seed)
        encoder = made
        return made
    }

    private func url(_ path: String) -> URL {
        path.hasPrefix("/") ? URL(fileURLWithPath: path) : URL(fileURLWithPath: root).appendingPathComponent(path)
    }

    private func opened() throws -> (layers: [TargetsFile], mixture: [TargetsFile]) {
        lock.lock()
        defer { lock.unlock() }
        if let files { return files }
        let opened = (try config.layers.map { try TargetsFile(url($0), key: "targets.layers") },
                      try config.mixture.map { try TargetsFile(url($0), key: "targets.mixture") })
        files = opened
        return opened
    }

    /// base (B, T, D) float32, the data root's targets of `images` -> the configured targets. With
    /// `image_encoder` the base is computed from the images instead, augmented for a training batch (`draw`).
    func callAsFunction(_ base: Tensor, images: [Int], draw: (subject: Int, rows: [Int], epoch: Int)? = nil) throws -> Tensor {
        guard !config.isIdentity else { return base }
        let base = config.imageEncoder == nil ? base : try imageTargets()(images, draw: draw)
        let (layers, mixture) = try opened()
        let rootName = "the targets in \(root)"
        func pooled(_ tokens: Tensor, _ name: String) throws -> Tensor {
            guard config.nestedTokens > 0 else { return tokens }
            do { return try TargetSpace.nestedPool(tokens, to: config.nestedTokens, name: name) } catch let e as TargetSpaceError {
                throw ConfigError("targets.nested_tokens: \(e.message)")
            }
        }
        return try Torch.noGrad {
            var target = try pooled(base, rootName)
            if !layers.isEmpty {
                let all = [(name: rootName, tokens: target)]
                    + (try layers.map { (name: $0.url.path, tokens: try pooled(try $0.rows(images), $0.url.path)) })
                do { target = try TargetSpace.aggregate(layers: all, config.aggregation) } catch let e as TargetSpaceError {
                    throw ConfigError("targets.layers: \(e.message)")
                }
            }
            if !mixture.isEmpty {
                let all = [(name: rootName, tokens: target)]
                    + (try mixture.map { (name: $0.url.path, tokens: try pooled(try $0.rows(images), $0.url.path)) })
                do { target = try TargetSpace.mixture(all) } catch let e as TargetSpaceError {
                    throw ConfigError("targets.mixture: \(e.message)")
                }
            }
            return target
        }
    }
}

/// A `TrainingData` whose targets went through the run's `targets` section: what BrainX evaluates on.
final class BrainXTargetData: TrainingData, @unchecked Sendable {
    let base: TrainingData
    let targets: BrainXTargets

    init(_ base: TrainingData, targets: BrainXTargets) { (self.base, self.targets) = (base, targets) }

    var trainSubjects: [Int] { base.trainSubjects }
    var testSubjects: [Int] { base.testSubjects }
    func coordinates(subject: Int) throws -> Tensor { try base.coordinates(subject: subject) }
    func trainTrialCount(subject: Int) -> Int { base.trainTrialCount(subject: subject) }

    func trainBatch(_ batch: Batch) throws -> NSDBatch {
        let raw = try base.trainBatch(batch)
        func mapped(_ b: NSDBatch) throws -> NSDBatch {
            NSDBatch(subject: b.subject, voxels: b.voxels, targets: try targets(b.targets, images: b.images),
                     images: b.images, rows: b.rows)
        }
        var out = try mapped(raw)
        out.others = try raw.others.map(mapped)
        return out
    }

    func testSet(subject: Int) throws -> (voxels: Tensor, targets: Tensor, imageIDs: [Int]) {
        let t = try base.testSet(subject: subject)
        return (t.voxels, try targets(t.targets, images: t.imageIDs), t.imageIDs)
    }
}
