import Foundation
import Torch

/// MindEye2's image preprocessing for the CLIP tower (sgm's `FrozenOpenCLIPImageEmbedder.preprocess`):
/// `kornia.geometry.resize(x, (S, S), interpolation="bicubic", align_corners=True, antialias=True)`, then
/// `(x + 1) / 2` (the quirk: MindEye2 feeds [0,1] images, so they land in [0.5,1]), then OpenAI CLIP's
/// mean/std. Images of the tower's size pass the resize unchanged.
public struct CLIPPreprocess: Sendable {
    public static let openAIMean = [0.48145466, 0.4578275, 0.40821073]
    public static let openAIStd = [0.26862954, 0.26130258, 0.27577711]

    public var imageSize: Int
    /// Apply `(x + 1) / 2` before normalising (MindEye2's targets); off for images the tower should see as is.
    public var quirk: Bool
    public var mean: [Double]
    public var std: [Double]

    public init(imageSize: Int, quirk: Bool = true, mean: [Double] = Self.openAIMean, std: [Double] = Self.openAIStd) {
        self.imageSize = imageSize
        self.quirk = quirk
        self.mean = mean
        self.std = std
    }

    /// images (B, 3, H, W) in [0,1], any float dtype -> (B, 3, S, S) float32, on the images' device.
    public func callAsFunction(_ images: Tensor) throws -> Tensor {
        guard images.ndim == 4, images.size(1) == 3, images.size(2) > 0, images.size(3) > 0 else {
            throw CLIPError.badInput("images of shape \(images.shape): expected (B, 3, H, W)")
        }
        var x = images.to(.float32)
        let (h, w) = (x.size(2), x.size(3))
        if h != imageSize || w != imageSize {
            let rows = Self.resizeMatrix(from: h, to: imageSize).to(x.device)  // (S, H)
            let cols = Self.resizeMatrix(from: w, to: imageSize).to(x.device)  // (S, W)
            x = rows.matmul(x).matmul(cols.transpose(0, 1))
        }
        if quirk { x = (x + 1) / 2 }
        let m = Tensor(mean.map(Float.init), shape: [1, 3, 1, 1]).to(x.device)
        let s = Tensor(std.map(Float.init), shape: [1, 3, 1, 1]).to(x.device)
        return (x - m) / s
    }

    /// The linear map (out, in) of kornia's resize along one axis: a Gaussian blur with reflected borders
    /// when shrinking (sigma = (in/out - 1)/2, odd window of int(4·sigma) but at least 3), then PyTorch's
    /// bicubic interpolation (A = -0.75) with `align_corners=True` and indices clamped at the borders.
    /// Both are separable, so a (B, C, H, W) image resizes as rows · x · colsᵀ.
    public static func resizeMatrix(from n: Int, to m: Int) -> Tensor {
        var blur = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        let factor = Double(n) / Double(m)
        if factor > 1 && n > 1 {
            let sigma = Swift.max((factor - 1) / 2, 0.001)
            var k = Int(Swift.max(4 * sigma, 3))
            if k % 2 == 0 { k += 1 }
            let r = k / 2
            var g = (0..<k).map { i -> Double in let x = Double(i - r); return exp(-x * x / (2 * sigma * sigma)) }
            let total = g.reduce(0, +)
            g = g.map { $0 / total }
            for i in 0..<n {
                for j in 0..<k {
                    var s = i + j - r
                    if s < 0 { s = -s }
                    if s >= n { s = 2 * (n - 1) - s }
                    blur[i][s] += g[j]
                }
            }
        } else {
            for i in 0..<n { blur[i][i] = 1 }
        }
        func cubic1(_ x: Double) -> Double { let a = -0.75; return ((a + 2) * x - (a + 3)) * x * x + 1 }
        func cubic2(_ x: Double) -> Double { let a = -0.75; return ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
        var out = [Double](repeating: 0, count: m * n)
        let scale = m > 1 ? Double(n - 1) / Double(m - 1) : 0
        for i in 0..<m {
            let src = Double(i) * scale
            let i0 = Int(src.rounded(.down))
            let t = src - Double(i0)
            let weights = [cubic2(t + 1), cubic1(t), cubic1(1 - t), cubic2(2 - t)]
            for (o, wt) in weights.enumerated() {
                let idx = Swift.min(Swift.max(i0 - 1 + o, 0), n - 1)
                for s in 0..<n { out[i * n + s] += wt * blur[idx][s] }
            }
        }
        return Tensor(out.map(Float.init), shape: [m, n])
    }
}
