import Foundation

/// An open_clip model config (`model_configs/*.json`): `embed_dim`, `quick_gelu` and the `vision_cfg`
/// of a ViT image tower. Keys of the text tower are ignored. Fields that select a tower this target does
/// not build (timm, ResNet, attentional pooling, layer scale, ...) are refused when decoded.
public struct CLIPVisionConfig: Codable, Equatable, Sendable {
    /// Width of the pooled, projected embedding (`proj` is width × embedDim).
    public var embedDim: Int
    /// QuickGELU `x·σ(1.702x)` instead of exact GELU: OpenAI's weights were trained with it
    /// (open_clip's `*-quickgelu` configs, and `load_openai_model`).
    public var quickGelu: Bool
    public var vision: Vision

    public struct Vision: Codable, Equatable, Sendable {
        public var imageSize: Int
        public var patchSize: Int
        public var width: Int
        public var layers: Int
        public var headWidth: Int
        public var mlpRatio: Double
        /// `tok`: the CLS token is pooled; `avg`: the mean of the patch tokens.
        public var poolType: String

        public init(imageSize: Int, patchSize: Int, width: Int, layers: Int, headWidth: Int = 64,
                    mlpRatio: Double = 4.0, poolType: String = "tok")
        {
            self.imageSize = imageSize
            self.patchSize = patchSize
            self.width = width
            self.layers = layers
            self.headWidth = headWidth
            self.mlpRatio = mlpRatio
            self.poolType = poolType
        }

        public var heads: Int { width / headWidth }
        /// open_clip: `int(d_model * mlp_ratio)` (bigG: int(1664 · 4.9231) = 8192).
        public var mlpWidth: Int { Int(Double(width) * mlpRatio) }
        public var gridSize: Int { imageSize / patchSize }
        /// Patch tokens, CLS excluded (256 for 224/14).
        public var patchCount: Int { gridSize * gridSize }

        enum CodingKeys: String, CodingKey {
            case imageSize = "image_size", patchSize = "patch_size", width, layers, headWidth = "head_width"
            case mlpRatio = "mlp_ratio", poolType = "pool_type"
        }

        /// open_clip's `CLIPVisionCfg` fields whose non-default values change the tower's structure.
        private enum Unsupported: String, CodingKey, CaseIterable {
            case lsInitValue = "ls_init_value", attentionalPool = "attentional_pool", noLnPre = "no_ln_pre"
            case posEmbedType = "pos_embed_type", finalLnAfterPool = "final_ln_after_pool"
            case timmModelName = "timm_model_name", actKwargs = "act_kwargs", normKwargs = "norm_kwargs"
        }

        public init(from decoder: Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            if let sizes = try? c.decode([Int].self, forKey: .imageSize) {
                guard sizes.count == 2, sizes[0] == sizes[1] else {
                    throw CLIPError.unsupported("vision_cfg.image_size \(sizes): only square images are supported")
                }
                imageSize = sizes[0]
            } else {
                imageSize = try c.decode(Int.self, forKey: .imageSize)
            }
            if (try? c.decode(Int.self, forKey: .layers)) == nil, c.contains(.layers) {
                throw CLIPError.unsupported("vision_cfg.layers is a list: a ResNet tower, not a ViT")
            }
            patchSize = try c.decode(Int.self, forKey: .patchSize)
            width = try c.decode(Int.self, forKey: .width)
            layers = try c.decode(Int.self, forKey: .layers)
            headWidth = try c.decodeIfPresent(Int.self, forKey: .headWidth) ?? 64
            mlpRatio = try c.decodeIfPresent(Double.self, forKey: .mlpRatio) ?? 4.0
            poolType = try c.decodeIfPresent(String.self, forKey: .poolType) ?? "tok"
            let u = try decoder.container(keyedBy: Unsupported.self)
            for key in Unsupported.allCases where u.contains(key) {
                let isDefault: Bool
                switch key {
                case .posEmbedType: isDefault = (try? u.decode(String.self, forKey: key)) == "learnable"
                case .attentionalPool, .noLnPre, .finalLnAfterPool:
                    isDefault = (try? u.decode(Bool.self, forKey: key)) == false
                default: isDefault = (try? u.decodeNil(forKey: key)) == true
                }
                if !isDefault { throw CLIPError.unsupported("vision_cfg.\(key.rawValue) is not supported") }
            }
            try validate()
        }

        public func validate() throws {
            func check(_ ok: Bool, _ what: String) throws { if !ok { throw CLIPError.badConfig(what) } }
            try check(imageSize > 0 && patchSize > 0 && width > 0 && layers > 0 && headWidth > 0,
                      "vision_cfg sizes must be positive")
            try check(imageSize % patchSize == 0,
                      "vision_cfg.image_size \(imageSize) is not a multiple of patch_size \(patchSize)")
            try check(width % headWidth == 0, "vision_cfg.width \(width) is not a multiple of head_width \(headWidth)")
            try check(mlpRatio > 0, "vision_cfg.mlp_ratio must be positive")
            try check(["tok", "avg"].contains(poolType), "vision_cfg.pool_type '\(poolType)': expected tok or avg")
        }
    }

    enum CodingKeys: String, CodingKey {
        case embedDim = "embed_dim", quickGelu = "quick_gelu", vision = "vision_cfg"
    }

    public init(embedDim: Int, quickGelu: Bool = false, vision: Vision) {
        self.embedDim = embedDim
        self.quickGelu = quickGelu
        self.vision = vision
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        embedDim = try c.decode(Int.self, forKey: .embedDim)
        quickGelu = try c.decodeIfPresent(Bool.self, forKey: .quickGelu) ?? false
        vision = try c.decode(Vision.self, forKey: .vision)
        guard embedDim > 0 else { throw CLIPError.badConfig("embed_dim must be positive") }
    }

    /// Decodes an open_clip model-config JSON file; errors name the file.
    public static func load(_ url: URL) throws -> CLIPVisionConfig {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw CLIPError.badConfig("cannot read \(url.path): \(error.localizedDescription)")
        }
        do { return try JSONDecoder().decode(CLIPVisionConfig.self, from: data) } catch let error as CLIPError {
            throw CLIPError.badConfig("\(url.path): \(error)")
        } catch {
            throw CLIPError.badConfig("\(url.path) is not an open_clip model config: \(error)")
        }
    }

    // The built-in towers, values from open_clip 2.24.0's model_configs/*.json.

    /// MindEye2's target model (laion2b_s39b_b160k): 48 layers of width 1664, 256 tokens.
    public static let vitBigG14 = CLIPVisionConfig(
        embedDim: 1280,
        vision: Vision(imageSize: 224, patchSize: 14, width: 1664, layers: 48, headWidth: 104, mlpRatio: 4.9231))
    /// `ViT-L-14.json` (exact GELU, as LAION-trained L/14 weights use).
    public static let vitL14 = CLIPVisionConfig(
        embedDim: 768, vision: Vision(imageSize: 224, patchSize: 14, width: 1024, layers: 24))
    /// `ViT-L-14-quickgelu.json`: OpenAI's ViT-L/14 (HF `openai/clip-vit-large-patch14`, UMBRAE's target).
    public static let vitL14QuickGelu = CLIPVisionConfig(
        embedDim: 768, quickGelu: true, vision: Vision(imageSize: 224, patchSize: 14, width: 1024, layers: 24))
    public static let vitH14 = CLIPVisionConfig(
        embedDim: 1024, vision: Vision(imageSize: 224, patchSize: 14, width: 1280, layers: 32, headWidth: 80))

    public static let builtIn: [String: CLIPVisionConfig] = [
        "ViT-bigG-14": vitBigG14, "ViT-L-14": vitL14, "ViT-L-14-quickgelu": vitL14QuickGelu, "ViT-H-14": vitH14,
    ]
}

public enum CLIPError: Error, CustomStringConvertible, Equatable {
    case badConfig(String)
    case unsupported(String)
    case badInput(String)

    public var description: String {
        switch self {
        case .badConfig(let s), .unsupported(let s), .badInput(let s): s
        }
    }
}
