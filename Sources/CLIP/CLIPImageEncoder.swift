import Torch

/// Images in [0,1] to CLIP targets: `CLIPPreprocess` then the tower, without gradients. The defaults
/// reproduce MindEye2's targets (tokens, quirk on).
public struct CLIPImageEncoder {
    public let model: VisionTransformer
    public var preprocess: CLIPPreprocess
    public var output: CLIPOutput

    public init(model: VisionTransformer, output: CLIPOutput = .tokens, quirk: Bool = true) {
        model.eval()
        self.model = model
        self.preprocess = CLIPPreprocess(imageSize: model.config.vision.imageSize, quirk: quirk)
        self.output = output
    }

    /// The shape of one image's target: (patches, width) for tokens and layers, (embed_dim) for embeddings.
    public var targetShape: [Int] {
        let v = model.config.vision
        return output == .embedding ? [model.config.embedDim] : [v.patchCount, v.width]
    }

    /// images (B, 3, H, W) in [0,1] -> (B, ...targetShape).
    public func callAsFunction(_ images: Tensor) throws -> Tensor {
        try Torch.noGrad { try model(preprocess(images), output: output) }
    }
}

extension CLIPOutput: CustomStringConvertible {
    /// Parses `tokens`, `embedding` or `layer:N` (N may be negative: `layer:-2`).
    public init?(_ text: String) {
        switch text {
        case "tokens": self = .tokens
        case "embedding": self = .embedding
        default:
            guard text.hasPrefix("layer:"), let n = Int(text.dropFirst(6)) else { return nil }
            self = .layer(n)
        }
    }

    public var description: String {
        switch self {
        case .tokens: "tokens"
        case .embedding: "embedding"
        case .layer(let n): "layer:\(n)"
        }
    }
}
