import Testing
import Torch
@testable import BrainX

/// Parameter counts against the notes (/work/shared/ref/umbrae-vindex.md B2, counted on UMBRAE's own
/// modules) and against PyTorch's count of the generator's modules built on the meta device
/// (`brainx_counts.json`), and by hand from the shapes: a Linear(a, b) holds a·b + b, a LayerNorm(d) 2d.
@Suite struct BrainXParameterCountTests {
    /// The fixture model "brainx": hidden 32, output 24, 8 latents, 2 layers of 4 × 6, subjects of 37 and
    /// 53 voxels, 3 tokens each.
    @Test func smallModel() throws {
        let model = try #require(try makeBrainX(try Fixture.config("brainx")) as? BrainX)
        #expect(model.lin1.parameterCount == 32)             // 2 · (8 + 8)
        #expect(model.lin2.parameterCount == 2_880 + 64)     // 37·32 + 53·32 + 2·32
        #expect(model.token.parameterCount == 192)           // 2 · 3·32
        let layer = 2 * 64 + 32 * 24 + 32 * 48 + 24 * 32 + 64 + 2 * 32 * 128  // LNs, to_q, to_kv, to_out, FF LN, FF
        #expect(model.perceiver.perceiver.layers[0].parameterCount == layer)
        #expect(model.perceiver.parameterCount == 64 + (32 * 24 + 24) + 8 * 32 + 32 + 2 * layer + 64)
    }

    /// UMBRAE's BrainX, 4 subjects, output 1024: 146,500,608 parameters, perceiver 89,434,112 (its
    /// resampler 88,382,464), tokenizers 16,102,912 / 14,622,208 / 13,353,472 / 12,987,904. Builds the
    /// model (about 590 MB of float32).
    @Test func brainXAtUMBRAEsSizes() throws {
        let counts = try Fixture.counts()
        let model = try #require(try makeBrainX(BrainXConfig.nsd(subjects: [1, 2, 5, 7])) as? BrainX)
        #expect(model.parameterCount == 146_500_608)
        #expect(model.parameterCount == counts["brainx_out1024"])
        #expect(model.perceiver.parameterCount == 89_434_112)
        #expect(model.perceiver.perceiver.parameterCount == 88_382_464)
        #expect(model.perceiver.perceiver.parameterCount == counts["resampler"])
        let tokenizers = model.config.subjectKeys.map { model.lin1[$0]!.parameterCount + model.lin2[$0]!.parameterCount }
        #expect(tokenizers == [16_102_912, 14_622_208, 13_353_472, 12_987_904])
        #expect(tokenizers == model.config.subjectKeys.map { counts["tokenizer_\($0)"] ?? -1 })
        #expect(model.token.parameterCount == 0)
    }

    /// BrainXS for subject 1: 105,537,024; BrainX with output 4096: 149,649,408 (the notes' counts).
    @Test func singleSubjectAndWideOutput() throws {
        let counts = try Fixture.counts()
        let single = try makeBrainX(BrainXConfig.nsd(.brainxs, subjects: [1]))
        #expect(single.parameterCount == 105_537_024 && single.parameterCount == counts["brainxs_subject1"])
        let wide = try makeBrainX(BrainXConfig.nsd(subjects: [1, 2, 5, 7], outDim: 4096))
        #expect(wide.parameterCount == 149_649_408 && wide.parameterCount == counts["brainx_out4096"])
        #expect(counts["brainxc_subject7"] == 102_422_016)
    }

    /// With `use_token`, 5 × 1024 per subject more (the reference's (1, 5, hidden) tokens).
    @Test func subjectTokensAddFiveTokensEach() throws {
        var config = try Fixture.config("brainx")
        let without = { var c = config; c.useToken = false; return try makeBrainX(c).parameterCount }
        config.numTokens = 5
        #expect(try makeBrainX(config).parameterCount - (try without()) == 2 * 5 * 32)
    }
}

/// `BrainXConfig.parameterCounts` (what `voxelformer info` prints, from the shapes) against the built models
/// and the notes' counts.
@Suite struct BrainXShapeCountTests {
    @Test func shapeCountsEqualTheBuiltModels() throws {
        for label in Fixture.labels {
            let config = try Fixture.config(label)
            let model = try makeBrainX(config)
            let counts = config.parameterCounts
            #expect(counts.total == model.parameterCount, "\(label)")
            #expect(counts.perceiver == model.perceiver.parameterCount && counts.resampler == model.perceiver.perceiver.parameterCount)
            if let x = model as? BrainX {
                #expect(counts.tokenizers == config.subjectKeys.map { x.lin1[$0]!.parameterCount + x.lin2[$0]!.parameterCount }, "\(label)")
                #expect(counts.tokens.reduce(0, +) == x.token.parameterCount)
            }
        }
    }

    /// The notes' (B2) counts, without building anything.
    @Test func umbraesSizes() throws {
        let brainx = BrainXConfig.nsd(subjects: [1, 2, 5, 7]).parameterCounts
        #expect(brainx.total == 146_500_608 && brainx.perceiver == 89_434_112 && brainx.resampler == 88_382_464)
        #expect(brainx.tokenizers == [16_102_912, 14_622_208, 13_353_472, 12_987_904])
        #expect(BrainXConfig.nsd(subjects: [1, 2, 5, 7], outDim: 4096).parameterCounts.total == 149_649_408)
        #expect(BrainXConfig.nsd(.brainxs, subjects: [1]).parameterCounts.total == 105_537_024)
        var adapted = BrainXConfig.nsd(.brainxc, subjects: [7])
        adapted.freezePerceiver = true
        #expect(adapted.parameterCounts.total == 102_422_016 && adapted.parameterCounts.trainable == 12_987_904)
        var tokens = BrainXConfig.nsd(subjects: [1, 2, 5, 7])
        tokens.useToken = true
        #expect(tokens.parameterCounts.total == 146_500_608 + 4 * 5 * 1024)
    }
}
