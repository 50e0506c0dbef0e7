import Foundation
import Testing
import Torch
@testable import Encoding

/// Matcha's U-Net estimator against `Fixtures/generate_flow_matching.py` (our PyTorch version from the
/// notes, whose full-size parameter counts equal the notes' measured 11,217,792 / 12,505,344 / 3,151,360):
/// in 16 (x and mu of 8 channels), out 8, B 2, T 8, per-sample t; transformer blocks at [16, 24],
/// conformer blocks at [16, 16], and three levels [16, 16, 16] with 2 transformer blocks per level and
/// conformer middle blocks. Every parameter and batch-norm statistic is perturbed; evaluation mode.
/// Measured relative errors: 2.7e-7 to 9.0e-7; padding changes the second sample's valid frames by
/// 1.4 to 2.2 (outputs up to 5.5), so the masks are exercised.
@Suite struct MatchaDecoderTests {
    static let configs = "flow_configs.json"
    static func cases() throws -> [String: Tensor] {
        try Fixture.tensors("flow_decoder_cases.safetensors").merging(try Fixture.tensors("flow_cfm_cases.safetensors")) { a, _ in a }
    }

    static func model(_ label: String) throws -> MatchaDecoder {
        let config = try Fixture.decode(MatchaDecoderConfig.self, configs, label)
        try config.validate()
        return MatchaDecoder(inChannels: 16, outChannels: 8, config)
    }

    @Test(arguments: ["transformer", "conformer", "mixed"])
    func namesAndCountAreTheReferences(label: String) throws {
        let model = try Self.model(label)
        #expect(model.namedParameters().map(\.name) == (try Fixture.decode([String].self, Self.configs, label + ".names")))
        #expect(Set(model.namedBuffers().map(\.name)) == Set(try Fixture.decode([String].self, Self.configs, label + ".buffers")))
        #expect(model.parameterCount == (try Fixture.decode(Int.self, Self.configs, label + ".parameter_count")))
        #expect(model.unreachableProperties().isEmpty)
    }

    /// All-ones mask, and a mask padding the second sample's last 2 frames (the transformer's additive
    /// mask quirk and the conformer's exclusion both show there: excluding the padded keys in the
    /// transformer's attention instead moves its padded output by 0.37 relative, measured in PyTorch).
    @Test(arguments: ["transformer", "conformer", "mixed"])
    func forwardMatchesPyTorch(label: String) throws {
        let model = try Self.model(label)
        let cases = try Self.cases()
        try model.load(stateDict: Fixture.weights(cases, prefix: "\(label).weights"))
        model.eval()
        for mask in ["full", "padded"] {
            let out = Torch.noGrad {
                model(cases["decoder.x"]!, mask: cases["mask.\(mask)"]!, mu: cases["decoder.mu"]!, t: cases["decoder.t"]!)
            }
            expectClose(out, try #require(cases["\(label).\(mask).output"]), "\(label) decoder, \(mask) mask")
        }
    }

    /// Full sizes for stage 2's latent d 128 (in 256, out 128), counted by the generator's PyTorch model.
    @Test(arguments: [("full.transformer", 11_217_792), ("full.conformer", 12_505_344), ("full.small", 3_151_360)])
    func fullSizeParameterCounts(label: String, count: Int) throws {
        let config = try Fixture.decode(MatchaDecoderConfig.self, Self.configs, label)
        let model = MatchaDecoder(inChannels: 256, outChannels: 128, config)
        #expect(model.parameterCount == count)
        #expect(model.parameterCount == (try Fixture.decode(Int.self, Self.configs, label + ".parameter_count")))
        if label == "full.transformer" {
            // the notes' breakdown: time_mlp 1,312,768; down 3,159,552; mid 2,765,824; up 3,749,376
            #expect(model.timeMLP.parameterCount == 1_312_768)
            #expect(model.downBlocks.map(\.parameterCount).reduce(0, +) == 3_159_552)
            #expect(model.midBlocks.map(\.parameterCount).reduce(0, +) == 2_765_824)
            #expect(model.upBlocks.map(\.parameterCount).reduce(0, +) == 3_749_376)
            #expect(model.finalBlock.parameterCount == 197_376 && model.finalProj.parameterCount == 32_896)
        }
    }

    @Test func aMisShapedOrMissingKeyIsNamed() throws {
        var weights = Fixture.weights(try Self.cases(), prefix: "conformer.weights")
        weights["mid_blocks.1.1.0.attn.fn.rel_pos_emb.weight"] = Tensor.zeros([1025, 5])
        weights["up_blocks.0.1.0.conv.net.5.running_var"] = nil
        let error = #expect(throws: Module.LoadError.self) { try Self.model("conformer").load(stateDict: weights) }
        #expect(error?.description.contains("mid_blocks.1.1.0.attn.fn.rel_pos_emb.weight: expected shape [1025, 4], found [1025, 5]") == true)
        #expect(error?.report.missing == ["up_blocks.0.1.0.conv.net.5.running_var"])
    }

    /// Training-mode batch norm normalises with the batch's statistics and moves the running ones by
    /// momentum 0.1 (unbiased variance), as torch.nn.BatchNorm1d does; hand-computed on one channel.
    @Test func batchNormTrainingUpdatesRunningStatistics() throws {
        let bn = BatchNorm1d(1)
        let x = Tensor([1, 2, 3, 6] as [Float], shape: [2, 1, 2])
        let y = bn(x)
        // mean 3, biased variance 3.5, unbiased 14/3
        let expected: [Float] = [-2, -1, 0, 3].map { Float(Double($0) / (3.5 + 1e-5).squareRoot()) }
        #expect(zip(y.toArray(Float.self), expected).allSatisfy { abs($0 - $1) < 1e-5 })
        #expect(abs(bn.runningMean.item() - 0.3) < 1e-6)
        #expect(abs(bn.runningVar.item() - (0.9 + 0.1 * 14 / 3)) < 1e-6)
        #expect(bn.numBatchesTracked.itemInt() == 1)
    }

    /// Training mode without dropout: the conformer's batch norm uses the batch's statistics (padded
    /// frames included, as in PyTorch) and moves its running statistics; both against PyTorch.
    @Test func conformerTrainingModeMatchesPyTorch() throws {
        var config = try Fixture.decode(MatchaDecoderConfig.self, Self.configs, "conformer")
        config.dropout = 0
        let model = MatchaDecoder(inChannels: 16, outChannels: 8, config)
        let cases = try Self.cases()
        try model.load(stateDict: Fixture.weights(cases, prefix: "conformer.weights"))
        model.train()
        let out = Torch.noGrad {
            model(cases["decoder.x"]!, mask: cases["mask.padded"]!, mu: cases["decoder.mu"]!, t: cases["decoder.t"]!)
        }
        expectClose(out, try #require(cases["conformer.train.output"]), "conformer decoder, training mode")
        let bn = try #require(model.upBlocks[0].blocks[0] as? ConformerBlock).conv.net.batchNorm
        expectClose(bn.runningMean, try #require(cases["conformer.train.running_mean"]), "running_mean after one batch")
        expectClose(bn.runningVar, try #require(cases["conformer.train.running_var"]), "running_var after one batch")
        #expect(bn.numBatchesTracked.itemInt() == 4)
    }

    @Test func configurationMistakesNameTheKey() throws {
        func message(_ edit: (inout MatchaDecoderConfig) -> Void) -> String? {
            var config = MatchaDecoderConfig()
            edit(&config)
            do { try config.validate(); return nil } catch { return "\(error)" }
        }
        #expect(message { _ in } == nil)
        #expect(message { $0.channels = [256, 100] }
            == "model.decoder.channels: entry 1 must be a multiple of 8 (GroupNorm with 8 groups) in 8...65536, got 100")
        #expect(message { $0.numHeads = 0 } == "model.decoder.num_heads: must be in 1...65536, got 0")
        #expect(message { $0.dropout = 1 } == "model.decoder.dropout: must be in [0, 1), got 1.0")
        let json = #"{"channels": [32, 32], "mid_block_type": "conformer", "num_heads": 4}"#
        let c = try JSONDecoder().decode(MatchaDecoderConfig.self, from: Data(json.utf8))
        #expect(c.channels == [32, 32] && c.midBlockType == .conformer && c.downBlockType == .transformer && c.numHeads == 4)
        #expect(c.attentionHeadDim == 64 && c.numMidBlocks == 2 && c.dropout == 0.05 && c.lengthMultiple == 2)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(MatchaDecoderConfig.self, from: Data(#"{"up_block_type": "mamba"}"#.utf8))
        }
    }
}
