import ArgumentParser
import Foundation
import Torch
import Training
import VoxelFormer

struct Baseline: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Fit a baseline decoder per subject and score it like the model.",
        subcommands: [Ridge.self]
    )

    struct Ridge: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Closed-form ridge regression from voxels to the flattened targets, per test subject.",
            discussion: """
            Voxels are z-scored and targets centred with the train trials' statistics; the penalty is picked
            from a grid (0.1 to 1e5) by mean squared error on the last 15% of the subject's train trials, then
            the ridge is refitted on all of them. Writes, per test subject N, ridge_subjN.npy (predicted test
            embeddings, shaped like the targets), targets_subjN.npy and image_ids_subjN.npy, plus report.json,
            and scores the predictions with the model's retrieval code (eval.* pools, protocol and tie rule):
              voxelformer baseline ridge --config configs/demo.yaml --out runs/ridge
              voxelformer evaluate --brain runs/ridge/ridge_subj1.npy --targets runs/ridge/targets_subj1.npy
            """
        )

        @Option(help: "The YAML preset whose data.* and eval.* settings are used.")
        var config: String?
        @Option(help: "Folder for the predicted embeddings and report.json.")
        var out: String
        @Argument(help: "Dotted overrides (data.root=..., eval.pool_size=...).")
        var overrides: [String] = []

        func run() throws {
            Torch.initialise()
            let cfg = try VoxelFormerConfig.load(path: config, overrides: overrides)
            let data = try NSDTrainingData(config: cfg.data)
            let dir = URL(fileURLWithPath: out)
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let evaluator = Evaluator(config: cfg.eval)
            let ridge = RidgeBaseline()
            var subjects: [SubjectRetrieval] = [], lambdas: [String] = []
            for subject in data.testSubjects {
                FileHandle.standardError.write(Data("fitting the ridge for subject \(subject)\n".utf8))
                let fitted = try ridge.predictions(data: data, subject: subject)
                try Npy.write(fitted.brain, to: dir.appendingPathComponent("ridge_subj\(subject).npy"))
                try Npy.write(fitted.targets.to(.float32), to: dir.appendingPathComponent("targets_subj\(subject).npy"))
                try Npy.write(Tensor(fitted.imageIDs.map(Int64.init)), to: dir.appendingPathComponent("image_ids_subj\(subject).npy"))
                let r = try evaluator.score(brain: fitted.brain, targets: fitted.targets, imageIDs: fitted.imageIDs,
                                            subject: subject, brainName: "subject \(subject)'s ridge predictions",
                                            targetsName: "subject \(subject)'s test targets")
                subjects.append(r)
                lambdas.append("subject \(subject): λ = \(fitted.model.lambda)")
                let mses = zip(ridge.lambdas, fitted.model.validationMSE)
                    .map { String(format: "%g: %.4g", $0, $1) }.joined(separator: ", ")
                print("subject \(subject): λ = \(fitted.model.lambda) (held-out MSE per λ: \(mses))")
            }
            var report = EvaluationReport(protocolName: cfg.eval.protocolName, ties: cfg.eval.ties, subjects: subjects)
            report.baselineNote = "ridge penalty picked on held-out train trials: " + lambdas.joined(separator: ", ")
            try report.json().write(to: dir.appendingPathComponent("report.json"), atomically: true, encoding: .utf8)
            print("")
            print(report.table().replacingOccurrences(of: "top-1 retrieval", with: "ridge baseline: top-1 retrieval"))
            print("\nembeddings: \(dir.path)/ridge_subjN.npy (targets_subjN.npy, image_ids_subjN.npy beside them)")
        }
    }
}
