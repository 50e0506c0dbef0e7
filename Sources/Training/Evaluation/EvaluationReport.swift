import Foundation
import Torch
import VoxelFormer

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
    /// The closed-form ridge baseline scored on the same trials, pools and tie rule.
    public var ridge: BaselineScore?
    public var chance: Double { 1 / Double(poolSize) }

    // Decoding is synthesized from these; encoding adds the computed `chance`.
    enum CodingKeys: String, CodingKey {
        case subject, samples, imageRetrieval = "image_retrieval", brainRetrieval = "brain_retrieval", cosine
        case poolSize = "pool_size", pools, oracle = "oracle_image_retrieval", mse, ridge
    }
    private enum ComputedKeys: String, CodingKey { case chance }
    public init(subject: Int?, samples: Int, imageRetrieval: Double, brainRetrieval: Double, cosine: Double,
                poolSize: Int, pools: Int)
    {
        (self.subject, self.samples, self.imageRetrieval, self.brainRetrieval, self.cosine, self.poolSize, self.pools) =
            (subject, samples, imageRetrieval, brainRetrieval, cosine, poolSize, pools)
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
        try c.encodeIfPresent(oracle, forKey: .oracle)
        try c.encodeIfPresent(mse, forKey: .mse)
        try c.encodeIfPresent(ridge, forKey: .ridge)
        var computed = encoder.container(keyedBy: ComputedKeys.self)
        try computed.encode(chance, forKey: .chance)
    }
}

/// A baseline decoder's top-1 retrieval on the same trials as the model.
public struct BaselineScore: Codable, Sendable, Equatable {
    public var imageRetrieval: Double
    public var brainRetrieval: Double
    /// The ridge penalty picked on held-out training trials (absent in averages).
    public var lambda: Double?
    enum CodingKeys: String, CodingKey {
        case imageRetrieval = "image_retrieval", brainRetrieval = "brain_retrieval", lambda
    }
    public init(imageRetrieval: Double, brainRetrieval: Double, lambda: Double? = nil) {
        (self.imageRetrieval, self.brainRetrieval, self.lambda) = (imageRetrieval, brainRetrieval, lambda)
    }
}

/// A retrieval report: per subject and averaged, always naming the protocol and the tie rule.
public struct EvaluationReport: Codable, Sendable {
    public var protocolName: RetrievalProtocol
    public var ties: TieRule
    public var subjects: [SubjectRetrieval]
    /// The same scores computed from the diffusion prior's samples, when a prior is trained.
    public var prior: EvaluationReportPrior?
    /// Why a baseline is missing (too large, too few train trials), when it is.
    public var baselineNote: String?

    // Decoding is synthesized from these; encoding adds the computed `average`.
    enum CodingKeys: String, CodingKey {
        case protocolName = "protocol", ties, subjects, prior, baselineNote = "baseline_note"
    }
    private enum ComputedKeys: String, CodingKey { case average }
    public init(protocolName: RetrievalProtocol, ties: TieRule, subjects: [SubjectRetrieval],
                prior: EvaluationReportPrior? = nil)
    {
        (self.protocolName, self.ties, self.subjects, self.prior) = (protocolName, ties, subjects, prior)
    }
    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(protocolName, forKey: .protocolName)
        try c.encode(ties, forKey: .ties)
        try c.encode(subjects, forKey: .subjects)
        try c.encodeIfPresent(prior, forKey: .prior)
        try c.encodeIfPresent(baselineNote, forKey: .baselineNote)
        var computed = encoder.container(keyedBy: ComputedKeys.self)
        try computed.encodeIfPresent(average, forKey: .average)
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
        let ridges = subjects.compactMap(\.ridge)
        if ridges.count == subjects.count {
            avg.ridge = BaselineScore(imageRetrieval: ridges.reduce(0) { $0 + $1.imageRetrieval } / n,
                                      brainRetrieval: ridges.reduce(0) { $0 + $1.brainRetrieval } / n)
        }
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
        if let baselineNote { out += "\n" + baselineNote }
        return out
    }

    private func table(rows subjects: [SubjectRetrieval], title: String) -> String {
        let report = EvaluationReport(protocolName: protocolName, ties: ties, subjects: subjects)
        let average = report.average
        let showMSE = subjects.contains { $0.mse != nil }
        let showOracle = subjects.contains { $0.oracle != nil }
        let showRidge = subjects.contains { $0.ridge != nil }
        // the model, then the baselines beside it: ridge, chance, oracle
        var header = ["subject", "samples", "image retr.", "brain retr."]
        if showRidge { header += ["ridge image", "ridge brain"] }
        header.append("chance")
        if showOracle { header.append("oracle") }
        header += ["cosine"] + (showMSE ? ["mse"] : []) + ["pools"]
        var rows: [[String]] = []
        func row(_ r: SubjectRetrieval, name: String) -> [String] {
            var cells = [name, String(r.samples), pct(r.imageRetrieval), pct(r.brainRetrieval)]
            if showRidge { cells += [r.ridge.map { pct($0.imageRetrieval) } ?? "-", r.ridge.map { pct($0.brainRetrieval) } ?? "-"] }
            cells.append(pct(r.chance))
            if showOracle { cells.append(r.oracle.map(pct) ?? "-") }
            cells.append(String(format: "%.3f", r.cosine))
            if showMSE { cells.append(r.mse.map { String(format: "%.4f", $0) } ?? "-") }
            return cells + ["\(r.pools)x\(r.poolSize)"]
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

