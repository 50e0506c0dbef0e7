import Foundation
import Testing
import Torch
@testable import MindEye2

/// Weights that do not fit the configuration fail strict loading with the dotted reference key and
/// both shapes, and copy nothing.
@Suite struct MindEye2LoadingTests {
    @Test func aWrongShapeNamesTheKeyAndBothShapes() throws {
        var weights = try Fixture.weights()
        weights["backbone.backbone_linear.weight"] = Tensor.zeros([31, 64])
        let model = MindEye2Model(try Fixture.config("reference"))
        let before = model.backbone.clipProj.fc1.weight.toArray(Float.self)
        let error = #expect(throws: Module.LoadError.self) { try model.load(stateDict: weights) }
        #expect(error?.description.contains("backbone.backbone_linear.weight: expected shape [32, 64], found [31, 64]") == true)
        #expect(error?.report.mismatched.map(\.name) == ["backbone.backbone_linear.weight"])
        #expect(model.backbone.clipProj.fc1.weight.toArray(Float.self) == before)
    }

    /// A subject built with another voxel count: the ridge weight of that subject is named.
    @Test func aSubjectsVoxelCountMismatchNamesItsRidge() throws {
        var config = try Fixture.config("reference")
        config.numVoxels = [37, 54]
        let error = #expect(throws: Module.LoadError.self) { try MindEye2Model(config).load(stateDict: try Fixture.weights()) }
        #expect(error?.description.contains("ridge.linears.1.weight: expected shape [64, 54], found [64, 53]") == true)
    }

    /// One subject fewer than the checkpoint: the other subject's ridge is unexpected (strict), and is
    /// dropped by a non-strict load, which loads the rest.
    @Test func extraSubjectsAreUnexpectedKeys() throws {
        var config = try Fixture.config("reference")
        config.numVoxels = [37]
        let error = #expect(throws: Module.LoadError.self) { try MindEye2Model(config).load(stateDict: try Fixture.weights()) }
        #expect(error?.report.unexpected == ["ridge.linears.1.bias", "ridge.linears.1.weight"])
        let model = MindEye2Model(config)
        let report = try model.load(stateDict: try Fixture.weights(), strict: false)
        #expect(report.missing.isEmpty && report.mismatched.isEmpty && report.unexpected.count == 2)
        model.eval()
        let cases = try Fixture.cases()
        let voxels = try #require(cases["subject0.voxels"])
        let out = Torch.noGrad { model(voxels, subject: 0) }
        expectClose(out.backbone, try #require(cases["reference.subject0.backbone"]), "one-subject backbone")
    }

    @Test func configurationMistakesNameTheKey() throws {
        func message(_ edit: (inout MindEye2Config) -> Void) -> String? {
            var config = MindEye2Config()
            edit(&config)
            do { try config.validate(); return nil } catch { return "\(error)" }
        }
        #expect(message { _ in } == nil)
        #expect(message { $0.hiddenDim = 0 } == "model.hidden_dim: must be at least 1, got 0")
        #expect(message { $0.nBlocks = -1 } == "model.n_blocks: must be in 0...1024, got -1")
        #expect(message { $0.drop = 1 } == "model.drop: must be in [0, 1), got 1.0")
        #expect(message { $0.numVoxels = [] } == "model.num_voxels: must list at least one subject's voxel count")
        #expect(message { $0.numVoxels = [10, 0] } == "model.num_voxels: entry 1 must be at least 1, got 0")
    }

    @Test func defaultsAreTheReferenceTrainingSetup() throws {
        let d = try JSONDecoder().decode(MindEye2Config.self, from: Data("{}".utf8))
        #expect(d == MindEye2Config())
        #expect(d.hiddenDim == 1024 && d.nBlocks == 4 && d.clipSeqDim == 256 && d.clipEmbDim == 1664)
        #expect(d.drop == 0.15 && d.numVoxels == [15724] && !d.effectiveBlocks)
        let encoded = String(decoding: try JSONEncoder().encode(d), as: UTF8.self)
        #expect(encoded.contains("\"effective_blocks\":false") && encoded.contains("\"num_voxels\":[15724]"))
    }
}
