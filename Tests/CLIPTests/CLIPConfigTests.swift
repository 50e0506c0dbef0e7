import Foundation
import Testing
import Torch
@testable import CLIP

@Suite struct CLIPConfigTests {
    private func decode(_ json: String) throws -> CLIPVisionConfig {
        try JSONDecoder().decode(CLIPVisionConfig.self, from: Data(json.utf8))
    }

    /// The built-ins equal open_clip 2.24.0's model_configs/*.json (vision part, copied verbatim).
    @Test func builtInsMatchOpenCLIPFiles() throws {
        let files = [
            "ViT-bigG-14": #"{"embed_dim": 1280, "vision_cfg": {"image_size": 224, "layers": 48, "width": 1664, "head_width": 104, "mlp_ratio": 4.9231, "patch_size": 14}}"#,
            "ViT-L-14": #"{"embed_dim": 768, "vision_cfg": {"image_size": 224, "layers": 24, "width": 1024, "patch_size": 14}}"#,
            "ViT-L-14-quickgelu": #"{"embed_dim": 768, "quick_gelu": true, "vision_cfg": {"image_size": 224, "layers": 24, "width": 1024, "patch_size": 14}}"#,
            "ViT-H-14": #"{"embed_dim": 1024, "vision_cfg": {"image_size": 224, "layers": 32, "width": 1280, "head_width": 80, "patch_size": 14}}"#,
        ]
        for (name, json) in files {
            #expect(try decode(json) == CLIPVisionConfig.builtIn[name], "\(name)")
        }
        let bigG = CLIPVisionConfig.vitBigG14.vision
        // MindEye2's 256 × 1664 tokens; int(1664 · 4.9231) = 8192; 1664 / 104 = 16 heads.
        #expect(bigG.patchCount == 256 && bigG.width == 1664 && bigG.mlpWidth == 8192 && bigG.heads == 16)
        #expect(CLIPVisionConfig.vitL14.vision.heads == 16 && CLIPVisionConfig.vitL14.vision.mlpWidth == 4096)
        #expect(!CLIPVisionConfig.vitBigG14.quickGelu && CLIPVisionConfig.vitL14QuickGelu.quickGelu)
    }

    @Test func fullSizeParameterNamesAreOpenCLIPs() {
        let model = VisionTransformer(CLIPVisionConfig(
            embedDim: 8, vision: .init(imageSize: 28, patchSize: 14, width: 32, layers: 2, headWidth: 16)))
        let names = model.namedParameters().map(\.name)
        #expect(names.prefix(5) == ["class_embedding", "positional_embedding", "proj", "conv1.weight", "ln_pre.weight"])
        #expect(names.contains("transformer.resblocks.1.attn.in_proj_weight"))
        #expect(names.contains("transformer.resblocks.1.attn.out_proj.bias"))
        #expect(names.contains("transformer.resblocks.0.mlp.c_fc.weight"))
        #expect(names.contains("transformer.resblocks.0.mlp.c_proj.bias"))
        #expect(names.last == "ln_post.bias")
        #expect(model.stateDict()["positional_embedding"]!.shape == [5, 32])
    }

    @Test func unsupportedFieldsAreRefusedByName() throws {
        let base = #""image_size": 32, "layers": 2, "width": 128, "patch_size": 8"#
        #expect(throws: CLIPError.unsupported("vision_cfg.ls_init_value is not supported")) {
            try decode(#"{"embed_dim": 8, "vision_cfg": {\#(base), "ls_init_value": 0.1}}"#)
        }
        #expect(throws: CLIPError.unsupported("vision_cfg.timm_model_name is not supported")) {
            try decode(#"{"embed_dim": 8, "vision_cfg": {\#(base), "timm_model_name": "vit"}}"#)
        }
        #expect(throws: CLIPError.badConfig("vision_cfg.image_size 30 is not a multiple of patch_size 8")) {
            try decode(#"{"embed_dim": 8, "vision_cfg": {"image_size": 30, "layers": 2, "width": 48, "patch_size": 8}}"#)
        }
        // open_clip's defaults written out are accepted
        let ok = try decode(#"{"embed_dim": 8, "vision_cfg": {\#(base), "ls_init_value": null, "no_ln_pre": false, "pos_embed_type": "learnable"}}"#)
        #expect(ok.vision.headWidth == 64 && ok.vision.mlpRatio == 4)
    }

    @Test func missingFileIsNamed() {
        let url = URL(fileURLWithPath: "/nonexistent/ViT.json")
        #expect { try CLIPVisionConfig.load(url) } throws: { "\($0)".contains("/nonexistent/ViT.json") }
    }

    @Test func badInputsThrow() throws {
        let model = try ClipFixture.model("openclip")
        #expect(throws: CLIPError.badInput("layer 4: expected -4...3 (3 blocks)")) {
            try model(Tensor.zeros([1, 3, 32, 32]), output: .layer(4))
        }
        #expect(throws: CLIPError.badInput("images of shape [1, 3, 16, 32]: expected (B, 3, 32, 32)")) {
            try model(Tensor.zeros([1, 3, 16, 32]))
        }
        #expect(model.blockCount(forLayer: -2) == 2 && model.blockCount(forLayer: -4) == 0)
    }

    /// An HF checkpoint without one of q, k, v keeps its HF names, so the load error names them.
    @Test func incompleteHFAttentionIsReported() throws {
        var weights = try Safetensors.read(ClipFixture.url("clip_hf_weights.safetensors"))
        weights["vision_model.encoder.layers.1.self_attn.k_proj.weight"] = nil
        let model = VisionTransformer(try CLIPVisionConfig.load(ClipFixture.url("clip_hf_config.json")))
        let report = try model.load(stateDict: weights, strict: false)
        #expect(report.missing == ["transformer.resblocks.1.attn.in_proj_weight"])
        #expect(Set(report.unexpected) == ["vision_model.encoder.layers.1.self_attn.q_proj.weight",
                                           "vision_model.encoder.layers.1.self_attn.v_proj.weight"])
    }
}

@Suite struct CLIPWeightFileTests {
    /// HF `CLIPVisionModel` files carry no `visual_projection`: fine for tokens, refused for embeddings.
    @Test func projectionIsOptionalOnlyWhenAsked() throws {
        var weights = try Safetensors.read(ClipFixture.url("clip_hf_weights.safetensors"))
        weights["visual_projection.weight"] = nil
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("clip_noproj_\(getpid()).safetensors")
        defer { try? FileManager.default.removeItem(at: file) }
        try Safetensors.write(weights, to: file)
        let config = try CLIPVisionConfig.load(ClipFixture.url("clip_hf_config.json"))
        let model = VisionTransformer(config)
        let report = try model.loadWeights(file, needsProjection: false)
        #expect(report.missing == ["proj"])
        let out = try Torch.noGrad { try model(ClipFixture.cases["pixels_quirk1"]!, output: .layer(-2)) }
        expectRelativeClose(out, ClipFixture.cases["hf_pixels_quirk1_layer-2"]!, "layer -2 without projection")
        #expect { try VisionTransformer(config).loadWeights(file) } throws: {
            "\($0)".contains(file.path) && "\($0)".contains("missing keys: proj")
        }
    }

    @Test func wrongTowerIsRefusedNamingTheFile() throws {
        let url = ClipFixture.url("clip_openclip_weights.safetensors")
        let config = try CLIPVisionConfig.load(ClipFixture.url("clip_hf_config.json"))
        #expect { try VisionTransformer(config).loadWeights(url) } throws: {
            "\($0)".contains(url.path) && "\($0)".contains("transformer.resblocks.2.ln_1.weight")
        }
    }
}

/// The built-in full-size towers against open_clip's own (`clip_builtin_shapes.json`, built by the fixture
/// script on the meta device): every visual state-dict name and shape with one block, the full parameter
/// count, and the activation.
@Suite(.serialized) struct CLIPBuiltInShapeTests {
    struct Expected: Decodable {
        let parameters: Int
        let quick_gelu: Bool
        let one_block_shapes: [String: [Int]]
    }

    @Test(arguments: ["ViT-bigG-14", "ViT-L-14", "ViT-L-14-quickgelu", "ViT-H-14"])
    func builtInMatchesOpenCLIP(name: String) throws {
        let all = try JSONDecoder().decode([String: Expected].self,
                                           from: Data(contentsOf: ClipFixture.url("clip_builtin_shapes.json")))
        let expected = try #require(all[name])
        var config = try #require(CLIPVisionConfig.builtIn[name])
        #expect(config.quickGelu == expected.quick_gelu)
        let layers = config.vision.layers
        config.vision.layers = 1
        let model = VisionTransformer(config)
        let shapes = Dictionary(uniqueKeysWithValues: model.stateDict().map { ($0.key, $0.value.shape) })
        #expect(shapes == expected.one_block_shapes)
        let block = model.transformer.resblocks[0].parameterCount
        #expect(model.parameterCount + (layers - 1) * block == expected.parameters)
    }
}
