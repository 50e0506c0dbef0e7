import BrainData
import Foundation
import Torch

/// The encoder's SVGs, drawn with `CurvePlot`: a run's curves (loss per step, validation mean r per epoch)
/// and an evaluation's per-parcel r.
public enum EncodingPlots {
    static let colors = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"]

    /// curves.svg of an encoding run from its metrics.jsonl records.
    public static func curves(records: [[String: Double]]) -> CurvePlot {
        let losses = records.compactMap { r in r["loss"].flatMap { l in r["step"].map { (x: $0, y: l) } } }
        let scores = records.compactMap { r in r["pearson_r"].flatMap { v in r["epoch"].map { (x: $0 + 1, y: v) } } }
        return CurvePlot(panels: [
            .init(title: "training loss", xLabel: "step", yLabel: "loss", series: [
                .init(name: "loss", points: losses, color: colors[0], width: 1, opacity: 0.3),
                .init(name: "loss, EMA 0.90", points: CurvePlot.ema(losses, weight: 0.9), color: colors[0], width: 2),
            ]),
            .init(title: "mean Pearson r on the held-out episodes", xLabel: "epoch", yLabel: "mean r",
                  series: [.init(name: "mean r", points: scores, color: colors[1], width: 2)], yFromZero: true, epochAxis: true),
        ])
    }

    /// r per parcel (x: the parcel's index) for each subject, sorted from best to worst in a second panel,
    /// with the mean and, when known, the noise ceiling as reference lines. `parcels` is (S, V).
    public static func parcels(_ parcels: Tensor, subjects: [Int], ceiling: Double? = nil) -> CurvePlot {
        let rows = (0..<parcels.shape[0]).map { parcels.select(0, $0).toArray(Double.self) }
        let mean = rows.flatMap { $0 }.reduce(0, +) / Double(max(rows.flatMap { $0 }.count, 1))
        var lines = [CurvePlot.Reference(name: String(format: "mean r %.4f", mean), value: mean, color: "#444")]
        if let ceiling { lines.append(.init(name: String(format: "noise ceiling %.4f", ceiling), value: ceiling, color: "#7f7f7f")) }
        func series(_ sorted: Bool) -> [CurvePlot.Series] {
            rows.enumerated().map { i, r in
                let values = sorted ? r.sorted(by: >) : r
                return .init(name: i < subjects.count ? AlgonautsLayout.subjectName(subjects[i]) : "subject \(i)",
                             points: values.enumerated().map { (x: Double($0.offset), y: $0.element) },
                             color: colors[i % colors.count], width: 1, opacity: 0.8)
            }
        }
        return CurvePlot(panels: [
            .init(title: "Pearson r per parcel", xLabel: "parcel", yLabel: "r", series: series(false), horizontal: lines),
            .init(title: "Pearson r per parcel, sorted", xLabel: "rank", yLabel: "r", series: series(true), horizontal: lines),
        ])
    }
}
