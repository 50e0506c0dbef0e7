import ArgumentParser
import BrainData
import Foundation
import Torch
import Training

/// `voxelformer encoding train|evaluate|score`: the encoding direction (features → fMRI, issue 14).
struct EncodingCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "encoding",
        abstract: "The encoding direction (stimulus features -> fMRI): train stage 1 or 2, evaluate, score predictions.",
        subcommands: [EncodingTrain.self, EncodingEvaluate.self, EncodingScoreCommand.self]
    )
}

struct EncodingTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train MedARC's conv-linear encoder (stage 1) or the flow-matching model on its mean (stage 2).",
        discussion: """
        Examples:
          voxelformer synth --algonauts default --out data/algonauts-synth
          voxelformer encoding train --config configs/encoding-debug.yaml --stage 1 --run-dir runs/enc1
          voxelformer encoding train --config configs/encoding-debug.yaml --stage 2 --run-dir runs/enc2 \\
              stage1=runs/enc1/best.safetensors
          voxelformer encoding train --run-dir runs/enc1 --resume
        Ctrl-C saves a checkpoint; --resume continues exactly, with the checkpoint's config unless --config
        is given. A resume may change only: \(EncodingRunConfig.resumableKeys.joined(separator: ", "))
        """
    )

    @Option(help: "A YAML preset (configs/encoding-debug.yaml, configs/encoding-full.yaml).")
    var config: String?
    @Option(help: "1: the conv-linear encoder by MSE; 2: flow matching on a trained stage 1 (sets `stage`).")
    var stage: Int?
    @Option(help: "The run folder; overrides run_dir.")
    var runDir: String?
    @Flag(help: "Continue from the run folder's checkpoint.safetensors.")
    var resume = false
    @Flag(help: "Replace an earlier run in the run folder.")
    var overwrite = false
    @Argument(help: "Dotted overrides: data.root=DIR stage1=runs/enc1/best.safetensors train.epochs=5.")
    var overrides: [String] = []

    func validate() throws {
        if resume && overwrite { throw ValidationError("--resume and --overwrite exclude each other") }
        if let stage, !(1...2).contains(stage) { throw ValidationError("--stage: expected 1 or 2, got \(stage)") }
        if runDir == "" { throw ValidationError("--run-dir: expected a folder, got an empty path") }
    }

    func run() throws {
        Torch.initialise()
        let dir = runDir ?? overrides.last { $0.hasPrefix("run_dir=") }.map { String($0.dropFirst(8)) }
            ?? EncodingRunConfig().runDir
        var cfg = resume && config == nil
            ? try EncodingRun.checkpointConfig(runDir: dir, overrides: overrides)
            : try EncodingRunConfig.load(path: config, overrides: overrides)
        if let stage { cfg.stage = stage }
        if let runDir { cfg.runDir = runDir }
        try cfg.validate()
        var run = EncodingRun(config: cfg, resume: resume, overwrite: overwrite)
        run.onNote = { print($0) }
        run.beforeTraining = { trainer in
            InterruptFlag.install()
            trainer.shouldStop = { InterruptFlag.isRaised }
            trainer.loggers = [ConsoleProgress(), EncodingScorePrinter()]
        }
        try run.execute { what, body in try doing(what) { try body() } }
    }
}

/// Prints each validation's mean r under the progress line's epoch summary.
final class EncodingScorePrinter: TrainingLogger {
    func record(_ event: TrainingEvent) throws {
        guard case .epoch(let r) = event, let score = r.evaluation["pearson_r"] else { return }
        let subjects = r.evaluation.filter { $0.key.hasPrefix("pearson_r_s") }.sorted { $0.key < $1.key }
        print(String(format: "  held-out mean r %.4f", score)
            + (subjects.isEmpty ? "" : "  (" + subjects.map { String(format: "%.4f", $0.value) }.joined(separator: " ") + ")"))
        fflush(nil)
    }
}

struct EncodingEvaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "evaluate",
        abstract: "Mean Pearson r of a trained encoder on whole held-out episodes, per subject and per parcel.",
        discussion: """
        Writes parcel_r.npy ((S, V) float64), parcel_r.svg and report.json into --out. Stage 2 samples with
        --steps Euler steps (the run's flow.n_timesteps, 25, by default) from noise seeded by --seed.
        Examples:
          voxelformer encoding evaluate --run runs/enc2
          voxelformer encoding evaluate --checkpoint runs/enc1/best.safetensors --data data/algonauts-synth data.val_movies=[life]
        """
    )

    @Option(name: .customLong("run"), help: "A run folder: its best.safetensors (else checkpoint.safetensors).")
    var runFolder: String?
    @Option(help: "An encoding run's checkpoint.safetensors or best.safetensors.")
    var checkpoint: String?
    @Option(help: "The data root (sets data.root; the run's when absent).")
    var data: String?
    @Option(help: "Euler steps of stage 2's sampler.")
    var steps: Int?
    @Option(help: "Seed of stage 2's sampling noise.")
    var seed: UInt64 = 0
    @Option(help: "Folder for parcel_r.npy, parcel_r.svg and report.json (default: <run>/evaluation).")
    var out: String?
    @Argument(help: "Dotted overrides of the run's config: data.val_movies=[life] data.val_seasons=[6].")
    var overrides: [String] = []

    func validate() throws {
        if (runFolder == nil) == (checkpoint == nil) { throw ValidationError("pass one of --run DIR or --checkpoint FILE") }
        if let steps, !(1...10_000).contains(steps) { throw ValidationError("--steps: expected 1...10000, got \(steps)") }
    }

    func run() throws {
        Torch.initialise()
        var url: URL
        if let runFolder {
            let dir = URL(fileURLWithPath: runFolder)
            url = dir.appendingPathComponent("best.safetensors")
            if !FileManager.default.fileExists(atPath: url.path) { url = dir.appendingPathComponent("checkpoint.safetensors") }
        } else {
            url = URL(fileURLWithPath: checkpoint!)
        }
        let model = try doing("loading \(url.path)") {
            try EncodingEvaluation.load(checkpoint: url, overrides: (data.map { ["data.root=\($0)"] } ?? []) + overrides)
        }
        let config = model.config
        let episodes = try doing("loading the data in \(config.data.root)") { try EncodingData(config: config.data, training: false) }
        _ = try config.filled(subjects: config.data.subjects.count, featDims: episodes.featDims, parcels: episodes.parcels)
        let usedSteps = config.stage == 2 ? (steps ?? config.flow.nTimesteps) : nil
        let (score, _) = try doing("evaluating") { try model.evaluate(episodes.val, steps: usedSteps, seed: seed) }
        let ceiling = EncodingEvaluation.syntheticCeiling(config.data)
        let outDir = URL(fileURLWithPath: out ?? (runFolder.map { "\($0)/evaluation" }
            ?? url.deletingLastPathComponent().appendingPathComponent("evaluation").path))
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        try Npy.write(score.parcels, to: outDir.appendingPathComponent("parcel_r.npy"))
        try EncodingPlots.parcels(score.parcels, subjects: config.data.subjects, ceiling: ceiling?.ceiling).svg()
            .write(to: outDir.appendingPathComponent("parcel_r.svg"), atomically: true, encoding: .utf8)
        try EncodingReport(score: score, subjects: config.data.subjects, steps: usedSteps, seed: config.stage == 2 ? seed : nil,
                           ceiling: ceiling?.ceiling).json()
            .write(to: outDir.appendingPathComponent("report.json"), atomically: true, encoding: .utf8)
        print("stage \(config.stage) encoder \(url.path) on \(episodes.val.count) held-out episode(s) of \(config.data.root)"
            + (usedSteps.map { ", \($0) Euler steps, seed \(seed)" } ?? ""))
        for (s, r) in zip(config.data.subjects, score.subjects) {
            print("\(AlgonautsLayout.subjectName(s)): mean r \(String(format: "%.4f", r))")
        }
        print("mean r \(String(format: "%.4f", score.score))"
            + (ceiling.map { String(format: " (synthetic noise ceiling %@: %.4f)", $0.split, $0.ceiling) } ?? ""))
        print("wrote \(outDir.path)/parcel_r.npy, parcel_r.svg, report.json")
    }
}

struct EncodingScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "MedARC's score of predicted responses: per-parcel Pearson r over time, mean over parcels (and subjects).",
        discussion: """
        --pred and --true are .npy arrays of equal shape, (T, V) or (S, T, V). Prints the mean r and writes
        the per-parcel r ((V) or (S, V), float64) to --out.
        """
    )
    @Option(help: "Predicted responses (.npy).")
    var pred: String
    @Option(name: .customLong("true"), help: "Measured responses (.npy).")
    var truth: String
    @Option(help: "Where to write the per-parcel r (.npy).")
    var out = "parcel_r.npy"

    func run() throws {
        Torch.initialise()
        let score = try EncodingEvaluation.score(pred: URL(fileURLWithPath: pred), truth: URL(fileURLWithPath: truth))
        let twoD = try Npy.read(URL(fileURLWithPath: pred)).ndim == 2
        try Npy.write(twoD ? score.parcels.select(0, 0) : score.parcels, to: URL(fileURLWithPath: out))
        if !twoD {
            for (s, r) in score.subjects.enumerated() { print("subject \(s): mean r \(String(format: "%.6f", r))") }
        }
        print("mean r \(String(format: "%.6f", score.score))")
        print("wrote \(out)")
    }
}
