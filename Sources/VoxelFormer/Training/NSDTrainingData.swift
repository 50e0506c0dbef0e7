import BrainData
import Foundation
import Torch

/// Serves training and test data from a data root in MindEye2's layout (real NSD or `voxelformer synth`
/// output) through the data layer.
public final class NSDTrainingData: TrainingData, @unchecked Sendable {
    public let dataset: NSDDataset
    public let trainSubjects: [Int]
    public let testSubjects: [Int]
    let assembler: BatchAssembler
    let coordinateForm: VoxelCoordinates

    public init(config: DataConfig) throws {
        let dtype: DType = switch config.betasDtype {
        case "float16": .float16
        case "bfloat16": .bfloat16
        default: .float32
        }
        dataset = try NSDDataset(root: URL(fileURLWithPath: config.root),
                                 options: NSDOptions(betasDType: dtype, replaceNonFinite: config.replaceNonFinite))
        for s in config.trainSubjects + config.testSubjects where !dataset.subjects.contains(s) {
            throw ConfigError("data.train_subjects/test_subjects: subject \(s) is not in \(config.root) "
                + "(subjects present: \(dataset.subjects.map(String.init).joined(separator: ", ")))")
        }
        trainSubjects = config.trainSubjects
        testSubjects = config.testSubjects
        assembler = BatchAssembler(dataset: dataset)
        coordinateForm = config.coordinates
    }

    public func coordinates(subject: Int) throws -> Tensor {
        let s = try dataset.subject(subject)
        return s.positions(coordinateForm)
    }

    public func trainTrialCount(subject: Int) -> Int { (try? dataset.subject(subject).trainTrials.count) ?? 0 }

    public func trainBatch(subject: Int, trials: [Int]) throws -> (voxels: Tensor, targets: Tensor) {
        let b = try assembler.assemble(Batch(subject: subject, trials: trials))
        return (b.voxels, b.targets)
    }

    public func testSet(subject: Int) throws -> (voxels: Tensor, targets: Tensor, imageIDs: [Int]) {
        let s = try dataset.subject(subject)
        let b = try assembler.assemble(subject: subject, trials: s.testTrials)
        return (b.voxels, b.targets, b.images)
    }
}
