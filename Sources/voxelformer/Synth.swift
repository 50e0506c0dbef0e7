import ArgumentParser
import BrainData
import Foundation
import Torch

struct Synth: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate a synthetic NSD in the exact layout of MindEye2's NSD release.",
        discussion: """
            Writes betas, images, webdataset shards, masks, shared1000.npy, COCO_73k_subj_indices.hdf5, \
            clip_targets.hdf5 and synthetic_info.json (sizes, noise and the oracle's best top-1 retrieval). \
            See docs/synthetic-data.md for the generative model.
            """
    )

    @Option(help: "Generative model: shared-anatomy (subjects warp one template; smooth + white noise with session offsets) or independent (the first generator: unrelated anatomies, white noise).")
    var preset = SyntheticNSDConfig().preset
    @Option(help: "The data root to write (created; an existing folder must be empty or hold an earlier synthetic dataset).")
    var out: String
    @Option(help: "Number of subjects, 1 to 8.")
    var subjects = SyntheticNSDConfig().subjects
    @Option(help: "Random seed: the same seed and sizes give the same bytes.")
    var seed = SyntheticNSDConfig().seed
    @Option(help: "Training images per subject (each subject's own; NSD has about 9000).")
    var images = SyntheticNSDConfig().trainImagesPerSubject
    @Option(help: "Shared test images seen by every subject (NSD: 1000).")
    var testImages = SyntheticNSDConfig().testImages
    @Option(help: "Trials per shared test image (NSD: 3).")
    var testRepeats = SyntheticNSDConfig().testRepeats
    @Option(help: "Trials per training image.")
    var trainRepeats = SyntheticNSDConfig().trainRepeats
    @Option(help: "Trials per session, i.e. per training shard (NSD: 750).")
    var trialsPerSession = SyntheticNSDConfig().trialsPerSession
    @Option(help: "Mean nsdgeneral voxel count per subject (NSD: about 15000).")
    var voxels = SyntheticNSDConfig().voxels
    @Option(help: "Standard deviation of every voxel's trial noise (shared-anatomy: smooth plus white; session offsets add to it).")
    var noise = SyntheticNSDConfig().noise
    @Option(help: "shared-anatomy: fraction of the noise variance that is spatially smooth, in [0, 1).")
    var correlatedNoise = SyntheticNSDConfig().correlatedNoise
    @Option(help: "shared-anatomy: standard deviation of the smooth per-session offsets, relative to --noise.")
    var sessionOffset = SyntheticNSDConfig().sessionOffset
    @Option(help: "shared-anatomy: mean signal variance of a voxel (responsiveness varies smoothly over the template).")
    var signalVariance = SyntheticNSDConfig().signalVariance
    @Option(help: "Dimension of each image's hidden latent.")
    var latentDim = SyntheticNSDConfig().latentDim
    @Option(help: "Image side in pixels (NSD's release: 224).")
    var imageSize = SyntheticNSDConfig().imageSize
    @Option(help: "Target tokens per image (ViT-bigG/14: 256).")
    var tokens = SyntheticNSDConfig().tokens
    @Option(help: "Target token width (ViT-bigG/14: 1664).")
    var tokenDim = SyntheticNSDConfig().tokenDim
    @Flag(help: "Write even into a non-empty folder that holds no earlier synthetic dataset.")
    var force = false
    @Option(help: "Write a synthetic Algonauts 2025 release instead (default or tiny; --seed applies; docs/encoding-data.md).")
    var algonauts: String?

    func run() throws {
        Torch.initialise()
        if let algonauts { return try writeAlgonauts(algonauts) }
        var config = SyntheticNSDConfig()
        config.preset = preset
        config.seed = seed
        config.subjects = subjects
        config.trainImagesPerSubject = images
        config.testImages = testImages
        config.testRepeats = testRepeats
        config.trainRepeats = trainRepeats
        config.trialsPerSession = trialsPerSession
        config.voxels = voxels
        config.noise = noise
        config.correlatedNoise = correlatedNoise
        config.sessionOffset = sessionOffset
        config.signalVariance = signalVariance
        config.latentDim = latentDim
        config.imageSize = imageSize
        config.tokens = tokens
        config.tokenDim = tokenDim

        let root = URL(fileURLWithPath: out)
        let existing = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        if !existing.isEmpty && !existing.contains("synthetic_info.json") && !force {
            throw ValidationError("\(root.path) is not empty and holds no synthetic dataset; choose another --out or pass --force")
        }
        let start = Date()
        let world = try SyntheticNSD(config)
        let info = try world.write(to: root) { print($0) }
        let o = info.oracle
        print(String(format: "wrote %@ in %.1f s", root.path, Date().timeIntervalSince(start)))
        print("preset \(config.preset.rawValue)")
        print(String(format: "noise sd %.3g (per-voxel SNR %.3g); oracle top-1 image retrieval in pools of %d: "
            + "single trial %.3f (a perfect scorer: %.3f), %d repeats averaged %.3f, chance %.4f",
            config.noise, info.perVoxelSNR, o.poolSize, o.singleTrial, o.singleTrialCeiling, config.testRepeats,
            o.averaged, o.chance))
    }
}

extension SyntheticPreset: ExpressibleByArgument {}
