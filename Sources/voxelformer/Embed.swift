import ArgumentParser
import Foundation
import Torch
import VoxelFormer

struct Embed: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write clip_voxels.npy (retrieval embedding) and backbone.npy (the prior's condition) for brain data.",
        discussion: """
        From a data root:   voxelformer embed --checkpoint C --subject 1 --out emb/ [data.root=...]
        From raw arrays:    voxelformer embed --checkpoint C --voxels voxels.npy --coords coords.npy --out emb/
        voxels.npy is (B, 1, V) or (B, V) float; coords.npy is (V, 3).
        """
    )

    @OptionGroup var model: ModelOptions
    @Option(help: "Embed this subject's test trials from the data root.")
    var subject: Int?
    @Option(help: "Raw voxels (B, 1, V) as .npy.")
    var voxels: String?
    @Option(help: "Voxel coordinates (V, 3) as .npy, in the form of the checkpoint's data.coordinates (raw indices, normalized or mm).")
    var coords: String?
    @Option(help: "Output folder.")
    var out: String
    @Option(help: "Trials per forward pass.")
    var batchSize = 16
    @Flag(help: "Also write prior_clip.npy: the diffusion prior's predicted CLIP tokens (DDIM sampling).")
    var prior = false
    @Option(help: "DDIM steps for --prior (default: prior.sampling_steps).")
    var steps: Int?
    @Option(help: "Classifier-free guidance scale for --prior (default: prior.guidance_scale).")
    var guidance: Double?
    @Option(help: "Seed of the prior's sampling noise.")
    var seed: UInt64 = 0

    func run() throws {
        Torch.initialise()
        let loaded = try model.load()
        if prior && loaded.prior == nil {
            throw ValidationError("--prior: \(model.checkpoint) holds no diffusion prior (train with train.use_prior=true)")
        }
        let (input, positions, ids) = try inputs(loaded)
        let outputs = Torch.noGrad { () -> (Tensor, Tensor, Tensor?) in
            let n = input.size(0)
            var clip: [Tensor] = [], backbone: [Tensor] = [], samples: [Tensor] = []
            for start in stride(from: 0, to: n, by: batchSize) {
                let r = loaded.model(input[start..<min(start + batchSize, n)], coords: positions)
                clip.append(r.clipVoxels)
                backbone.append(r.backbone)
                if prior, let p = loaded.prior {
                    samples.append(p.sample(backbone: r.backbone, steps: steps, guidanceScale: guidance,
                                            seed: seed &+ UInt64(start)))
                }
            }
            return (Tensor.cat(clip), Tensor.cat(backbone), samples.isEmpty ? nil : Tensor.cat(samples))
        }
        let dir = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        try Npy.write(outputs.0, to: dir.appendingPathComponent("clip_voxels.npy"))
        try Npy.write(outputs.1, to: dir.appendingPathComponent("backbone.npy"))
        if let samples = outputs.2 { try Npy.write(samples, to: dir.appendingPathComponent("prior_clip.npy")) }
        if let ids { try Npy.write(Tensor(ids), to: dir.appendingPathComponent("image_ids.npy")) }
        print("wrote \(dir.path)/clip_voxels.npy \(outputs.0.shape) and backbone.npy \(outputs.1.shape)")
    }

    func inputs(_ loaded: LoadedModel) throws -> (Tensor, Tensor, [Int]?) {
        if let voxels {
            guard let coords else { throw ValidationError("--voxels needs --coords (V, 3)") }
            var v = try Npy.read(URL(fileURLWithPath: voxels)).to(.float32)
            let c = try Npy.read(URL(fileURLWithPath: coords)).to(.float32)
            if v.ndim == 2 { v = v.unsqueeze(1) }
            guard v.ndim == 3, v.size(1) == 1 else {
                throw ValidationError("\(voxels): expected shape (B, 1, V) or (B, V), got \(v.shape)")
            }
            guard c.ndim == 2, c.size(1) == 3, c.size(0) == v.size(2) else {
                throw ValidationError("\(coords): expected shape (\(v.size(2)), 3) to match \(voxels)'s \(v.size(2)) voxels, got \(c.shape)")
            }
            return (v, c, nil)
        }
        guard let subject else { throw ValidationError("give --subject (with data.root) or --voxels and --coords") }
        let data = try loaded.data(subject: subject)
        let test = try data.testSet(subject: subject)
        return (test.voxels, try data.coordinates(subject: subject), test.imageIDs)
    }
}
