import Foundation
import Testing
import Torch
@testable import CLIP

/// Fixtures from `Fixtures/generate_clip.py` (open_clip 2.24.0, transformers, kornia).
enum ClipFixture {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures")
    static func url(_ name: String) -> URL { directory.appendingPathComponent(name) }
    static let cases: [String: Tensor] = try! Safetensors.read(url("clip_cases.safetensors"))

    static func model(_ prefix: String) throws -> VisionTransformer {
        let config = try CLIPVisionConfig.load(url("clip_\(prefix)_config.json"))
        let model = VisionTransformer(config)
        model.eval()
        try model.load(stateDict: Safetensors.read(url("clip_\(prefix)_weights.safetensors")))
        return model
    }
}

/// Expects max|actual - expected| ≤ 1e-4 · max|expected| (fp32), naming the worst element.
func expectRelativeClose(_ actual: Tensor, _ expected: Tensor, _ what: String, tolerance: Double = 1e-4,
                         sourceLocation: SourceLocation = #_sourceLocation)
{
    #expect(actual.shape == expected.shape, "\(what): shape \(actual.shape), expected \(expected.shape)",
            sourceLocation: sourceLocation)
    guard actual.shape == expected.shape else { return }
    let a = actual.toArray(Double.self), e = expected.toArray(Double.self)
    let scale = e.map { Swift.abs($0) }.max() ?? 0
    var worst = (index: 0, diff: 0.0)
    for i in a.indices where !(Swift.abs(a[i] - e[i]) <= worst.diff) { worst = (i, Swift.abs(a[i] - e[i])) }
    #expect(scale > 0 && worst.diff <= tolerance * scale,
            "\(what): element \(worst.index) is \(a[worst.index]), expected \(e[worst.index]) (max |expected| \(scale))",
            sourceLocation: sourceLocation)
}

@Suite(.serialized) struct CLIPParityTests {
    @Test(arguments: [(true, "pixels_quirk1", "images"), (false, "pixels_quirk0", "images"),
                      (true, "pixels_shrink", "images_shrink"), (false, "pixels_grow", "images_grow")])
    func preprocessingMatchesKornia(quirk: Bool, expected: String, input: String) throws {
        let pre = CLIPPreprocess(imageSize: 32, quirk: quirk)
        let out = try pre(ClipFixture.cases[input]!)
        expectRelativeClose(out, ClipFixture.cases[expected]!, "\(input) quirk \(quirk)")
    }

    @Test func quirkChangesTheInput() throws {
        let images = ClipFixture.cases["images"]!
        let on = try CLIPPreprocess(imageSize: 32, quirk: true)(images)
        let off = try CLIPPreprocess(imageSize: 32, quirk: false)(images)
        // (x+1)/2 then (·-m)/s differs from (x-m)/s by (1-x)/(2s): at least 0 and at most 1/(2·0.2613).
        let diff = (on - off).toArray(Double.self)
        #expect(diff.allSatisfy { $0 >= -1e-6 && $0 <= 1 / (2 * 0.26130258) + 1e-5 })
        #expect(diff.contains { $0 > 0.1 })
    }

    @Test(arguments: ["pixels_quirk1", "pixels_quirk0", "pixels_shrink", "pixels_grow"])
    func openCLIPTokensAndEmbedding(pixels: String) throws {
        let model = try ClipFixture.model("openclip")
        let x = ClipFixture.cases[pixels]!
        try Torch.noGrad {
            expectRelativeClose(try model(x, output: .tokens), ClipFixture.cases["openclip_\(pixels)_tokens"]!,
                                "\(pixels) tokens")
            expectRelativeClose(try model(x, output: .embedding), ClipFixture.cases["openclip_\(pixels)_embedding"]!,
                                "\(pixels) embedding")
        }
    }

    @Test(arguments: [-2, 0, -1])
    func openCLIPHiddenStates(layer: Int) throws {
        let model = try ClipFixture.model("openclip")
        let out = try Torch.noGrad { try model(ClipFixture.cases["pixels_quirk1"]!, output: .layer(layer)) }
        expectRelativeClose(out, ClipFixture.cases["openclip_pixels_quirk1_layer\(layer)"]!, "layer \(layer)")
    }

    /// The whole pipeline from [0,1] images of another size, as MindEye2 runs it.
    @Test func resizedImagesEndToEnd() throws {
        let model = try ClipFixture.model("openclip")
        let encoder = CLIPImageEncoder(model: model)
        #expect(encoder.targetShape == [16, 48])
        let out = try encoder(ClipFixture.cases["images_shrink"]!)
        expectRelativeClose(out, ClipFixture.cases["openclip_pixels_shrink_tokens"]!, "shrunk images' tokens")
        let unquirked = CLIPImageEncoder(model: model, output: .embedding, quirk: false)
        #expect(unquirked.targetShape == [24])
        expectRelativeClose(try unquirked(ClipFixture.cases["images"]!),
                            ClipFixture.cases["openclip_pixels_quirk0_embedding"]!, "embedding without the quirk")
    }

    @Test(arguments: ["pixels_quirk1", "pixels_quirk0"])
    func huggingFaceNames(pixels: String) throws {
        let model = try ClipFixture.model("hf")
        #expect(model.config.quickGelu)
        let x = ClipFixture.cases[pixels]!
        try Torch.noGrad {
            for (output, name) in [(CLIPOutput.layer(-2), "layer-2"), (.tokens, "tokens"), (.embedding, "embedding")] {
                expectRelativeClose(try model(x, output: output), ClipFixture.cases["hf_\(pixels)_\(name)"]!,
                                    "HF \(pixels) \(name)")
            }
        }
    }

    /// Every parameter matters: exact GELU in place of QuickGELU, or a dropped LayerNorm bias, moves the
    /// outputs far beyond the tolerance (so the parity above is not vacuous).
    @Test func perturbationsAreVisible() throws {
        let weights = try Safetensors.read(ClipFixture.url("clip_hf_weights.safetensors"))
        var config = try CLIPVisionConfig.load(ClipFixture.url("clip_hf_config.json"))
        config.quickGelu = false
        let gelu = VisionTransformer(config)
        try gelu.load(stateDict: weights)
        let x = ClipFixture.cases["pixels_quirk1"]!
        let expected = ClipFixture.cases["hf_pixels_quirk1_tokens"]!
        let geluDiff = try (gelu(x) - expected).abs().max().item()
        #expect(geluDiff > 1e-2)

        let model = try ClipFixture.model("hf")
        model.transformer.resblocks[1].ln2.bias!.copy_(Tensor.zeros([48]))
        let lnDiff = try (model(x) - expected).abs().max().item()
        #expect(lnDiff > 1e-2)
    }
}
