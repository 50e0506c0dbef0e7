import BrainData
import BrainX
import CLIP
import Foundation
import Torch

/// UMBRAE's targets computed on the fly (`targets.image_encoder`): each trial's image read from the images
/// file, augmented as UMBRAE does (`ImageAugmentation`, training batches only, with `targets.augment`), then
/// encoded by the frozen CLIP tower (`targets.image_output`, layer:-2 for UMBRAE). The draws are seeded by
/// `train.seed`, the epoch, the subject and the trial's betas row, so a resumed run sees the same images.
final class BrainXImageTargets: @unchecked Sendable {
    let encoder: CLIPImageEncoder
    let url: URL
    private let hdf5: HDF5Dataset?
    private let whole: Tensor?
    let augment: Bool
    let seed: UInt64

    init(_ config: BrainXTargetsConfig, root: String, seed: UInt64) throws {
        let vision: CLIPVisionConfig
        if let path = config.imageModelConfig {
            vision = try CLIPVisionConfig.load(URL(fileURLWithPath: path))
        } else {
            guard let builtIn = CLIPVisionConfig.builtIn[config.imageModel] else {
                throw ConfigError("targets.image_model: '\(config.imageModel)' is not built in ("
                    + CLIPVisionConfig.builtIn.keys.sorted().joined(separator: ", ") + "); give an open_clip config JSON "
                    + "in targets.image_model_config")
            }
            vision = builtIn
        }
        try vision.vision.validate()
        guard let output = CLIPOutput(config.imageOutput), output != .embedding else {
            throw ConfigError("targets.image_output: expected tokens or layer:N (layer:-2 for UMBRAE), got '\(config.imageOutput)'")
        }
        let tower = VisionTransformer(vision)
        if case .layer(let n) = output, tower.blockCount(forLayer: n) == nil {
            throw ConfigError("targets.image_output: layer:\(n), but the tower has \(vision.vision.layers) blocks, so N lies in "
                + "-\(vision.vision.layers + 1)...\(vision.vision.layers)")
        }
        let weights = URL(fileURLWithPath: config.imageEncoder ?? "")
        try requireRegularFile(weights, what: "targets.image_encoder: the CLIP tower's weights (safetensors)")
        _ = try tower.loadWeights(weights, needsProjection: false)
        encoder = CLIPImageEncoder(model: tower, output: output, quirk: false)

        let images = config.images ?? NSDLayout(root: URL(fileURLWithPath: root)).images.path
        url = images.hasPrefix("/") ? URL(fileURLWithPath: images) : URL(fileURLWithPath: root).appendingPathComponent(images)
        try requireRegularFile(url, what: "targets.images: the images, (N, 3, H, W) in [0, 1] with row = image id")
        let shape: [Int]
        if url.pathExtension == "safetensors" {
            guard let t = try Safetensors.read(url)["images"] else { throw ConfigError("targets.images: \(url.path): no tensor 'images'") }
            (hdf5, whole, shape) = (nil, t, t.shape)
        } else {
            let d = try HDF5File(url).dataset("images")
            (hdf5, whole, shape) = (d, nil, d.shape)
        }
        guard shape.count == 4, shape[1] == 3 else {
            throw ConfigError("targets.images: \(url.path): 'images' has shape \(shape); expected (N, 3, H, W) in [0, 1]")
        }
        augment = config.augment
        self.seed = seed
    }

    /// (B, 3, H, W) float32 images of `ids`.
    func images(_ ids: [Int]) throws -> Tensor {
        let count = hdf5?.shape[0] ?? whole!.size(0)
        if let bad = ids.first(where: { $0 < 0 || $0 >= count }) {
            throw DataError("\(url.path): 'images' has \(count) rows; image \(bad) is out of range")
        }
        if let hdf5 { return try hdf5.readRows(ids).to(.float32) }
        return whole!.indexSelect(0, Tensor(ids.map(Int64.init))).to(.float32)
    }

    /// The targets (B, T, D) of `ids`; with `draw` (a training batch: subject, betas rows, epoch) and
    /// `augment`, each image augmented first.
    func callAsFunction(_ ids: [Int], draw: (subject: Int, rows: [Int], epoch: Int)?) throws -> Tensor {
        var x = try images(ids)
        if augment, let draw {
            let (h, w) = (x.size(2), x.size(3))
            x = Tensor.stack(ids.indices.map { i in
                var g = SeededGenerator(seed: Self.mix([seed, UInt64(draw.epoch), UInt64(draw.subject), UInt64(draw.rows[i])]))
                return ImageAugmentation.apply(x[i], ImageAugmentation.sample(height: h, width: w, using: &g), size: h)
            })
        }
        return try encoder(x)
    }

    /// SplitMix64 over the parts: one seed per (run, epoch, subject, trial).
    static func mix(_ parts: [UInt64]) -> UInt64 {
        parts.reduce(0x9E37_79B9_7F4A_7C15) { h, p in
            var z = (h ^ p) &+ 0x9E37_79B9_7F4A_7C15
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }
}
