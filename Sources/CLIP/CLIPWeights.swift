import Foundation
import Torch

/// Renames CLIP image-tower checkpoints to open_clip's `visual.*` names (without the prefix).
public enum CLIPWeights {
    /// HF `CLIPModel` keys that do not belong to the image tower.
    static func isHFTextTower(_ key: String) -> Bool {
        key.hasPrefix("text_model.") || key.hasPrefix("text_projection.") || key == "logit_scale"
    }

    /// open_clip (`visual.` stripped) and HF (`vision_model.`) names to ours; other keys pass unchanged so
    /// that a stray one is reported as unexpected. HF's separate q, k, v projections are stacked into
    /// `in_proj_weight`/`in_proj_bias` in that order, and `visual_projection.weight` (embed, width) is
    /// transposed into `proj` (width, embed).
    public static func openCLIPNames(_ weights: [String: Tensor]) -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        var qkv: [String: [String: Tensor]] = [:]  // "transformer.resblocks.N.attn.in_proj_weight" -> q/k/v
        // In a whole open_clip model every key outside `visual.` is the text tower or `logit_scale`.
        let openCLIP = weights.keys.contains { $0.hasPrefix("visual.") }
        for (key, value) in weights {
            if key.hasPrefix("visual.") { out[String(key.dropFirst("visual.".count))] = value; continue }
            if openCLIP || isHFTextTower(key) { continue }
            if key == "visual_projection.weight" { out["proj"] = value.transpose(0, 1).contiguous(); continue }
            guard key.hasPrefix("vision_model.") else { out[key] = value; continue }
            let name = String(key.dropFirst("vision_model.".count))
            if let mapped = hfTopLevel[name] { out[mapped] = value; continue }
            if name == "embeddings.position_ids" { continue }  // a buffer of indices, not a weight
            let parts = name.split(separator: ".").map(String.init)
            // encoder.layers.N.<module>.<...>.{weight,bias}
            guard parts.count >= 5, parts[0] == "encoder", parts[1] == "layers", let layer = Int(parts[2]) else {
                out[key] = value
                continue
            }
            let block = "transformer.resblocks.\(layer)."
            let rest = parts[3...].joined(separator: ".")
            let param = parts.last!
            switch parts[3] + "." + parts[4] {
            case "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj":
                qkv[block + "attn.in_proj_" + param, default: [:]][String(parts[4].prefix(1))] = value
            case "self_attn.out_proj": out[block + "attn.out_proj." + param] = value
            case "layer_norm1.weight", "layer_norm1.bias": out[block + "ln_1." + param] = value
            case "layer_norm2.weight", "layer_norm2.bias": out[block + "ln_2." + param] = value
            case "mlp.fc1": out[block + "mlp.c_fc." + param] = value
            case "mlp.fc2": out[block + "mlp.c_proj." + param] = value
            default: out["vision_model." + "encoder.layers.\(layer)." + rest] = value
            }
        }
        for (name, parts) in qkv {
            if let q = parts["q"], let k = parts["k"], let v = parts["v"] {
                out[name] = Tensor.cat([q, k, v], dim: 0)
            } else {
                // Incomplete: keep what came under its HF name so the load report names it.
                for (which, t) in parts {
                    let hf = name.replacingOccurrences(of: "transformer.resblocks.", with: "vision_model.encoder.layers.")
                        .replacingOccurrences(of: "attn.in_proj_", with: "self_attn.\(which)_proj.")
                    out[hf] = t
                }
            }
        }
        return out
    }

    static let hfTopLevel: [String: String] = [
        "embeddings.class_embedding": "class_embedding",
        "embeddings.patch_embedding.weight": "conv1.weight",
        "embeddings.position_embedding.weight": "positional_embedding",
        "pre_layrnorm.weight": "ln_pre.weight", "pre_layrnorm.bias": "ln_pre.bias",
        "post_layernorm.weight": "ln_post.weight", "post_layernorm.bias": "ln_post.bias",
    ]
}

extension VisionTransformer {
    /// Loads a safetensors checkpoint in open_clip or HF naming (see `CLIPWeights.openCLIPNames`). Every
    /// tower parameter must be present, except `proj` when `needsProjection` is false: HF's
    /// `CLIPVisionModel` (no `WithProjection`) has none, and tokens and hidden states do not use it.
    /// Errors name the file and the keys.
    @discardableResult
    public func loadWeights(_ url: URL, needsProjection: Bool = true) throws -> LoadReport {
        let tensors: [String: Tensor]
        do { tensors = try Safetensors.read(url) } catch {
            throw CLIPError.badInput("\(url.path): cannot read safetensors: \(error)")
        }
        let report = try load(stateDict: tensors, strict: false)
        var problems = report
        if !needsProjection { problems.missing.removeAll { $0 == "proj" } }
        guard problems.isClean else {
            throw CLIPError.badInput("\(url.path) does not fit \(config.vision.layers) blocks of width "
                + "\(config.vision.width) (embed_dim \(config.embedDim)):\n\(problems)")
        }
        return report
    }
}
