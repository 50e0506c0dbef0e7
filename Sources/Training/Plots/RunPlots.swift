import Foundation
import Torch
import VoxelFormer
import Yams

/// `curves.svg` in a run folder: the training loss per step (raw and smoothed) and retrieval accuracy per
/// epoch, with the BiMixCo → SoftCLIP switch (from config.yaml) and, when report.json holds them, chance
/// and the ridge baseline.
public enum RunPlots {
    /// Weight of the loss's exponential moving average.
    public static let smoothing = 0.9

    public static func write(runDir: URL) throws {
        let records = MetricsLog.read(runDir.appendingPathComponent("metrics.jsonl"))
        // any family's config.yaml: only its `train` section is read
        let config = (try? String(contentsOf: runDir.appendingPathComponent("config.yaml"), encoding: .utf8))
            .flatMap { try? YAMLDecoder().decode(Sections.self, from: $0) }
        let report = (try? Data(contentsOf: runDir.appendingPathComponent("report.json")))
            .flatMap { try? JSONDecoder().decode(EvaluationReport.self, from: $0) }
        try plot(records: records, train: config?.train, eval: config?.eval, report: report).svg()
            .write(to: runDir.appendingPathComponent("curves.svg"), atomically: true, encoding: .utf8)
    }

    struct Sections: Decodable { var train: TrainConfig, eval: EvalConfig }

    public static func plot(records: [[String: Double]], train config: TrainConfig?, eval: EvalConfig?,
                            report: EvaluationReport?) -> CurvePlot {
        let losses = records.compactMap { r in r["loss"].flatMap { l in r["step"].map { (x: $0, y: l) } } }
        let epochs = records.filter { $0["image_retrieval"] != nil }
        func series(_ key: String) -> [(x: Double, y: Double)] {
            epochs.compactMap { r in r[key].flatMap { v in r["epoch"].map { (x: $0 + 1, y: v * 100) } } }
        }
        // the switch happens after `switchEpoch` epochs: at that epoch boundary and at its first step
        var switchEpoch: Double?, switchStep: Double?
        if let config {
            let e = ContrastiveSchedule(epochs: config.epochs, mixupFraction: config.mixupPct).switchEpoch
            if e > 0 && e < config.epochs {
                switchEpoch = Double(e)
                switchStep = records.first { $0["loss"] != nil && $0["epoch"] == Double(e) }?["step"].map { $0 - 0.5 }
            }
        }
        let switchName = "BiMixCo → SoftCLIP"
        var accuracyLines: [CurvePlot.Reference] = []
        if let avg = report?.average {
            if let ridge = avg.ridge {
                accuracyLines.append(.init(name: String(format: "ridge image %.1f%%", ridge.imageRetrieval * 100),
                                           value: ridge.imageRetrieval * 100, color: "#ff7f0e"))
                accuracyLines.append(.init(name: String(format: "ridge brain %.1f%%", ridge.brainRetrieval * 100),
                                           value: ridge.brainRetrieval * 100, color: "#9467bd"))
            }
            accuracyLines.append(.init(name: String(format: "chance %.2f%%", avg.chance * 100), value: avg.chance * 100,
                                       color: "#7f7f7f"))
        } else if let eval {
            accuracyLines.append(.init(name: String(format: "chance %.2f%%", 100 / Double(eval.poolSize)),
                                       value: 100 / Double(eval.poolSize), color: "#7f7f7f"))
        }
        return CurvePlot(panels: [
            .init(title: "training loss", xLabel: "step", yLabel: "loss", series: [
                .init(name: "loss", points: losses, color: "#1f77b4", width: 1, opacity: 0.3),
                .init(name: String(format: "loss, EMA %.2f", smoothing), points: CurvePlot.ema(losses, weight: smoothing),
                      color: "#1f77b4", width: 2),
            ], vertical: switchStep.map { [.init(name: switchName, value: $0, color: "#444")] } ?? []),
            .init(title: "top-1 retrieval on the test trials", xLabel: "epoch", yLabel: "top-1 (%)", series: [
                .init(name: "image retrieval", points: series("image_retrieval"), color: "#d62728", width: 2),
                .init(name: "brain retrieval", points: series("brain_retrieval"), color: "#2ca02c", width: 2),
            ], horizontal: accuracyLines,
            vertical: switchEpoch.map { [.init(name: switchName, value: $0, color: "#444")] } ?? [], yFromZero: true,
            epochAxis: true),
        ])
    }
}
