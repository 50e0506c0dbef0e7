import Foundation

/// `curves.svg` in a run folder: the training loss per step and retrieval accuracy per epoch.
public enum RunPlots {
    public static func write(runDir: URL) throws {
        let records = MetricsLog.read(runDir.appendingPathComponent("metrics.jsonl"))
        let losses = records.compactMap { r in r["loss"].flatMap { l in r["step"].map { (x: $0, y: l) } } }
        let epochs = records.filter { $0["image_retrieval"] != nil }
        func series(_ key: String) -> [(x: Double, y: Double)] {
            epochs.compactMap { r in r[key].flatMap { v in r["epoch"].map { (x: $0 + 1, y: v * 100) } } }
        }
        let plot = CurvePlot(panels: [
            .init(title: "training loss", xLabel: "step", series: [.init(name: "loss", points: losses, color: "#1f77b4")]),
            .init(title: "top-1 retrieval (%)", xLabel: "epoch", series: [
                .init(name: "image retrieval", points: series("image_retrieval"), color: "#d62728"),
                .init(name: "brain retrieval", points: series("brain_retrieval"), color: "#2ca02c"),
            ]),
        ])
        try plot.svg().write(to: runDir.appendingPathComponent("curves.svg"), atomically: true, encoding: .utf8)
    }
}
