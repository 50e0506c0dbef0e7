import Foundation
import Testing
import Torch
@testable import Training
@testable import VoxelFormer

@Suite(.serialized) struct EvaluatorTests {
    @Test(arguments: TieRule.allCases)
    func scoresMatchNumPyUnderBothProtocols(rule: TieRule) throws {
        let cases = try retrievalCases()
        #expect(cases.contains { $0.protocol == "output-averaged" })
        for c in cases {
            let r = try Evaluator(config: c.evalConfig(rule)).score(
                brain: c.brainTensor, targets: c.targetsTensor, imageIDs: c.imageIds, subject: 4)
            #expect(r.subject == 4 && r.samples == c.samples, "\(c.name): \(r.samples) samples")
            #expect(Swift.abs(r.imageRetrieval - c.expected(rule).image) < 1e-12, "\(c.name) \(rule) image \(r.imageRetrieval)")
            #expect(Swift.abs(r.brainRetrieval - c.expected(rule).brain) < 1e-12, "\(c.name) \(rule) brain \(r.brainRetrieval)")
            #expect(Swift.abs(r.cosine - c.cosine) < 1e-6, "\(c.name) cosine \(r.cosine) vs \(c.cosine)")
            #expect(r.pools == c.poolsDrawn)
        }
    }

    @Test func nonFiniteRowsAreAnErrorNamingTheSourceAndTheRowCount() throws {
        let c = try retrievalCases().first { $0.name == "gaussian-repeats-single" }!
        let evaluator = Evaluator(config: c.evalConfig(.fractional))
        let n = c.samples
        let mask = Tensor((0..<n).map { $0 % 9 == 2 }).reshape(n, 1, 1)  // rows 2, 11, 20, 29, 38
        let poisoned = c.brainTensor.maskedFill(mask, .nan)
        #expect(throws: EvaluationError("brain.npy: 5 of \(n) rows hold NaN or infinite values (rows 2, 11, 20, 29, 38); "
            + "non-finite embeddings cannot be scored")) {
            try evaluator.score(brain: poisoned, targets: c.targetsTensor, imageIDs: nil, subject: nil,
                                brainName: "brain.npy", targetsName: "targets.npy")
        }
        let infTargets = c.targetsTensor.maskedFill(mask, .infinity)
        #expect(throws: EvaluationError("targets.npy: 5 of \(n) rows hold NaN or infinite values (rows 2, 11, 20, 29, 38); "
            + "non-finite embeddings cannot be scored")) {
            try evaluator.score(brain: c.brainTensor, targets: infTargets, imageIDs: nil, subject: nil,
                                brainName: "brain.npy", targetsName: "targets.npy")
        }
    }

    @Test func emptyOrMismatchedInputsAreErrors() throws {
        let evaluator = Evaluator(config: EvalConfig())
        #expect(throws: EvaluationError.self) {
            try evaluator.score(brain: Tensor.zeros([0, 4]), targets: Tensor.zeros([0, 4]), imageIDs: nil, subject: nil)
        }
        #expect(throws: EvaluationError("a.npy has 3 rows and b.npy 4; both need the same number of rows (at least 1), "
            + "row i of each being the same trial")) {
            try evaluator.score(brain: Tensor.ones([3, 4]), targets: Tensor.ones([4, 4]), imageIDs: nil, subject: nil,
                                brainName: "a.npy", targetsName: "b.npy")
        }
        #expect(throws: EvaluationError("a.npy rows have 4 values and b.npy rows 6; the widths must match")) {
            try evaluator.score(brain: Tensor.ones([3, 4]), targets: Tensor.ones([3, 6]), imageIDs: nil, subject: nil,
                                brainName: "a.npy", targetsName: "b.npy")
        }
    }

    @Test func nonFiniteWeightsAreAnErrorNotAPerfectScore() throws {
        let config = tinyConfig()
        Torch.manualSeed(0)
        let model = VoxelFormerModel(config.model)
        let (name, weight) = model.namedParameters()[3]
        Torch.noGrad { weight.fill_(.nan) }
        #expect(throws: EvaluationError("the model: 1 weight tensor holds NaN or infinite values (\(name)); the checkpoint is unusable")) {
            try Evaluator(config: config.eval).evaluate(model: model, data: InMemoryData())
        }
    }

    @Test func progressReachesEveryRowOfEverySubjectAndTheRidgeBaselineIsScored() throws {
        let config = tinyConfig()
        let data = InMemoryData()
        Torch.manualSeed(0)
        let model = VoxelFormerModel(config.model)
        var evaluator = Evaluator(config: config.eval)
        var events: [EvaluationProgress] = []
        evaluator.onProgress = { events.append($0) }
        let report = try evaluator.evaluate(model: model, data: data, baseline: RidgeBaseline())
        for (i, s) in data.testSubjects.enumerated() {
            let rows = try data.testSet(subject: s).voxels.size(0)
            let encoding = events.filter { $0.subject == s && $0.stage == "encoding" }
            #expect(encoding.map(\.done) == Array(stride(from: 16, to: rows, by: 16)) + [rows], "batches of 16")
            #expect(encoding.allSatisfy { $0.total == rows && $0.subjectIndex == i && $0.subjectCount == 2 })
            #expect(events.contains { $0.subject == s && $0.stage == "ridge" && $0.done == 1 })
            // the ridge column is the ridge's own predictions scored by the same code
            let fitted = try RidgeBaseline().predictions(data: data, subject: s)
            let alone = try Evaluator(config: config.eval).score(brain: fitted.brain, targets: fitted.targets,
                                                                 imageIDs: fitted.imageIDs, subject: s)
            let ridge = try #require(report.subjects[i].ridge)
            #expect(ridge.imageRetrieval == alone.imageRetrieval && ridge.brainRetrieval == alone.brainRetrieval)
            #expect(ridge.lambda == fitted.model.lambda)
        }
        let table = report.table()
        #expect(table.contains("ridge image") && table.contains("ridge brain"))
        let json = try report.json()
        #expect(json.contains("\"ridge\""))
        let decoded = try JSONDecoder().decode(EvaluationReport.self, from: Data(json.utf8))
        #expect(decoded.subjects == report.subjects)
    }
}

/// report.json's layout, by hand: stored fields by their snake_case keys, plus the computed `chance` of each
/// row and the `average` row; reading it back ignores those two and gives the same report.
@Suite struct EvaluationReportJSONTests {
    @Test func theJSONHoldsStoredAndComputedKeysAndReadsBack() throws {
        var one = SubjectRetrieval(subject: 1, samples: 10, imageRetrieval: 0.5, brainRetrieval: 0.25, cosine: 0.75,
                                   poolSize: 4, pools: 2)
        one.oracle = 1
        one.ridge = BaselineScore(imageRetrieval: 0.5, brainRetrieval: 0.5, lambda: 10)
        var two = SubjectRetrieval(subject: 2, samples: 6, imageRetrieval: 0.25, brainRetrieval: 0.5, cosine: 0.25,
                                   poolSize: 8, pools: 3)
        two.ridge = BaselineScore(imageRetrieval: 0.25, brainRetrieval: 0.75, lambda: 100)
        var sampled = one
        (sampled.mse, sampled.oracle, sampled.ridge) = (0.5, nil, nil)
        var report = EvaluationReport(protocolName: .outputAveraged, ties: .strict, subjects: [one, two],
                                      prior: EvaluationReportPrior(steps: 5, subjects: [sampled]))
        report.baselineNote = "a note"
        let json = try report.json()
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8)) as? NSDictionary
        let expected: NSDictionary = [
            "protocol": "output-averaged", "ties": "strict", "baseline_note": "a note",
            "subjects": [
                ["subject": 1, "samples": 10, "image_retrieval": 0.5, "brain_retrieval": 0.25, "cosine": 0.75,
                 "pool_size": 4, "pools": 2, "chance": 0.25, "oracle_image_retrieval": 1.0,
                 "ridge": ["image_retrieval": 0.5, "brain_retrieval": 0.5, "lambda": 10.0]],
                ["subject": 2, "samples": 6, "image_retrieval": 0.25, "brain_retrieval": 0.5, "cosine": 0.25,
                 "pool_size": 8, "pools": 3, "chance": 0.125,
                 "ridge": ["image_retrieval": 0.25, "brain_retrieval": 0.75, "lambda": 100.0]],
            ],
            // the mean of each score; the smallest pools; no oracle, as subject 2 has none; ridge without lambda
            "average": ["samples": 16, "image_retrieval": 0.375, "brain_retrieval": 0.375, "cosine": 0.5,
                        "pool_size": 4, "pools": 2, "chance": 0.25,
                        "ridge": ["image_retrieval": 0.375, "brain_retrieval": 0.625]],
            "prior": ["steps": 5, "subjects": [
                ["subject": 1, "samples": 10, "image_retrieval": 0.5, "brain_retrieval": 0.25, "cosine": 0.75,
                 "pool_size": 4, "pools": 2, "chance": 0.25, "mse": 0.5],
            ]],
        ]
        #expect(object == expected, "\(json)")
        let decoded = try JSONDecoder().decode(EvaluationReport.self, from: Data(json.utf8))
        #expect(decoded.subjects == report.subjects && decoded.prior?.subjects == [sampled])
        #expect(decoded.protocolName == .outputAveraged && decoded.ties == .strict && decoded.prior?.steps == 5)
        #expect(decoded.baselineNote == "a note")
    }
}
