import Testing
import Torch
@testable import BrainX

/// UMBRAE's four reconstruction losses against PyTorch's (`F.mse_loss`, `F.l1_loss`, `F.smooth_l1_loss`,
/// `torch.quantile(|d|, 0.9)`) on the fixture's (2, 8, 24) prediction and target, values and gradients.
@Suite struct ReconstructionLossTests {
    @Test(arguments: ReconstructionLoss.allCases) func lossAndGradientMatchPyTorch(loss: ReconstructionLoss) throws {
        let cases = try Fixture.cases()
        let prediction = try #require(cases["loss.prediction"]).clone().requiresGrad()
        let target = try #require(cases["loss.target"])
        let value = loss(prediction, target)
        #expect(value.shape == [])
        expectClose(value.reshape([1]), try #require(cases["loss.\(loss.rawValue)"]), "\(loss.rawValue)")
        value.backward()
        expectClose(try #require(prediction.grad), try #require(cases["loss.\(loss.rawValue).grad"]), "\(loss.rawValue) gradient")
    }

    /// Hand values: |d| = 0..9 (n = 10): rank 0.9·9 = 8.1, so 8 + 0.1·(9 − 8) = 8.1; Huber of d = 0.5 and 3
    /// is (0.125 + 2.5) / 2.
    @Test func handComputedValues() throws {
        let d = Tensor((0..<10).map { Float($0) })
        #expect(abs(ReconstructionLoss.quantile(d, 0.9).item() - 8.1) < 1e-5)
        #expect(ReconstructionLoss.quantile(d, 1).item() == 9 && ReconstructionLoss.quantile(d, 0).item() == 0)
        let loss = ReconstructionLoss.huber
        let huber = loss(Tensor([Float(0.5), 3]), Tensor([Float(0), 0]))
        #expect(abs(huber.item() - 1.3125) < 1e-7)
        #expect(ReconstructionLoss(rawValue: "huber") == .huber && ReconstructionLoss.choices == "mse, l1, huber or quantile")
    }
}
