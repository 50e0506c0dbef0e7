import Foundation
import Testing
import Torch
@testable import Encoding

/// Stage 1 against `Fixtures/generate_encoding.py` (our PyTorch version of MedARC's encoder from the
/// notes): DepthConv1d alone, then four small encoders (3 subjects, streams D 7, (L 2, D 5), 6, d 8,
/// V 11, N 2, T 10) with perturbed weights loaded strictly under MedARC's names. Measured relative error: 0.
@Suite struct MultiSubjectConvLinearEncoderTests {
    static let cases = "stage1_cases.safetensors", configs = "stage1_configs.json"

    struct ConvCase: Decodable {
        let channels: Int, kernelSize: Int, causal: Bool, positive: Bool, blockwise: Bool
        enum CodingKeys: String, CodingKey {
            case channels, kernelSize = "kernel_size", causal, positive, blockwise
        }
    }

    /// Non-causal, causal, positive + blockwise and an even kernel (asymmetric "same" padding).
    @Test(arguments: ["plain", "causal", "positive_blockwise", "even"])
    func depthConvMatchesPyTorch(label: String) throws {
        let c = try Fixture.decode(ConvCase.self, Self.configs, "depthconv.\(label)")
        let conv = DepthConv1d(c.channels, kernelSize: c.kernelSize, causal: c.causal, positive: c.positive, blockwise: c.blockwise)
        let cases = try Fixture.tensors(Self.cases)
        try conv.load(stateDict: Fixture.weights(cases, prefix: "depthconv.\(label).weights"))
        let out = Torch.noGrad { conv(cases["depthconv.\(label).input"]!) }
        expectClose(out, try #require(cases["depthconv.\(label).output"]), "DepthConv1d \(label)")
    }

    /// The causal mask keeps the centre and the past: K 5 -> [1, 1, 1, 0, 0]; output t ignores x[t+1...].
    @Test func causalConvolutionReadsNoFuture() throws {
        let conv = DepthConv1d(3, kernelSize: 5, causal: true)
        #expect(conv.attnMask.toArray(Float.self) == [1, 1, 1, 0, 0])
        let x = Tensor.randn([1, 8, 3])
        let y = x.clone()
        Torch.noGrad { y.slice(1, start: 5).fill_(7) }
        let a = Torch.noGrad { conv(x) }, b = Torch.noGrad { conv(y) }
        #expect((a.slice(1, end: 5) - b.slice(1, end: 5)).abs().max().item() == 0)
        #expect((a.slice(1, start: 5) - b.slice(1, start: 5)).abs().max().item() > 1e-3)
    }

    @Test(arguments: ["acausal", "causal", "linear_pool", "no_conv"])
    func encoderMatchesPyTorch(label: String) throws {
        let config = try Fixture.decode(ConvLinearEncoderConfig.self, Self.configs, label)
        try config.validate()
        let model = MultiSubjectConvLinearEncoder(config)
        #expect(model.namedParameters().map(\.name) == (try Fixture.decode([String].self, Self.configs, label + ".names")))
        #expect(model.parameterCount == (try Fixture.decode(Int.self, Self.configs, label + ".parameter_count")))
        #expect(model.unreachableProperties().isEmpty)
        let cases = try Fixture.tensors(Self.cases)
        try model.load(stateDict: Fixture.weights(cases, prefix: "\(label).weights"))
        model.eval()
        let features = try (0..<3).map { try #require(cases["features.\($0)"]) }
        let out = Torch.noGrad { model(features) }
        #expect(out.shape == [2, 3, 10, 11])
        expectClose(out, try #require(cases["\(label).output"]), "encoder \(label)")
    }

    /// Gradients of sum(output²) for the causal model, every parameter; the masked taps of each
    /// DepthConv1d get exactly zero, as PyTorch's.
    @Test func causalGradientsMatchPyTorch() throws {
        let config = try Fixture.decode(ConvLinearEncoderConfig.self, Self.configs, "causal")
        let model = MultiSubjectConvLinearEncoder(config)
        let cases = try Fixture.tensors(Self.cases)
        try model.load(stateDict: Fixture.weights(cases, prefix: "causal.weights"))
        let features = try (0..<3).map { try #require(cases["features.\($0)"]) }
        model(features).square().sum().backward()
        for (name, p) in model.namedParameters() {
            expectClose(try #require(p.grad, "\(name) has no gradient"), try #require(cases["causal.grad.\(name)"]), "gradient of \(name)")
        }
        let tapGrad = try #require(model.stateDict()["feat_embeds.1.conv.weight"]?.grad)
        #expect(tapGrad.slice(2, start: 3).abs().max().item() == 0)
    }

    /// The default configuration (5 streams D 3072, 1280, 2048, 5120, 1408; d 192; K 45; 4 subjects):
    /// Σ_i (192·D_i + 192 + 192·45 + 192) = 192·12,928 + 5·9,024 = 2,527,296 (the notes' bracket says
    /// 2,525,296, which does not add up to their total), shared decoder 193,000, 4 subject decoders 772,000.
    @Test func defaultParameterCountIsMedARCs() throws {
        let model = MultiSubjectConvLinearEncoder(ConvLinearEncoderConfig())
        #expect(model.featEmbeds.map(\.parameterCount).reduce(0, +) == 2_527_296)
        #expect(model.sharedDecoder?.parameterCount == 193_000)
        #expect(model.parameterCount == 3_492_296)
        #expect(model.parameterCount == (try Fixture.decode(Int.self, Self.configs, "full.parameter_count")))
        #expect(model.stateDict()["feat_embeds.4.conv.attn_mask"]?.shape == [45])
        // trunc_normal(0.02) weights, zero biases
        let std = model.sharedDecoder!.weight.std().item()
        #expect(abs(std - 0.02) < 0.001, "std \(std)")
        #expect(model.subjectDecoders![3].bias!.abs().max().item() == 0)
    }

    @Test func missingOrMisShapedKeysAreNamed() throws {
        let config = try Fixture.decode(ConvLinearEncoderConfig.self, Self.configs, "acausal")
        var weights = Fixture.weights(try Fixture.tensors(Self.cases), prefix: "acausal.weights")
        weights["feat_embeds.1.conv.attn_mask"] = nil
        var error = #expect(throws: Module.LoadError.self) { try MultiSubjectConvLinearEncoder(config).load(stateDict: weights) }
        #expect(error?.report.missing == ["feat_embeds.1.conv.attn_mask"])
        #expect(error?.description.contains("missing keys: feat_embeds.1.conv.attn_mask") == true)
        weights = Fixture.weights(try Fixture.tensors(Self.cases), prefix: "acausal.weights")
        weights["subject_decoders.2.weight"] = Tensor.zeros([11, 9])
        error = #expect(throws: Module.LoadError.self) { try MultiSubjectConvLinearEncoder(config).load(stateDict: weights) }
        #expect(error?.description.contains("subject_decoders.2.weight: expected shape [11, 8], found [11, 9]") == true)
    }

    @Test func configurationDecodesMedARCsKeysAndNamesMistakes() throws {
        let json = #"{"feat_dims": [7, [2, 5]], "encoder_causal": true, "global_pool": "linear", "num_subjects": 2}"#
        let c = try JSONDecoder().decode(ConvLinearEncoderConfig.self, from: Data(json.utf8))
        #expect(c.featDims == [FeatureDim(7), FeatureDim(5, layers: 2)] && c.encoderCausal && c.globalPool == .linear)
        #expect(c.embedDim == 192 && c.encoderKernelSize == 45 && c.targetDim == 1000)
        #expect(throws: DecodingError.self) {
            try JSONDecoder().decode(ConvLinearEncoderConfig.self, from: Data(#"{"global_pool": "attn"}"#.utf8))
        }
        func message(_ edit: (inout ConvLinearEncoderConfig) -> Void) -> String? {
            var config = ConvLinearEncoderConfig()
            edit(&config)
            do { try config.validate(); return nil } catch { return "\(error)" }
        }
        #expect(message { _ in } == nil)
        #expect(message { $0.embedDim = 0 } == "model.embed_dim: must be in 1...1048576, got 0")
        #expect(message { $0.featDims = [] } == "model.feat_dims: must list at least one feature stream")
        #expect(message { $0.encoderCausal = true; $0.encoderKernelSize = 44 } == "model.encoder_kernel_size: must be odd with encoder_causal, got 44")
        #expect(message { $0.decoderKernelSize = 11 } == "model.decoder_kernel_size: must be 0 or 1 (linear decoders), got 11")
        #expect(message { $0.withSharedDecoder = false; $0.withSubjectDecoders = false }
            == "model.with_subject_decoders: with_shared_decoder and with_subject_decoders cannot both be false")
    }
}
