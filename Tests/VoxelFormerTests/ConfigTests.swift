import BrainData
import Foundation
import Testing
import Torch
@testable import Training
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
        #expect(throws: ConfigError("unknown key 'trian'; allowed: family, model, data, train, eval, prior, run_dir")) {
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
        #expect(throws: ConfigError("model.layer_scale_init: must be a positive finite number, got 0.0")) {
            try VoxelFormerConfig.load(path: nil, overrides: ["model.layer_scale_init=0"])
        }
        #expect(throws: ConfigError("model.layer_scale_init: must be a positive finite number, got inf")) {
            try VoxelFormerConfig.load(path: nil, overrides: ["model.layer_scale_init=.inf"])
        }
    }

    @Test func layerScaleInitSetsEveryGammaAndDefaultsToTheReference() throws {
        #expect(VoxelFormerConfig().model.layerScaleInit == 1e-6)
        var m = VoxelFormerConfig().model
        m.encoderHiddenDim = 16; m.numHeads = 2; m.decoderHiddenDim = 16; m.clipSeqDim = 2; m.clipEmbDim = 4
        m.layerScaleInit = 0.25
        let encoder = BrainEncoder(m)
        let gammas = encoder.namedParameters().filter { $0.0.contains("gamma_") }
        #expect(gammas.count == 2 * m.natDepth)
        for (name, p) in gammas { #expect(p.toArray(Float.self) == Array(repeating: 0.25, count: 16), "\(name)") }
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

    @Test func gradClipOffIsKeptThroughTheRunFolderYAML() throws {
        for spelling in ["off", "null", "none", "false"] {
            let c = try VoxelFormerConfig.load(path: nil, overrides: ["train.grad_clip=\(spelling)"])
            #expect(c.train.gradClip == .infinity, "grad_clip=\(spelling)")
            #expect(try VoxelFormerConfig.parse(yaml: try c.yaml()).train.gradClip == .infinity)
        }
        #expect(try VoxelFormerConfig.load(path: nil, overrides: ["train.grad_clip=0.5"]).train.gradClip == 0.5)
        #expect(throws: ConfigError("train.grad_clip: expected a positive number or off, found 'loose'")) {
            try VoxelFormerConfig.load(path: nil, overrides: ["train.grad_clip=loose"])
        }
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

/// Each range the issue found unchecked, with the exact message (issue 9).
@Suite struct ConfigRangeTests {
    func message(_ overrides: [String]) -> String {
        do {
            _ = try VoxelFormerConfig.load(path: nil, overrides: overrides)
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    @Test func theQFormerCanHaveHeadsOfItsOwn() throws {
        let shared = try VoxelFormerConfig.load(path: nil, overrides: ["model.num_heads=4"])
        #expect(shared.model.decoderNumHeads == nil && shared.model.qformerHeads == 4)
        let own = try VoxelFormerConfig.load(path: nil, overrides: ["model.num_heads=4", "model.decoder_num_heads=16"])
        #expect(own.model.qformerHeads == 16)
        var small = own.model
        (small.encoderHiddenDim, small.decoderHiddenDim, small.clipSeqDim, small.clipEmbDim, small.tomeR) = (32, 64, 4, 8, 2)
        let model = VoxelFormerModel(small)
        #expect(model.brainEncoder.blocks.natLayers.map(\.attn.heads) == [4, 4])
        #expect(model.brainDecoder.attentionBlocks.flatMap { [$0.crossAttn.heads, $0.selfAttn.heads] } == [16, 16, 16, 16])
        // Heads do not change the parameters: the same names and shapes as with shared heads.
        var sharedSmall = small
        sharedSmall.decoderNumHeads = nil
        let names = { (m: VoxelFormerModel) in m.namedParameters().map { "\($0.0) \($0.1.shape)" } }
        #expect(names(model) == names(VoxelFormerModel(sharedSmall)))
        #expect(message(["model.decoder_num_heads=0"]) == "model.decoder_num_heads: must be at least 1, got 0")
        #expect(message(["model.decoder_num_heads=3"])
            == "model.decoder_hidden_dim: must be a positive multiple of decoder_num_heads (3), got 1280")
        #expect(message(["model.num_heads=3", "model.encoder_hidden_dim=96", "model.decoder_hidden_dim=128"])
            == "model.decoder_hidden_dim: must be a positive multiple of num_heads (3), got 128")
    }

    @Test func modelShapesThatWouldDivideByZeroOrBuildNothing() {
        #expect(message(["model.num_heads=0"]) == "model.num_heads: must be at least 1, got 0")
        #expect(message(["model.num_heads=-2"]) == "model.num_heads: must be at least 1, got -2")
        #expect(message(["model.n_blocks_decoder=-1"]) == "model.n_blocks_decoder: must be at least 1, got -1")
        #expect(message(["model.clip_emb_dim=0"]) == "model.clip_emb_dim: must be at least 1, got 0")
        #expect(message(["model.num_heads=3"])
            == "model.encoder_hidden_dim: must be a positive multiple of num_heads (3), got 256")
        #expect(message(["model.drop_path_rate=1.5"]) == "model.drop_path_rate: must be in [0, 1), got 1.5")
        // unbounded layer counts aborted (munmap_chunk) or hung while building the layers
        #expect(message(["model.nat_depth=9223372036854775807"])
            == "model.nat_depth: must be at most 1024, got 9223372036854775807")
        #expect(message(["model.n_blocks_decoder=1025"]) == "model.n_blocks_decoder: must be at most 1024, got 1025")
        #expect(message(["model.n_blocks_decoder=1024"]) == "no error")
    }

    @Test func trainingRanges() {
        #expect(message(["train.epochs=9223372036854775807"]) == "train.epochs: must be between 3 (OneCycle warms up "
            + "over 2 epochs: pct_start = 2/epochs) and 100000, got 9223372036854775807")
        #expect(message(["train.grad_clip=-1"]) == "train.grad_clip: must be positive, or off to disable clipping, got -1.0")
        #expect(message(["train.grad_clip=0"]) == "train.grad_clip: must be positive, or off to disable clipping, got 0.0")
        #expect(message(["train.weight_decay=-0.01"]) == "train.weight_decay: must be a finite number >= 0, got -0.01")
        #expect(message(["train.max_lr=.nan"]) == "train.max_lr: must be a positive finite number, got nan")
        #expect(message(["train.max_lr=.inf"]) == "train.max_lr: must be a positive finite number, got inf")
        #expect(message(["train.threads=100000"])
            == "train.threads: must be between 0 (libtorch's default) and 1024, got 100000")
        #expect(message(["train.threads=-1"]) == "train.threads: must be between 0 (libtorch's default) and 1024, got -1")
        #expect(message(["train.checkpoint_every_steps=-5"])
            == "train.checkpoint_every_steps: must be 0 (epoch ends only) or more, got -5")
        #expect(message(["eval.batch_size=0"]) == "eval.batch_size: must be at least 1, got 0")
        // an infinite temperature used to surface only as a NaN loss at step 0
        #expect(message(["train.softclip_end_temperature=.inf"])
            == "train.softclip_end_temperature: must be a positive finite number, got inf")
        #expect(message(["data.prefetch=-1"]) == "data.prefetch: must be between 0 and 64 batches, got -1")
    }

    @Test func subjectsAreListedOnceAndNumberedFromOne() {
        #expect(message(["data.train_subjects=[1,1]"]) == "data.train_subjects: subject 1 listed more than once in [1, 1]")
        #expect(message(["data.test_subjects=[2,3,2,3]"])
            == "data.test_subjects: subject 2, 3 listed more than once in [2, 3, 2, 3]")
        #expect(message(["data.train_subjects=[0]"]) == "data.train_subjects: subject numbers start at 1, got 0")
    }

    /// An empty value used to be read as absent: `run_dir=` trained into runs/default, `train.precision=''` in fp32.
    @Test func anEmptyValueIsRefusedNotDefaulted() {
        #expect(message(["run_dir="]) == "run_dir: expected a string, found nothing")
        #expect(message(["train.precision=''"]) == "train.precision: expected a string, found nothing")
        #expect(message(["train.epochs="]) == "train.epochs: expected an integer, found nothing")
        #expect(message(["train.epochs=~"]) == "train.epochs: expected an integer, found '~'")
    }

    /// NaN passed `eta < 0` and reached DDIM sampling; a NaN guidance scale was only caught as NaN samples.
    @Test func priorSamplingValuesMustBeFinite() {
        #expect(message(["train.use_prior=true", "prior.eta=.nan"])
            == "prior.eta: must be a finite number, not negative, got nan")
        #expect(message(["train.use_prior=true", "prior.eta=-0.5"])
            == "prior.eta: must be a finite number, not negative, got -0.5")
        #expect(message(["train.use_prior=true", "prior.guidance_scale=.nan"])
            == "prior.guidance_scale: must be a finite number, got nan")
        #expect(message(["train.use_prior=true", "prior.guidance_scale=.inf"])
            == "prior.guidance_scale: must be a finite number, got inf")
    }

    @Test func aWrongTypeSaysWhatWasFound() {
        #expect(message(["train.epochs=two"]) == "train.epochs: expected an integer, found 'two'")
        #expect(message(["train.max_lr=fast"]) == "train.max_lr: expected a number, found 'fast'")
        #expect(message(["train.epochs=[1, 2]"]) == "train.epochs: expected an integer, found a list")
    }
}

/// YAML that would crash or hang the parser is refused from its text (issue 9).
@Suite struct YAMLLimitTests {
    func message(_ yaml: String) -> String {
        do {
            _ = try VoxelFormerConfig.parse(yaml: yaml, source: "bad.yaml")
            return "no error"
        } catch {
            return "\(error)"
        }
    }

    @Test func deepNestingIsRefusedBeforeParsing() {
        let deep = "model: " + String(repeating: "[", count: 3000) + String(repeating: "]", count: 3000)
        #expect(message(deep) == "bad.yaml: the YAML nests deeper than 64 levels; a config needs 2 (section.key)")
        let dashes = String(repeating: "- ", count: 3000) + "x"
        #expect(message(dashes) == "bad.yaml: the YAML nests deeper than 64 levels; a config needs 2 (section.key)")
        let indented = (0..<200).map { String(repeating: " ", count: $0) + "k\($0):" }.joined(separator: "\n") + " 1"
        #expect(message(indented) == "bad.yaml: the YAML nests deeper than 64 levels; a config needs 2 (section.key)")
        // brackets inside quotes and comments are not nesting
        #expect(message("run_dir: \"" + String(repeating: "[", count: 100) + "\" # " + String(repeating: "{", count: 100))
            == "no error")
    }

    @Test func billionLaughsIsRefusedAfterComposing() {
        var lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
        for i in 1...9 { lines.append("a\(i): &a\(i) [" + Array(repeating: "*a\(i - 1)", count: 10).joined(separator: ", ") + "]") }
        #expect(message(lines.joined(separator: "\n"))
            == "bad.yaml: the YAML expands to more than 100000 values (aliases?); a config has about 100")
    }

    /// Yams keeps both pairs of a duplicated key and the decoder used one of them silently.
    @Test func aDuplicateKeyOrSectionIsRefusedWithBothLines() {
        #expect(message("train:\n  epochs: 3\n  seed: 1\n  epochs: 4\n")
            == "bad.yaml: duplicate key 'train.epochs' (lines 2 and 4); give each key once")
        #expect(message("train:\n  epochs: 3\nmodel:\n  nat_depth: 1\ntrain:\n  epochs: 4\n")
            == "bad.yaml: duplicate section 'train' (lines 1 and 5); give each key once")
        #expect(message("run_dir: a\nrun_dir: b\n") == "bad.yaml: duplicate key 'run_dir' (lines 1 and 2); give each key once")
        // the same name in two sections is no duplicate
        #expect(message("train:\n  batch_size: 8\neval:\n  batch_size: 8\n") == "no error")
    }

    @Test func aHugeFileIsRefused() {
        let huge = "run_dir: x\n" + String(repeating: "# padding\n", count: 110_000)
        #expect(message(huge) == "bad.yaml: 1100011 bytes is too large for a config (at most 1048576)")
    }

    /// Found by `make fuzz`: Yams' base-60 integer parser trapped on `dim: 446744073709551615:0000...`.
    @Test func aSexagesimalNumberIsRefusedNotParsed() {
        #expect(message("prior:\n  dim: 446744073709551615:00000000\n")
            == "bad.yaml: '446744073709551615:00000000' is a base-60 (sexagesimal) number, which a config never needs; quote it if it is text")
        #expect(message("train:\n  epochs: 1:30\n")
            == "bad.yaml: '1:30' is a base-60 (sexagesimal) number, which a config never needs; quote it if it is text")
        #expect(message("run_dir: '1:30'\n") == "no error")
    }

    @Test func aCheckpointsEmbeddedConfigIsReportedAgainstTheCheckpoint() {
        do {
            _ = try VoxelFormerConfig.parse(yaml: "train:\n  epochs: two\n", source: "run/checkpoint.safetensors (its embedded config)")
            Issue.record("expected an error")
        } catch {
            #expect("\(error)" == "run/checkpoint.safetensors (its embedded config): train.epochs: expected an integer, found 'two'")
        }
        do {
            _ = try VoxelFormerConfig.parse(yaml: "train: [", source: "run/checkpoint.safetensors (its embedded config)")
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".hasPrefix("run/checkpoint.safetensors (its embedded config): not valid YAML: "), "\(error)")
        }
    }

    @Test func aResumeNamesEveryKeyThatMayNotChange() throws {
        let trained = VoxelFormerConfig()
        var changed = trained
        changed.train.batchSize = 8
        changed.model.natDepth = 3
        changed.train.epochs = 20
        changed.eval.pools = 2
        #expect(throws: ConfigError("--resume: the config differs from the one run/ck was trained with in keys that cannot "
            + "change mid-run: model.nat_depth (2 -> 3), train.batch_size (32 -> 8); keys that may change: "
            + VoxelFormerConfig.resumableKeys.joined(separator: ", "))) {
            try changed.checkResumable(from: trained, source: "run/ck")
        }
        changed.train.batchSize = 32
        changed.model.natDepth = 2
        try changed.checkResumable(from: trained, source: "run/ck")
    }
}
