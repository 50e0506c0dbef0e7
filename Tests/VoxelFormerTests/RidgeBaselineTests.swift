import Foundation
import Testing
import Torch
@testable import Training
@testable import VoxelFormer

@Suite(.serialized) struct RidgeBaselineTests {
    struct Case: Decodable {
        let n: Int, v: Int, d: Int, testN: Int
        let xTrain: [Float], yTrain: [Float], xTest: [Float]
        let lambdas: [Double], validationMse: [Double]
        let lambda: Double
        let weight: [Double], bias: [Double], predictions: [Double]
    }
    struct File: Decodable { let cases: [Case] }

    @Test func picksTheNumPyPenaltyAndFitsTheNumPyWeights() throws {
        let cases = try Fixture.decode(File.self, "ridge.json").cases
        #expect(Set(cases.map(\.lambda)).count > 1, "the fixture picks more than one penalty")
        #expect(cases.contains { $0.v > $0.n } && cases.contains { $0.v <= $0.n }, "both the primal and the dual form")
        for c in cases {
            var ridge = RidgeBaseline()
            ridge.lambdas = c.lambdas
            let model = try ridge.fit(x: Tensor(c.xTrain, shape: [c.n, c.v]), y: Tensor(c.yTrain, shape: [c.n, c.d]))
            #expect(model.lambda == c.lambda, "n \(c.n), v \(c.v)")
            for (a, e) in zip(model.validationMSE, c.validationMse) {
                #expect(Swift.abs(a - e) <= 1e-8 * Swift.abs(e), "held-out MSE \(a) vs \(e)")
            }
            expectClose(model.weight, c.weight, atol: 1e-7, rtol: 1e-7, "weight (n \(c.n), v \(c.v))")
            expectClose(model.bias, c.bias, atol: 1e-9, rtol: 1e-9, "bias")
            expectClose(model.predict(Tensor(c.xTest, shape: [c.testN, c.v])), c.predictions, atol: 1e-6, rtol: 1e-7,
                        "test predictions")
        }
    }

    @Test func tooFewTrialsOrTooLargeTargetsAreReportedNotCrashed() throws {
        #expect(throws: EvaluationError.self) {
            try RidgeBaseline().fit(x: Tensor.randn([2, 4]), y: Tensor.randn([2, 3]))
        }
        #expect(RidgeBaseline().tooLarge(trials: 9000, voxels: 15000, width: 256 * 1664) != nil)
        #expect(RidgeBaseline().tooLarge(trials: 2000, voxels: 400, width: 16 * 64) == nil)
    }
}
