import ArgumentParser
import BrainData
import Foundation
import Torch
import Training
import VoxelFormer

struct Demo: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate synthetic NSD data if absent, train the demo preset, and report retrieval beside a ridge baseline, chance and the oracle.",
        discussion: "What `make demo` runs. Leaves runs/demo/ with config.yaml, metrics.jsonl, checkpoint.safetensors, curves.svg and report.json."
    )

    @Option(help: "The preset to train.")
    var config = "configs/demo.yaml"
    @Option(help: "Mean voxels per subject of the generated data (when data.root holds no dataset yet).")
    var voxels = 400
    @Option(help: "Noise standard deviation of the generated data.")
    var noise = 1.3
    @Argument(help: "Dotted overrides, e.g. train.epochs=4.")
    var overrides: [String] = []

    func run() throws {
        Torch.initialise()
        try run(Families.of(config: config, resumingIn: nil))
    }

    func run<Family: TrainableFamily>(_: Family.Type) throws {
        let cfg = try Family.Config.load(path: config, overrides: overrides)
        let root = URL(fileURLWithPath: cfg.data.root)
        let infoURL = root.appendingPathComponent("synthetic_info.json")
        if !FileManager.default.fileExists(atPath: infoURL.path) {
            print("generating synthetic NSD data in \(root.path) (voxelformer synth --voxels \(voxels) --noise \(noise))")
            let started = Date()
            var synth = SyntheticNSDConfig()
            synth.voxels = voxels
            synth.noise = noise
            let info = try SyntheticNSD(synth).write(to: root) { print("  " + $0) }
            print(String(format: "  done in %.1f s; oracle top-1 (single trial, pools of %d): %.1f%%",
                         Date().timeIntervalSince(started), info.oracle.poolSize, info.oracle.singleTrial * 100))
        } else if let made = Demo.generatedWith(infoURL), made.voxels != voxels || made.noise != noise {
            // data from an earlier demo (or another synth call): its numbers will not match the README's
            print("note: \(root.path) was generated with --voxels \(made.voxels) --noise \(made.noise), not the demo's "
                  + "--voxels \(voxels) --noise \(noise); remove it to regenerate, or pass --voxels/--noise to match it")
        }
        // the demo is meant to be re-run: it replaces its own earlier run
        let trainer = try TrainingRun<Family>(config: cfg, resume: false, overwrite: true, beforeTraining: { trainer in
            // the untrained prior's samples, to show what joint training changed
            guard (trainer.family as? VoxelFormerFamily)?.prior != nil else { return }
            let untrained = try trainer.evaluate()
            if let avg = untrained.prior?.average {
                print(String(format: "untrained prior: samples' cosine to the targets %.3f, MSE %.4f", avg.cosine, avg.mse ?? .nan))
            }
        }).executeInConsole()
        // The trainer evaluates the last epoch; its report is the demo's, not a second pass over the test set.
        let progress = EvaluationProgressPrinter(label: "ridge baseline:")
        let report = try TrainingRun<Family>.writeReport(trainer: trainer, oracle: Demo.oracle(infoURL), progress: progress.update)
        progress.finish()
        let dir = URL(fileURLWithPath: cfg.runDir)
        print("")
        print(report.table())
        print("\nrun folder: \(dir.path) (config.yaml, metrics.jsonl, checkpoint.safetensors, curves.svg, report.json)")
    }

    /// The generator's `voxels` and `noise` recorded in `synthetic_info.json`.
    static func generatedWith(_ url: URL) -> (voxels: Int, noise: Double)? {
        guard let config = syntheticInfo(url)?["config"] as? [String: Any],
              let voxels = config["voxels"] as? Int, let noise = config["noise"] as? Double else { return nil }
        return (voxels, noise)
    }

    /// Per-subject single-trial oracle top-1 from `synthetic_info.json`.
    static func oracle(_ url: URL) -> [Int: Double] {
        guard let json = syntheticInfo(url),
              let oracle = json["oracle"] as? [String: Any],
              let perSubject = oracle["top1_single_trial_per_subject"] as? [Double],
              let subjects = json["subjects"] as? [[String: Any]] else { return [:] }
        let numbers = subjects.compactMap { $0["subject"] as? Int }
        return Dictionary(uniqueKeysWithValues: zip(numbers, perSubject).map { ($0, $1) })
    }

    /// `synthetic_info.json` as a JSON object, nil when absent or unreadable.
    private static func syntheticInfo(_ url: URL) -> [String: Any]? {
        guard let data = try? Data(contentsOf: url) else { return nil }
        return (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    }
}
