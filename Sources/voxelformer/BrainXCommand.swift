import ArgumentParser
import BrainX
import Foundation
import Torch
import Training

/// `voxelformer brainx ...`: what UMBRAE's BrainX offers besides training (which `train` runs).
struct BrainXCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "brainx",
        abstract: "UMBRAE's BrainX: tokens for a multimodal LLM from a trained run (train it with train --config configs/brainx-demo.yaml).",
        subcommands: [BrainXEmbed.self]
    )
}

struct BrainXEmbed: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Write the predicted tokens of every test subject's test trials as .npy, and with --mm-projector the tokens LLaVA consumes.",
        discussion: """
        voxelformer brainx embed --checkpoint runs/brainx-demo/checkpoint.safetensors --out tokens/
        Per test subject s: subj0s_tokens.npy (N, num_latents, out_dim) float32 and subj0s_image_ids.npy (N) int64,
        and with --mm-projector subj0s_projected.npy (N, num_latents, 4096): the embeddings that replace LLaVA's
        <im_patch> tokens (docs/brainx.md). --average-repeats averages each image's repeated trials before the
        model, as UMBRAE's inference does (one row per image).
        UMBRAE's own weights: convert its .pth in Python (python scripts/convert_umbrae.py last.pth brainx.safetensors),
        then --weights brainx.safetensors --config configs/brainx-umbrae.yaml (the architecture; the subjects, voxels,
        latents and output width are read from the weights).
        """
    )

    @Option(help: "A BrainX training checkpoint (its config comes along).")
    var checkpoint: String?
    @Option(help: "UMBRAE's weights as safetensors (scripts/convert_umbrae.py), with --config.")
    var weights: String?
    @Option(help: "The run config that goes with --weights (configs/brainx-umbrae.yaml).")
    var config: String?
    @Option(help: "Output folder.")
    var out: String
    @Option(help: "LLaVA's mm_projector weights as safetensors (mm_projector.bin converted, or a whole checkpoint).")
    var mmProjector: String?
    @Flag(help: "Average each test image's repeated trials before the model (one row per image).")
    var averageRepeats = false
    @Option(help: "Trials per forward pass.")
    var batchSize = 16
    @Argument(help: "Dotted overrides of the checkpoint's config (data.root=..., data.test_subjects=[1]).")
    var overrides: [String] = []

    func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size: must be at least 1, got \(batchSize)") }
        if (checkpoint == nil) == (weights == nil) {
            throw ValidationError("give --checkpoint (a training checkpoint) or --weights with --config (UMBRAE's weights), not both")
        }
        if weights != nil && config == nil {
            throw ValidationError("--weights: needs --config, the run config giving the architecture (configs/brainx-umbrae.yaml)")
        }
        if checkpoint != nil && config != nil {
            throw ValidationError("--config: goes with --weights; a checkpoint brings its own config (change it with overrides)")
        }
    }

    func run() throws {
        Torch.initialise()
        let family: BrainXFamily
        if let checkpoint {
            family = try doing("loading \(checkpoint)") { try BrainXFamily.load(checkpoint: URL(fileURLWithPath: checkpoint), overrides: overrides) }
        } else {
            family = try doing("loading \(weights!)") {
                try BrainXFamily.load(weights: URL(fileURLWithPath: weights!), config: config, overrides: overrides)
            }
        }
        let projector = try mmProjector.map { path in try doing("loading \(path)") { try MMProjector.load(contentsOf: URL(fileURLWithPath: path)) } }
        let width = family.config.model.outDim
        if let projector, let path = mmProjector, projector.inDim != width {
            throw CommandFailure(description: "--mm-projector: \(path) projects \(projector.inDim)-wide tokens, but the model "
                + "predicts \(width)-wide ones (model.out_dim)")
        }
        var dataConfig = family.config.data
        dataConfig.trainSubjects = dataConfig.testSubjects
        let data = try doing("loading the data in \(dataConfig.root)") {
            try NSDTrainingData(config: dataConfig, targetShape: [], loadTrainSubjects: false)  // any targets: only the voxels are used
        }
        let dir = URL(fileURLWithPath: out)
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        for s in data.testSubjects {
            let (tokens, ids) = try doing("embedding subject \(s)'s test trials") {
                try family.testTokens(data: data, subject: s, batchSize: batchSize, averageRepeats: averageRepeats)
            }
            let name = String(format: "subj%02d", s)
            try Npy.write(tokens, to: dir.appendingPathComponent("\(name)_tokens.npy"))
            try Npy.write(Tensor(ids), to: dir.appendingPathComponent("\(name)_image_ids.npy"))
            var line = "subject \(s): \(name)_tokens.npy \(tokens.shape)"
            if let projector {
                let projected = try doing("projecting subject \(s)'s tokens") { Torch.noGrad { projector(tokens) } }
                try Npy.write(projected, to: dir.appendingPathComponent("\(name)_projected.npy"))
                line += ", \(name)_projected.npy \(projected.shape)"
            }
            print(line)
        }
        print("wrote \(dir.path)")
    }
}
