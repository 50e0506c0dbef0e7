import Foundation
import Torch
import VoxelFormer

/// Evaluation refused: non-finite values, mismatched rows, a baseline that cannot be fitted.
public struct EvaluationError: Error, CustomStringConvertible, Equatable {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// How far an evaluation is, for a progress display: `done` of `total` units of one stage of one subject.
public struct EvaluationProgress: Sendable, Equatable {
    public var subject: Int
    /// "encoding", "prior sampling" or "ridge".
    public var stage: String
    public var done: Int
    public var total: Int
    /// Position of this subject among the evaluated ones (0-based) and their count.
    public var subjectIndex: Int
    public var subjectCount: Int
}

/// Encodes every test trial of each test subject (evaluation mode, no dropout, no gradients) and scores
/// retrieval; with a prior, also scores the prior's DDIM samples; with a baseline, fits it per subject and
/// scores its predictions the same way.
public struct Evaluator {
    public var config: EvalConfig
    public var prior: DiffusionPrior?
    /// Seed of the prior's sampling noise, so reports are reproducible.
    public var samplingSeed: UInt64 = 0
    /// Called as the evaluation advances (rows encoded, batches sampled, baseline fitted).
    public var onProgress: ((EvaluationProgress) -> Void)?
    public init(config: EvalConfig, prior: DiffusionPrior? = nil) {
        self.config = config
        self.prior = prior
    }

    public func evaluate(model: VoxelFormerModel, data: TrainingData, baseline: RidgeBaseline? = nil) throws
        -> EvaluationReport
    {
        try Evaluator.requireFiniteWeights(model: model, prior: prior)
        var coordinates: [Int: Tensor] = [:]
        return try evaluate(data: data, modules: [model], baseline: baseline) { voxels, subject in
            if coordinates[subject] == nil { coordinates[subject] = try data.coordinates(subject: subject) }
            let out = model(voxels, coords: coordinates[subject]!)
            return (out.clipVoxels, out.backbone)
        }
    }

    /// Any family's evaluation: `encode` maps a (B, 1, V) slice of a subject's test voxels to the retrieval
    /// embeddings and the prior's condition, with `modules` (and the prior) in evaluation mode.
    public func evaluate(data: TrainingData, modules: [Module], baseline: RidgeBaseline? = nil,
                         encode: (Tensor, Int) throws -> (clip: Tensor, backbone: Tensor)) throws -> EvaluationReport
    {
        let wasTraining = modules.map(\.training)
        for m in modules { m.eval() }
        defer { for (m, t) in zip(modules, wasTraining) { m.train(t) } }
        let priorWasTraining = prior?.training ?? false
        prior?.eval()
        defer { prior?.train(priorWasTraining) }
        var subjects: [SubjectRetrieval] = [], priorSubjects: [SubjectRetrieval] = []
        var notes: [String] = []
        for (index, subject) in data.testSubjects.enumerated() {
            func progress(_ stage: String, _ done: Int, _ total: Int) {
                onProgress?(EvaluationProgress(subject: subject, stage: stage, done: done, total: total,
                                               subjectIndex: index, subjectCount: data.testSubjects.count))
            }
            let test = try data.testSet(subject: subject)
            try Evaluator.requireFinite(test.voxels, "subject \(subject)'s test voxels")
            let n = test.voxels.size(0)
            let (clip, samples) = try withTorchError {
                try Torch.noGrad { () -> (Tensor, Tensor?) in
                    let starts = Array(stride(from: 0, to: n, by: config.batchSize))
                    func batch(_ i: Int) throws -> [Tensor] {
                        let start = starts[i]
                        let out = try encode(test.voxels[start..<min(start + config.batchSize, n)], subject)
                        progress(prior == nil ? "encoding" : "encoding and prior sampling", min(start + config.batchSize, n), n)
                        return [out.clip] + (prior.map { [$0.sample(backbone: out.backbone, seed: samplingSeed &+ UInt64(start))] } ?? [])
                    }
                    // data parallel: the ranks take turns at the batches and gather them (Training/Distributed)
                    let done = try DataParallel.current?.splitAcrossRanks(count: starts.count, rows: { min(config.batchSize, n - starts[$0]) },
                                                                          batch) ?? starts.indices.map(batch)
                    return (Tensor.cat(done.map { $0[0] }), prior == nil ? nil : Tensor.cat(done.map { $0[1] }))
                }
            }
            var scored = try score(brain: clip, targets: test.targets, imageIDs: test.imageIDs, subject: subject,
                                   brainName: "subject \(subject)'s embeddings from the model",
                                   targetsName: "subject \(subject)'s test targets")
            if let baseline {
                progress("ridge", 0, 1)
                do { scored.ridge = try ridge(data: data, subject: subject, baseline: baseline) } catch let e as EvaluationError {
                    notes.append("subject \(subject): \(e.description)")
                }
                progress("ridge", 1, 1)
            }
            subjects.append(scored)
            if let samples {
                var r = try score(brain: samples, targets: test.targets, imageIDs: test.imageIDs, subject: subject,
                                  brainName: "subject \(subject)'s prior samples",
                                  targetsName: "subject \(subject)'s test targets")
                r.mse = F.mseLoss(samples.to(.float32), test.targets.to(.float32)).item()
                priorSubjects.append(r)
            }
        }
        let priorReport = prior.map { EvaluationReportPrior(steps: $0.config.samplingSteps, subjects: priorSubjects) }
        var report = EvaluationReport(protocolName: config.protocolName, ties: config.ties, subjects: subjects,
                                      prior: priorReport)
        report.baselineNote = notes.isEmpty ? nil : notes.joined(separator: "\n")
        return report
    }

    /// Fits `baseline` on one subject's train trials and scores its test predictions like the model's.
    public func ridge(data: TrainingData, subject: Int, baseline: RidgeBaseline) throws -> BaselineScore {
        let fitted = try baseline.predictions(data: data, subject: subject)
        let r = try score(brain: fitted.brain, targets: fitted.targets, imageIDs: fitted.imageIDs, subject: subject,
                          brainName: "subject \(subject)'s ridge predictions", targetsName: "subject \(subject)'s test targets")
        return BaselineScore(imageRetrieval: r.imageRetrieval, brainRetrieval: r.brainRetrieval, lambda: fitted.model.lambda)
    }

    /// Adds the ridge baseline to every subject of an existing report (a training run's last evaluation);
    /// subjects whose baseline cannot be fitted get a note instead.
    public func addBaseline(_ baseline: RidgeBaseline, to report: inout EvaluationReport, data: TrainingData) throws {
        var notes: [String] = []
        for (index, s) in report.subjects.enumerated() {
            guard let subject = s.subject else { continue }
            let event = EvaluationProgress(subject: subject, stage: "ridge", done: 0, total: 1, subjectIndex: index,
                                           subjectCount: report.subjects.count)
            onProgress?(event)
            do { report.subjects[index].ridge = try ridge(data: data, subject: subject, baseline: baseline) } catch let e as EvaluationError {
                notes.append("subject \(subject): \(e.description)")
            }
            onProgress?(EvaluationProgress(subject: subject, stage: "ridge", done: 1, total: 1, subjectIndex: index,
                                           subjectCount: report.subjects.count))
        }
        if !notes.isEmpty { report.baselineNote = ([report.baselineNote].compactMap { $0 } + notes).joined(separator: "\n") }
    }

    /// Scores saved or computed embeddings; row i of `brain` and `targets` belong to the same trial.
    /// Non-finite rows are refused (a NaN similarity would count as a tie or a hit), naming `brainName` or
    /// `targetsName`.
    public func score(brain: Tensor, targets: Tensor, imageIDs: [Int]?, subject: Int?,
                      brainName: String = "the brain embeddings", targetsName: String = "the targets") throws
        -> SubjectRetrieval
    {
        guard brain.ndim >= 1, targets.ndim >= 1, brain.size(0) == targets.size(0), brain.size(0) > 0 else {
            throw EvaluationError("\(brainName) has \(brain.ndim >= 1 ? brain.size(0) : 0) rows and \(targetsName) "
                + "\(targets.ndim >= 1 ? targets.size(0) : 0); both need the same number of rows (at least 1), "
                + "row i of each being the same trial")
        }
        let n0 = brain.size(0)
        guard brain.count / n0 == targets.count / n0 else {
            throw EvaluationError("\(brainName) rows have \(brain.count / n0) values and \(targetsName) rows "
                + "\(targets.count / n0); the widths must match")
        }
        if let imageIDs, imageIDs.count != n0 {
            throw EvaluationError("\(imageIDs.count) image ids for \(n0) rows of \(brainName)")
        }
        try Evaluator.requireFinite(brain, brainName)
        try Evaluator.requireFinite(targets, targetsName)
        var brain = brain.to(.float32), targets = targets.to(.float32)
        if config.protocolName == .outputAveraged, let imageIDs {
            (brain, targets) = Evaluator.averageRepeats(brain: brain, targets: targets, imageIDs: imageIDs)
        }
        let n = brain.size(0)
        let cosine = F.cosineSimilarity(brain.reshape(n, -1), targets.reshape(n, -1), dim: 1).mean().item()
        let scorer = RetrievalScorer(brain: brain, targets: targets)
        let r = scorer.evaluate(pools: config.pools, poolSize: config.poolSize, seed: config.seed, rule: config.ties)
        return SubjectRetrieval(subject: subject, samples: n, imageRetrieval: r.imageRetrieval,
                                brainRetrieval: r.brainRetrieval, cosine: cosine, poolSize: r.poolSize, pools: r.pools)
    }

    /// Throws when any row of `t` (N, ...) holds NaN or ±inf, saying how many rows and the first few.
    public static func requireFinite(_ t: Tensor, _ what: String) throws {
        guard t.ndim >= 1, t.size(0) > 0, t.dtype.isFloatingPoint else { return }
        let n = t.size(0)
        let bad = Torch.noGrad { t.reshape(n, -1).isfinite().logicalNot().to(.float32).sum([1]) }.toArray(Float.self)
        let rows = bad.indices.filter { bad[$0] > 0 }
        guard rows.isEmpty else {
            let shown = rows.prefix(5).map(String.init).joined(separator: ", ") + (rows.count > 5 ? ", ..." : "")
            throw EvaluationError("\(what): \(rows.count) of \(n) rows hold NaN or infinite values (rows \(shown)); "
                + "non-finite embeddings cannot be scored")
        }
    }

    /// Throws when any parameter of `module` holds NaN or ±inf (its outputs would be NaN and score as ties).
    public static func requireFiniteWeights(_ module: Module, _ what: String) throws {
        let bad = module.namedParameters().filter { p in
            Torch.noGrad { p.tensor.isfinite().logicalNot().to(.float32).sum().item() > 0 }
        }
        guard bad.isEmpty else {
            let names = bad.prefix(5).map(\.name).joined(separator: ", ") + (bad.count > 5 ? ", ..." : "")
            throw EvaluationError("\(what): \(bad.count) weight tensor\(bad.count == 1 ? " holds" : "s hold") NaN or infinite "
                + "values (\(names)); the checkpoint is unusable")
        }
    }

    /// `requireFiniteWeights` for a brain model and its optional diffusion prior, named "the model" and "the
    /// diffusion prior" after `source` (a checkpoint's path) when given.
    public static func requireFiniteWeights(model: Module, prior: Module?, in source: String? = nil) throws {
        let prefix = source.map { "\($0): " } ?? ""
        try requireFiniteWeights(model, prefix + "the model")
        if let prior { try requireFiniteWeights(prior, prefix + "the diffusion prior") }
    }

    /// MindEye2's protocol: the outputs of all repeats of an image are averaged (in first-seen order).
    public static func averageRepeats(brain: Tensor, targets: Tensor, imageIDs: [Int]) -> (Tensor, Tensor) {
        var order: [Int] = []
        var rows: [Int: [Int]] = [:]
        for (i, id) in imageIDs.enumerated() {
            if rows[id] == nil { order.append(id) }
            rows[id, default: []].append(i)
        }
        let averaged = order.map { brain.indexSelect(0, Tensor(rows[$0]!)).mean(0) }
        let first = order.map { rows[$0]![0] }
        return (Tensor.stack(averaged), targets.indexSelect(0, Tensor(first)))
    }
}
