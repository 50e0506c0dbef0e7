import Foundation
import Testing
@testable import Training
@testable import VoxelFormer

@Suite struct PaperPresetTests {
    @Test func thePaperPresetTrainsThePaperSizedPriorJointly() throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let c = try VoxelFormerConfig.load(path: repository.appendingPathComponent("configs/paper.yaml").path)
        #expect(c.train.usePrior)
        #expect(c.train.priorLossScale == 30)
        // PriorConfig() is the paper's prior: 259,865,216 parameters (PriorTests.referenceSize...)
        #expect(c.prior == PriorConfig())
        #expect(c.prior.dim == c.model.clipEmbDim && c.prior.numTokens == c.model.clipSeqDim)
    }
}
