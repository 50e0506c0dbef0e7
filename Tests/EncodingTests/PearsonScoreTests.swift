import Testing
import Torch
@testable import Encoding

/// The metric against NumPy (`Fixtures/generate_encoding.py`): 2 subjects, episodes of 13 and 21 TRs with
/// different offsets, 6 parcels of which one is constant (r 0, not NaN).
@Suite struct PearsonScoreTests {
    @Test func perParcelAndMeanMatchNumPy() throws {
        let cases = try Fixture.tensors("pearson_cases.safetensors")
        func episodes(_ s: Int, _ kind: String) throws -> [Tensor] {
            try (0..<2).map { try #require(cases["subject\(s).episode\($0).\(kind)"]) }
        }
        let score = try encodingScore(targets: [try episodes(0, "true"), try episodes(1, "true")],
                                      predictions: [try episodes(0, "pred"), try episodes(1, "pred")])
        for s in 0..<2 {
            expectClose(score.perParcel[s], try #require(cases["subject\(s).r"]), tolerance: 1e-9, "subject \(s) r")
            #expect(score.perParcel[s].toArray(Double.self)[5] == 0)
        }
        let expected = try #require(cases["mean_r"]).item()
        #expect(abs(score.mean - expected) < 1e-9, "mean \(score.mean), NumPy \(expected)")
    }

    /// Hand computation: y = [1, 2, 3], ŷ = [2, 4, 6] gives r = 1 − ε-terms; ŷ reversed gives −1.
    @Test func perfectAndReversedPredictions() throws {
        let y = Tensor([1, 2, 3] as [Float], shape: [3, 1])
        let up = try pearsonrScore(y, y * 2).item(), down = try pearsonrScore(y, y * -1).item()
        #expect(abs(up - 1) < 1e-6 && abs(down + 1) < 1e-6)
    }

    @Test func mismatchedShapesAreRefused() throws {
        let error = #expect(throws: ScoreError.self) { try pearsonrScore(Tensor.zeros([4, 3]), Tensor.zeros([4, 2])) }
        #expect(error?.description == "pearsonr_score: expected targets and predictions of one shape (T, V), got [4, 3] and [4, 2]")
        let e2 = #expect(throws: ScoreError.self) {
            try encodingScore(targets: [[Tensor.zeros([4, 3])]], predictions: [[Tensor.zeros([5, 3])]])
        }
        #expect(e2?.description == "encoding score: subject 0 episode 0: targets [4, 3], predictions [5, 3], expected one shape (T, V)")
    }
}
