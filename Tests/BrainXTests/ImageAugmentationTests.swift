import Foundation
import Testing
import Torch
@testable import BrainX

/// UMBRAE's image augmentation against `Fixtures/generate_augmentation.py` (PyTorch from kornia's formulas,
/// hue through Python's colorsys), each transform alone and the whole pipeline with fixed parameters.
@Suite struct ImageAugmentationTests {
    static func cases() throws -> [String: Tensor] { try Safetensors.read(Fixture.url("augmentation_cases.safetensors")) }

    @Test func eachTransformMatchesPyTorch() throws {
        let c = try Self.cases()
        let x = try #require(c["image"])
        typealias A = ImageAugmentation
        let results: [(String, Tensor, Double)] = [
            ("crop", A.resizedCrop(x, top: 3, left: 5, height: 12, width: 15, size: 16), 1e-6),
            ("resize", A.resizedCrop(x, top: 0, left: 0, height: 20, width: 24, size: 16), 1e-6),
            ("flip", A.hflip(x), 0),
            ("brightness", A.jitter(x, .init(brightness: 1.3, contrast: 1, saturation: 1, hue: 0, order: [0])), 1e-6),
            ("contrast", A.jitter(x, .init(brightness: 1, contrast: 0.7, saturation: 1, hue: 0, order: [1])), 1e-6),
            ("saturation", A.jitter(x, .init(brightness: 1, contrast: 1, saturation: 1.2, hue: 0, order: [2])), 1e-6),
            ("hue_plus", A.adjustHue(x, 0.08), 1e-5),
            ("hue_minus", A.adjustHue(x, -0.1), 1e-5),
            ("jitter", A.jitter(x, .init(brightness: 0.8, contrast: 1.3, saturation: 0.85, hue: 0.05, order: [3, 0, 2, 1])), 1e-5),
            ("grayscale", A.grayscale(x), 1e-6),
        ]
        for (name, actual, tolerance) in results {
            let expected = try #require(c[name])
            #expect(actual.shape == expected.shape, "\(name)")
            let error = (actual - expected).abs().max().item()
            #expect(error <= tolerance, "\(name): max error \(error), allowed \(tolerance)")
        }
    }

    @Test func thePipelineAppliesCropFlipJitterGrayscaleInOrder() throws {
        let c = try Self.cases()
        var p = ImageAugmentation.Parameters()
        p.crop = (2, 1, 15, 18)
        p.flip = true
        p.jitter = .init(brightness: 1.1, contrast: 0.9, saturation: 1.15, hue: -0.07, order: [1, 3, 2, 0])
        let full = ImageAugmentation.apply(c["image"]!, p, size: 16)
        #expect((full - c["full"]!).abs().max().item() <= 1e-5)
        p.grayscale = true
        // batched (B, 3, H, W) gives each image the same as alone
        let batch = ImageAugmentation.apply(Tensor.stack([c["image"]!, c["image"]!]), p, size: 16)
        #expect(batch.shape == [2, 3, 16, 16])
        #expect((batch[1] - c["full_gray"]!).abs().max().item() <= 1e-5)
        // no parameters: only the resize to the output size
        #expect((ImageAugmentation.apply(c["image"]!, .init(), size: 16) - c["resize"]!).abs().max().item() <= 1e-6)
    }

    /// Draws: the same generator state gives the same parameters (what makes a resumed run exact); crops
    /// lie inside the image with an area in 0.6...1 of it and a ratio in 3/4...4/3; over 4000 draws each
    /// transform comes up near its probability (0.3, 0.5, 0.3, 0.3; ±0.03 is over 4 standard deviations).
    @Test func drawsAreReproducibleAndFollowUMBRAEsRanges() throws {
        var a = SplitMix(seed: 11), b = SplitMix(seed: 11)
        var counts = [0, 0, 0, 0]
        let n = 4000
        for _ in 0..<n {
            let p = ImageAugmentation.sample(height: 224, width: 224, using: &a)
            #expect(p == ImageAugmentation.sample(height: 224, width: 224, using: &b))
            if let crop = p.crop {
                counts[0] += 1
                #expect(crop.top >= 0 && crop.left >= 0 && crop.top + crop.height <= 224 && crop.left + crop.width <= 224)
                let area = Double(crop.height * crop.width) / (224 * 224), ratio = Double(crop.width) / Double(crop.height)
                #expect(area >= 0.59 && area <= 1.0 && ratio >= 0.74 && ratio <= 1.35, "\(crop)")
            }
            if p.flip { counts[1] += 1 }
            if let j = p.jitter {
                counts[2] += 1
                #expect((0.6...1.4).contains(j.brightness) && (0.8...1.2).contains(j.saturation) && abs(j.hue) <= 0.1)
                #expect(j.order.sorted() == [0, 1, 2, 3])
            }
            if p.grayscale { counts[3] += 1 }
        }
        for (count, expected) in zip(counts, [0.3, 0.5, 0.3, 0.3]) {
            #expect(abs(Double(count) / Double(n) - expected) < 0.03, "\(counts)")
        }
    }
}

/// SplitMix64: a small seeded generator for the draws.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
