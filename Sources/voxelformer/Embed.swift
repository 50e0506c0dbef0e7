import ArgumentParser
import BrainData
import Foundation
import Torch
import Training
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

    func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size: must be at least 1, got \(batchSize)") }
        if let guidance, !guidance.isFinite { throw ValidationError("--guidance: must be a finite number, got \(guidance)") }
        if (steps != nil || guidance != nil) && !prior { throw ValidationError("--steps and --guidance apply to --prior sampling") }
    }

    func run() throws {
        Torch.initialise()
        let loaded = try doing("loading \(model.checkpoint)") { try model.load() }
        if prior && loaded.prior == nil {
            throw ValidationError("--prior: \(model.checkpoint) holds no diffusion prior (train with train.use_prior=true)")
        }
        // NaN weights give NaN embeddings, which downstream scoring would count as ties or hits
        try Evaluator.requireFiniteWeights(model: loaded.model, prior: prior ? loaded.prior : nil, in: model.checkpoint)
        let timesteps = loaded.config.prior.timesteps
        if prior, let steps, !(2..<timesteps).contains(steps) {
            // DDIM needs two points of the schedule; the reference samples ancestrally at `timesteps` steps
            throw CommandFailure(description: "--steps: must lie in 2..<\(timesteps) (prior.timesteps), got \(steps)")
        }
        let (input, positions, ids) = try doing("reading the brain data") { try inputs(loaded) }
        let outputs = try doing("embedding \(input.size(0)) trials") { Torch.noGrad { () -> (Tensor, Tensor, Tensor?) in
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
        } }
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
            let raw = try RawVoxels.load(voxels: URL(fileURLWithPath: voxels), coordinates: URL(fileURLWithPath: coords))
            return (raw.voxels, raw.coordinates, nil)
        }
        guard let subject else { throw ValidationError("give --subject (with data.root) or --voxels and --coords") }
        let data = try loaded.data(subject: subject)
        let test = try data.testSet(subject: subject)
        return (test.voxels, try data.coordinates(subject: subject), test.imageIDs)
    }
}
