import Foundation
import Testing
@testable import Training
@testable import VoxelFormer

@Suite struct CurvePlotTests {
    @Test func ticksFallOnAOneTwoFiveGrid() {
        #expect(CurvePlot.ticks(0, 1) == [0, 0.2, 0.4, 0.6000000000000001, 0.8, 1])
        #expect(CurvePlot.ticks(0, 2400, target: 6) == [0, 500, 1000, 1500, 2000])
        #expect(CurvePlot.ticks(3.1, 4.35) == [3.5, 4])
        #expect(CurvePlot.ticks(0, 3, target: 6, minStep: 1) == [0, 1, 2, 3], "epochs: whole numbers")
        #expect(CurvePlot.label(0.6000000000000001, step: 0.2) == "0.6")
        #expect(CurvePlot.label(1500, step: 500) == "1500")
    }

    @Test func theSmoothedLossIsADebiasedMovingAverage() {
        // by hand, weight 0.5: 1; (0.25 + 1) / 0.75; (0.625 + 1.5) / 0.875
        let s = CurvePlot.ema([(0, 1), (1, 2), (2, 3), (3, .nan)], weight: 0.5)
        #expect(s.map(\.x) == [0, 1, 2])
        #expect(zip(s.map(\.y), [1, 1.25 / 0.75, 2.125 / 0.875]).allSatisfy { Swift.abs($0 - $1) < 1e-12 })
    }

    @Test func runCurvesMarkChanceTheRidgeAndThePhaseSwitchWithTheLegendBesideThePlot() throws {
        var config = VoxelFormerConfig()
        config.train.epochs = 4
        config.train.mixupPct = 0.5  // SoftCLIP from epoch 2
        var records: [[String: Double]] = []
        for step in 1...40 {
            records.append(["step": Double(step), "epoch": Double((step - 1) / 10), "loss": 3 - Double(step) / 20])
            if step % 10 == 0 {
                records.append(["step": Double(step), "epoch": Double(step / 10 - 1),
                                "image_retrieval": Double(step) / 100, "brain_retrieval": Double(step) / 80])
            }
        }
        var subject = SubjectRetrieval(subject: 1, samples: 900, imageRetrieval: 0.3, brainRetrieval: 0.4, cosine: 0.5,
                                       poolSize: 300, pools: 30)
        subject.ridge = BaselineScore(imageRetrieval: 0.62, brainRetrieval: 0.65, lambda: 100)
        let report = EvaluationReport(protocolName: .singleTrial, ties: .fractional, subjects: [subject])
        let plot = RunPlots.plot(records: records, train: config.train, eval: config.eval, report: report)
        #expect(plot.panels[0].vertical.map(\.value) == [20.5], "first step of epoch 2 (step 21), at its left edge")
        #expect(plot.panels[1].vertical.map(\.value) == [2])
        #expect(plot.panels[1].horizontal.map(\.value) == [62, 65, 1.0 / 300 * 100])
        #expect(plot.panels[0].series[1].points.count == 40)
        let svg = plot.svg(width: 720)
        // legend labels start right of the plot area (x ≥ 720 − 170)
        for name in ["image retrieval", "ridge image 62.0%", "chance 0.33%", "BiMixCo → SoftCLIP", "loss, EMA 0.90"] {
            let line = try #require(svg.split(separator: "\n").first { $0.hasSuffix(">\(name)</text>") }, "\(name)")
            let x = try #require(line.split(separator: "\"").dropFirst().first.flatMap { Double($0) })
            #expect(x >= 550, "\(name) at x \(x)")
        }
    }
}
