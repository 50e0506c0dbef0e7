import Foundation
import Torch

/// UMBRAE's image-side augmentation (kornia, `train_brainx.py`; notes B4), applied to a training image before
/// the frozen CLIP encoder computes its target: RandomResizedCrop(224, scale (0.6, 1), p 0.3),
/// RandomHorizontalFlip(p 0.5), ColorJitter(0.4, 0.4, 0.2, 0.1, p 0.3), RandomGrayscale(p 0.3).
///
/// The draws (`sample`) are separate from the transforms (`apply`), which are deterministic libtorch ops on
/// images (3, H, W) or (B, 3, H, W) in [0, 1], so a run seeds them from its own seed and each trial, and a
/// resumed run sees the same images. The colour transforms follow kornia's `ColorJitter` (PIL-aligned):
/// brightness multiplies, contrast and saturation blend with the grey mean and the grey image, hue rotates
/// H in HSV by 2π·factor; each clamps to [0, 1]. Differences from kornia: the crop is resampled with
/// PyTorch's bilinear `interpolate` (align_corners false) where kornia warps, and the jitter's op order is
/// drawn per image (kornia: per batch).
public enum ImageAugmentation {
    /// One image's draw.
    public struct Parameters: Equatable, Sendable {
        /// The crop (top, left, height, width) in pixels, resized back to the output size; nil: no crop.
        public var crop: (top: Int, left: Int, height: Int, width: Int)?
        public var flip = false
        public var jitter: Jitter?
        public var grayscale = false

        public init() {}
        public static func == (a: Parameters, b: Parameters) -> Bool {
            a.crop.map { [$0.top, $0.left, $0.height, $0.width] } == b.crop.map { [$0.top, $0.left, $0.height, $0.width] }
                && a.flip == b.flip && a.jitter == b.jitter && a.grayscale == b.grayscale
        }
    }

    public struct Jitter: Equatable, Sendable {
        public var brightness: Double, contrast: Double, saturation: Double, hue: Double
        /// The order of the four: 0 brightness, 1 contrast, 2 saturation, 3 hue.
        public var order: [Int]
        public init(brightness: Double, contrast: Double, saturation: Double, hue: Double, order: [Int] = [0, 1, 2, 3]) {
            (self.brightness, self.contrast, self.saturation, self.hue, self.order) = (brightness, contrast, saturation, hue, order)
        }
    }

    /// UMBRAE's probabilities and ranges.
    public static let cropProbability = 0.3, cropScale = 0.6...1.0, cropRatio = (3.0 / 4)...(4.0 / 3)
    public static let flipProbability = 0.5, jitterProbability = 0.3, grayscaleProbability = 0.3
    public static let brightness = 0.6...1.4, contrast = 0.6...1.4, saturation = 0.8...1.2, hue = -0.1...0.1

    /// Draws one image's parameters for an h × w image (torchvision's crop rule: up to 10 tries of an area
    /// in `cropScale` and a log-uniform ratio that fit, else the whole image).
    public static func sample(height h: Int, width w: Int, using g: inout some RandomNumberGenerator) -> Parameters {
        var p = Parameters()
        if Double.random(in: 0..<1, using: &g) < cropProbability {
            let area = Double(h * w)
            for _ in 0..<10 {
                let target = area * Double.random(in: cropScale, using: &g)
                let ratio = exp(Double.random(in: log(cropRatio.lowerBound)...log(cropRatio.upperBound), using: &g))
                let cw = Int((target * ratio).squareRoot().rounded()), ch = Int((target / ratio).squareRoot().rounded())
                if cw >= 1, ch >= 1, cw <= w, ch <= h {
                    p.crop = (Int.random(in: 0...(h - ch), using: &g), Int.random(in: 0...(w - cw), using: &g), ch, cw)
                    break
                }
            }
        }
        p.flip = Double.random(in: 0..<1, using: &g) < flipProbability
        if Double.random(in: 0..<1, using: &g) < jitterProbability {
            p.jitter = Jitter(brightness: .random(in: brightness, using: &g), contrast: .random(in: contrast, using: &g),
                              saturation: .random(in: saturation, using: &g), hue: .random(in: hue, using: &g),
                              order: [0, 1, 2, 3].shuffled(using: &g))
        }
        p.grayscale = Double.random(in: 0..<1, using: &g) < grayscaleProbability
        return p
    }

    /// image (3, H, W) in [0, 1] -> (3, size, size): crop + resize (or a resize when uncropped and not of
    /// that size), flip, jitter, grayscale, in kornia's order.
    public static func apply(_ image: Tensor, _ p: Parameters, size: Int) -> Tensor {
        let (h, w) = (image.size(-2), image.size(-1))
        let box = p.crop ?? (0, 0, h, w)
        var x = image
        if p.crop != nil || h != size || w != size { x = resizedCrop(x, top: box.0, left: box.1, height: box.2, width: box.3, size: size) }
        if p.flip { x = hflip(x) }
        if let j = p.jitter { x = jitter(x, j) }
        if p.grayscale { x = grayscale(x) }
        return x
    }

    /// The (out, n) matrix of PyTorch's bilinear `interpolate` (align_corners false, no antialias) from the
    /// pixels start ..< start + count of an axis of n to out pixels.
    public static func bilinearMatrix(from n: Int, start: Int, count: Int, to out: Int) -> Tensor {
        var m = [Float](repeating: 0, count: out * n)
        let scale = Double(count) / Double(out)
        for i in 0..<out {
            let src = max((Double(i) + 0.5) * scale - 0.5, 0)
            let i0 = min(Int(src), count - 1), i1 = min(i0 + 1, count - 1)
            let l1 = src - Double(i0)
            m[i * n + start + i0] += Float(1 - l1)
            m[i * n + start + i1] += Float(l1)
        }
        return Tensor(m, shape: [out, n])
    }

    /// (…, 3, H, W) -> (…, 3, size, size): the crop resampled bilinearly, as rows · x · colsᵀ.
    public static func resizedCrop(_ x: Tensor, top: Int, left: Int, height: Int, width: Int, size: Int) -> Tensor {
        let rows = bilinearMatrix(from: x.size(-2), start: top, count: height, to: size).to(dtype: x.dtype, device: x.device)
        let cols = bilinearMatrix(from: x.size(-1), start: left, count: width, to: size).to(dtype: x.dtype, device: x.device)
        return rows.matmul(x).matmul(cols.T)
    }

    public static func hflip(_ x: Tensor) -> Tensor { x.flip([x.ndim - 1]) }

    /// ITU-R 601 luma, kornia's `rgb_to_grayscale`: (…, 3, H, W) -> (…, 1, H, W).
    public static func gray(_ x: Tensor) -> Tensor {
        let c = x.ndim - 3
        return x.select(c, 0).unsqueeze(c) * 0.299 + x.select(c, 1).unsqueeze(c) * 0.587 + x.select(c, 2).unsqueeze(c) * 0.114
    }

    /// RandomGrayscale: the luma in all three channels.
    public static func grayscale(_ x: Tensor) -> Tensor {
        let g = gray(x)
        return Tensor.cat([g, g, g], dim: x.ndim - 3)
    }

    public static func jitter(_ x: Tensor, _ j: Jitter) -> Tensor {
        var x = x
        for op in j.order {
            switch op {
            case 0: x = (x * j.brightness).clamp(min: 0, max: 1)
            case 1:
                let mean = gray(x).mean([-2, -1], keepDim: true)
                x = ((x - mean) * j.contrast + mean).clamp(min: 0, max: 1)
            case 2:
                let g = gray(x)
                x = ((x - g) * j.saturation + g).clamp(min: 0, max: 1)
            default: x = adjustHue(x, j.hue)
            }
        }
        return x
    }

    /// Rotates the hue by 2π·factor in HSV (kornia's `adjust_hue`, its `rgb_to_hsv` / `hsv_to_rgb`).
    public static func adjustHue(_ x: Tensor, _ factor: Double) -> Tensor {
        let (h, s, v) = rgbToHSV(x)
        return hsvToRGB(h: (h + factor * 2 * Double.pi).remainder(2 * Double.pi), s: s, v: v)
    }

    /// (…, 3, H, W) in [0, 1] -> hue in [0, 2π), saturation, value, each (…, H, W).
    public static func rgbToHSV(_ x: Tensor, eps: Double = 1e-8) -> (h: Tensor, s: Tensor, v: Tensor) {
        let c = x.ndim - 3
        let (maxc, argmax) = x.max(c)
        let minc = x.min(c).values
        let delta = maxc - minc
        let s = delta / (maxc + eps)
        let safe = Tensor.where(delta .== 0, Tensor.ones(delta.shape, dtype: delta.dtype, device: delta.device), delta)
        let (r, g, b) = (maxc - x.select(c, 0), maxc - x.select(c, 1), maxc - x.select(c, 2))  // distances to the max
        let candidates = Tensor.stack([b - g, (r - b) + safe * 2, (g - r) + safe * 4], dim: c)
        let h = candidates.gather(c, argmax.unsqueeze(c)).squeeze(c) / safe
        return (((h / 6).remainder(1)) * (2 * Double.pi), s, maxc)
    }

    /// Hue in radians, saturation and value (…, H, W) -> (…, 3, H, W).
    public static func hsvToRGB(h: Tensor, s: Tensor, v: Tensor) -> Tensor {
        let h6 = h / (2 * Double.pi) * 6
        let sector = h6.floor().remainder(6)
        let f = h6.remainder(6) - sector
        let p = v * (1 - s), q = v * (1 - f * s), t = v * (1 - (1 - f) * s)
        // per sector 0...5: r = v q p p t v, g = t v v q p p, b = p p t v v q
        let table = Tensor.stack([v, q, p, p, t, v, t, v, v, q, p, p, p, p, t, v, v, q], dim: 0)  // (18, …, H, W)
        let index = sector.to(.int64).unsqueeze(0)
        let channels = (0..<3).map { k in table[(6 * k)..<(6 * k + 6)].gather(0, index).squeeze(0) }
        return Tensor.stack(channels, dim: h.ndim - 2)
    }
}
