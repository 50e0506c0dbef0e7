import BrainData
import Foundation
import Testing
@testable import VoxelFormer

private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

@Suite struct ConfigTests {
    @Test func paperPresetIsTheReferenceConfiguration() throws {
        let c = try VoxelFormerConfig.load(path: repository.appendingPathComponent("configs/paper.yaml").path)
        #expect(c.model == ModelConfig())
        #expect(c.train.maxLR == 5e-5)
        #expect(c.train.epochs == 150)
        #expect(c.data.trainSubjects == [2, 3, 4, 5, 6, 7, 8])
        #expect(c.data.coordinates == .raw)
        #expect(c.model.sirenOmega0 == 30)
        #expect(c.train.sirenLRScale == 1)
        #expect(VoxelFormerModel(c.model).parameterCount == 39_742_464)
    }

    @Test func dottedOverridesSetNestedKeys() throws {
        let c = try VoxelFormerConfig.load(path: repository.appendingPathComponent("configs/demo.yaml").path,
                                           overrides: ["model.nat_depth=3", "train.max_lr=2e-4", "data.train_subjects=[2, 5]",
                                                       "eval.ties=strict", "run_dir=runs/x"])
        #expect(c.model.natDepth == 3)
        #expect(c.train.maxLR == 2e-4)
        #expect(c.data.trainSubjects == [2, 5])
        #expect(c.eval.ties == .strict)
        #expect(c.runDir == "runs/x")
    }

    @Test func aWrongKeyNamesTheKeyAndWhatIsAllowed() {
        #expect(throws: ConfigError("unknown key 'model.nat_dept'; allowed in model: "
            + ModelConfig.CodingKeys.allCases.map(\.rawValue).joined(separator: ", "))) {
            try VoxelFormerConfig.load(path: nil, overrides: ["model.nat_dept=2"])
        }
        #expect(throws: ConfigError("unknown key 'trian'; allowed: model, data, train, eval, prior, run_dir")) {
            try VoxelFormerConfig.load(path: nil, overrides: ["trian.epochs=2"])
        }
    }

    @Test func aWrongValueNamesTheKeyAndWhatIsExpected() throws {
        do {
            _ = try VoxelFormerConfig.load(path: nil, overrides: ["model.nat_depth=two"])
            Issue.record("expected an error")
        } catch let e as ConfigError {
            #expect(e.message.hasPrefix("model.nat_depth: expected an integer"))
        }
        #expect(throws: ConfigError("train.precision: expected fp32, bf16 or fp16, got 'fp8'")) {
            try VoxelFormerConfig.load(path: nil, overrides: ["train.precision=fp8"])
        }
        #expect(throws: ConfigError("model.encoder_hidden_dim: must be a positive multiple of num_heads (8), got 100")) {
            try VoxelFormerConfig.load(path: nil, overrides: ["model.encoder_hidden_dim=100"])
        }
        #expect(throws: ConfigError("override 'model.nat_depth': expected key=value, e.g. model.nat_depth=2")) {
            try VoxelFormerConfig.load(path: nil, overrides: ["model.nat_depth"])
        }
    }

    @Test func coordinatesAndSIRENKeysDecode() throws {
        for form in ["raw", "normalized", "mm"] {
            let c = try VoxelFormerConfig.load(path: nil, overrides: ["data.coordinates=\(form)"])
            #expect(c.data.coordinates.rawValue == form)
        }
        let c = try VoxelFormerConfig.load(path: nil, overrides: ["model.siren_omega0=1", "train.siren_lr_scale=0"])
        #expect(c.model.sirenOmega0 == 1)
        #expect(c.train.sirenLRScale == 0)
        #expect(VoxelFormerConfig().data.coordinates == .raw)
    }

    @Test func badCoordinatesAndSIRENValuesNameTheKey() {
        #expect(throws: ConfigError("data.coordinates: expected raw, normalized, mm, got 'voxels'")) {
            try VoxelFormerConfig.load(path: nil, overrides: ["data.coordinates=voxels"])
        }
        #expect(throws: ConfigError("train.siren_lr_scale: must be 0 (frozen) or more, got -1.0")) {
            try VoxelFormerConfig.load(path: nil, overrides: ["train.siren_lr_scale=-1"])
        }
        #expect(throws: ConfigError("model.siren_omega0: must be positive, got 0.0")) {
            try VoxelFormerConfig.load(path: nil, overrides: ["model.siren_omega0=0"])
        }
    }

    @Test func theYAMLWrittenToARunFolderReadsBackEqual() throws {
        var c = VoxelFormerConfig()
        c.model.tomeR = 7
        c.data.coordinates = .normalized
        c.train.sirenLRScale = 0.1
        c.train.bimixcoForm = .symmetric
        let again = try VoxelFormerConfig.parse(yaml: try c.yaml())
        #expect(again == c)
    }

    @Test func softCLIPTemperatureFollowsTheCosineAnneal() {
        let s = ContrastiveSchedule(epochs: 150)
        #expect(s.switchEpoch == 49)
        #expect(s.usesBiMixCo(epoch: 48) && !s.usesBiMixCo(epoch: 49))
        #expect(s.softCLIPTemperature(epoch: 49) == 0.004)
        #expect(abs(s.softCLIPTemperature(epoch: 149) - 0.0075) < 1e-15)
        // halfway through the 101 SoftCLIP epochs the cosine is 0: the mean of the two ends
        #expect(abs(s.softCLIPTemperature(epoch: 99) - 0.00575) < 1e-15)
    }
}
