import Foundation
import Torch

/// Retrieval results of one subject (or the average over subjects).
public struct SubjectRetrieval: Codable, Sendable, Equatable {
    public var subject: Int?
    public var samples: Int
    public var imageRetrieval: Double
    public var brainRetrieval: Double
    /// Mean cosine similarity between each predicted embedding and its target.
    public var cosine: Double
    public var poolSize: Int
    public var pools: Int
    /// The best image retrieval reachable on this data, when known (synthetic data's oracle).
    public var oracle: Double?
    /// Mean squared error against the targets (reported for the prior's samples).
    public var mse: Double?
    public var chance: Double { 1 / Double(poolSize) }

    enum CodingKeys: String, CodingKey {
        case subject, samples, imageRetrieval = "image_retrieval", brainRetrieval = "brain_retrieval", cosine
        case poolSize = "pool_size", pools, chance, oracle = "oracle_image_retrieval", mse
    }
    public init(subject: Int?, samples: Int, imageRetrieval: Double, brainRetrieval: Double, cosine: Double,
                poolSize: Int, pools: Int)
    {
        (self.subject, self.samples, self.imageRetrieval, self.brainRetrieval, self.cosine, self.poolSize, self.pools) =
            (subject, samples, imageRetrieval, brainRetrieval, cosine, poolSize, pools)
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        subject = try c.decodeIfPresent(Int.self, forKey: .subject)
        samples = try c.decode(Int.self, forKey: .samples)
        imageRetrieval = try c.decode(Double.self, forKey: .imageRetrieval)
        brainRetrieval = try c.decode(Double.self, forKey: .brainRetrieval)
        cosine = try c.decode(Double.self, forKey: .cosine)
        poolSize = try c.decode(Int.self, forKey: .poolSize)
        pools = try c.decode(Int.self, forKey: .pools)
        oracle = try c.decodeIfPresent(Double.self, forKey: .oracle)
        mse = try c.decodeIfPresent(Double.self, forKey: .mse)
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(subject, forKey: .subject)
        try c.encode(samples, forKey: .samples)
        try c.encode(imageRetrieval, forKey: .imageRetrieval)
        try c.encode(brainRetrieval, forKey: .brainRetrieval)
        try c.encode(cosine, forKey: .cosine)
        try c.encode(poolSize, forKey: .poolSize)
        try c.encode(pools, forKey: .pools)
        try c.encode(chance, forKey: .chance)
        try c.encodeIfPresent(oracle, forKey: .oracle)
        try c.encodeIfPresent(mse, forKey: .mse)
    }
}

/// A retrieval report: per subject and averaged, always naming the protocol and the tie rule.
public struct EvaluationReport: Codable, Sendable {
    public var protocolName: RetrievalProtocol
    public var ties: TieRule
    public var subjects: [SubjectRetrieval]
    /// The same scores computed from the diffusion prior's samples, when a prior is trained.
    public var prior: EvaluationReportPrior?

    enum CodingKeys: String, CodingKey {
        case protocolName = "protocol", ties, subjects, average, prior
    }
    public init(protocolName: RetrievalProtocol, ties: TieRule, subjects: [SubjectRetrieval],
                prior: EvaluationReportPrior? = nil)
    {
        (self.protocolName, self.ties, self.subjects, self.prior) = (protocolName, ties, subjects, prior)
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        protocolName = try c.decode(RetrievalProtocol.self, forKey: .protocolName)
        ties = try c.decode(TieRule.self, forKey: .ties)
        subjects = try c.decode([SubjectRetrieval].self, forKey: .subjects)
        prior = try c.decodeIfPresent(EvaluationReportPrior.self, forKey: .prior)
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(protocolName, forKey: .protocolName)
        try c.encode(ties, forKey: .ties)
        try c.encode(subjects, forKey: .subjects)
        try c.encodeIfPresent(average, forKey: .average)
        try c.encodeIfPresent(prior, forKey: .prior)
    }

    /// The mean over subjects.
    public var average: SubjectRetrieval? {
        guard !subjects.isEmpty else { return nil }
        let n = Double(subjects.count)
        let oracles = subjects.compactMap(\.oracle)
        var avg = SubjectRetrieval(
            subject: nil, samples: subjects.reduce(0) { $0 + $1.samples },
            imageRetrieval: subjects.reduce(0) { $0 + $1.imageRetrieval } / n,
            brainRetrieval: subjects.reduce(0) { $0 + $1.brainRetrieval } / n,
            cosine: subjects.reduce(0) { $0 + $1.cosine } / n,
            poolSize: subjects.map(\.poolSize).min() ?? 0, pools: subjects.map(\.pools).min() ?? 0)
        avg.oracle = oracles.count == subjects.count ? oracles.reduce(0, +) / n : nil
        let mses = subjects.compactMap(\.mse)
        avg.mse = mses.count == subjects.count ? mses.reduce(0, +) / n : nil
        return avg
    }

    public func json() throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: try e.encode(self), as: UTF8.self)
    }

    /// A plain-text table: one row per subject, then the average.
    public func table() -> String {
        var out = table(rows: subjects, title: "top-1 retrieval, \(protocolName.rawValue) protocol, \(ties.description)")
        if let prior {
            out += "\n\n" + table(rows: prior.subjects, title: "diffusion prior samples (DDIM \(prior.steps) steps): "
                + "retrieval, cosine and MSE against the targets")
        }
        return out
    }

    private func table(rows subjects: [SubjectRetrieval], title: String) -> String {
        let report = EvaluationReport(protocolName: protocolName, ties: ties, subjects: subjects)
        let average = report.average
        let showMSE = subjects.contains { $0.mse != nil }
        let showOracle = subjects.contains { $0.oracle != nil }
        var header = ["subject", "samples", "image retr.", "brain retr.", "chance", "cosine", "pools"]
        if showOracle { header.insert("oracle", at: 5) }
        if showMSE { header.insert("mse", at: header.count - 1) }
        var rows: [[String]] = []
        func row(_ r: SubjectRetrieval, name: String) -> [String] {
            var cells = [name, String(r.samples), pct(r.imageRetrieval), pct(r.brainRetrieval), pct(r.chance),
                         String(format: "%.3f", r.cosine), "\(r.pools)x\(r.poolSize)"]
            if showOracle { cells.insert(r.oracle.map(pct) ?? "-", at: 5) }
            if showMSE { cells.insert(r.mse.map { String(format: "%.4f", $0) } ?? "-", at: cells.count - 1) }
            return cells
        }
        for s in subjects { rows.append(row(s, name: s.subject.map { "subj0\($0)" } ?? "-")) }
        if subjects.count > 1, let avg = average { rows.append(row(avg, name: "average")) }
        let widths = header.indices.map { i in ([header[i]] + rows.map { $0[i] }).map(\.count).max() ?? 0 }
        func line(_ cells: [String]) -> String {
            cells.enumerated().map { i, c in i == 0 ? c.padding(toLength: widths[i], withPad: " ", startingAt: 0)
                : String(repeating: " ", count: widths[i] - c.count) + c }.joined(separator: "  ")
        }
        var out = title + "\n"
        out += line(header) + "\n" + widths.map { String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n"
        out += rows.map(line).joined(separator: "\n")
        return out
    }
    private func pct(_ v: Double) -> String { String(format: "%.1f%%", v * 100) }
}

/// Scores of the prior's samples, per subject.
public struct EvaluationReportPrior: Codable, Sendable {
    public var steps: Int
    public var subjects: [SubjectRetrieval]
    /// The mean over subjects.
    public var average: SubjectRetrieval? {
        EvaluationReport(protocolName: .singleTrial, ties: .fractional, subjects: subjects).average
    }
}

/// Encodes every test trial of each test subject (evaluation mode, no dropout, no gradients) and scores
/// retrieval; with a prior, also scores the prior's DDIM samples.
public struct Evaluator {
    public var config: EvalConfig
    public var prior: DiffusionPrior?
    /// Seed of the prior's sampling noise, so reports are reproducible.
    public var samplingSeed: UInt64 = 0
    public init(config: EvalConfig, prior: DiffusionPrior? = nil) {
        self.config = config
        self.prior = prior
    }

    public func evaluate(model: VoxelFormerModel, data: TrainingData) throws -> EvaluationReport {
        let wasTraining = model.training
        model.eval()
        defer { model.train(wasTraining) }
        prior?.eval()
        defer { prior?.train(wasTraining) }
        var subjects: [SubjectRetrieval] = [], priorSubjects: [SubjectRetrieval] = []
        for subject in data.testSubjects {
            let test = try data.testSet(subject: subject)
            let coords = try data.coordinates(subject: subject)
            let (clip, samples) = Torch.noGrad { () -> (Tensor, Tensor?) in
                let n = test.voxels.size(0)
                var clip: [Tensor] = [], samples: [Tensor] = []
                for start in stride(from: 0, to: n, by: config.batchSize) {
                    let out = model(test.voxels[start..<min(start + config.batchSize, n)], coords: coords)
                    clip.append(out.clipVoxels)
                    if let prior {
                        samples.append(prior.sample(backbone: out.backbone, seed: samplingSeed &+ UInt64(start)))
                    }
                }
                return (Tensor.cat(clip), prior == nil ? nil : Tensor.cat(samples))
            }
            subjects.append(score(brain: clip, targets: test.targets, imageIDs: test.imageIDs, subject: subject))
            if let samples {
                var r = score(brain: samples, targets: test.targets, imageIDs: test.imageIDs, subject: subject)
                r.mse = F.mseLoss(samples.to(.float32), test.targets.to(.float32)).item()
                priorSubjects.append(r)
            }
        }
        let priorReport = prior.map { EvaluationReportPrior(steps: $0.config.samplingSteps, subjects: priorSubjects) }
        return EvaluationReport(protocolName: config.protocolName, ties: config.ties, subjects: subjects, prior: priorReport)
    }

    /// Scores saved or computed embeddings; row i of `brain` and `targets` belong to the same trial.
    public func score(brain: Tensor, targets: Tensor, imageIDs: [Int]?, subject: Int?) -> SubjectRetrieval {
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
