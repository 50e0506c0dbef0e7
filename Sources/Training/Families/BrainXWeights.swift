import BrainX
import Foundation
import Torch

extension BrainXFamily {
    /// A model from UMBRAE's own weights (`scripts/convert_umbrae.py` turns its `.pth` into safetensors under
    /// its names) and a run config (`configs/brainx-umbrae.yaml`): what `brainx embed --weights` runs.
    ///
    /// The config gives the architecture (depth, heads, dim_head, ff_mult, hidden_dim, variant) and the
    /// data; the keys it leaves to the data are read from the weights' shapes: `model.subjects` ([] under
    /// variant brainx: the `lin2.fmri{s}` keys), `model.num_voxels` (`lin2.*.weight` (hidden, V)),
    /// `model.num_latents` (`perceiver.perceiver.latents` (L, hidden)) and `model.out_dim`
    /// (`perceiver.llm_proj.weight` (out, hidden)); `use_token`, `num_tokens`, `use_norm` and `act_first`
    /// follow the keys present. Then every weight loads strictly: a missing, unexpected or mis-shaped key
    /// throws by name.
    public static func load(weights url: URL, config path: String?, overrides: [String] = []) throws -> BrainXFamily {
        var config = try BrainXRunConfig.load(path: path, overrides: overrides)
        let raw = try Checkpoint.modelWeights(url, what: "UMBRAE's weights as safetensors (scripts/convert_umbrae.py)").weights
        let weights = strippingWrappers(raw)
        func shape(_ key: String) throws -> [Int] {
            guard let t = weights[key] else {
                throw ConfigError("\(url.path): no tensor '\(key)'; expected UMBRAE's BrainX weights "
                    + "(\(config.model.variant.rawValue)) under its names")
            }
            return t.shape
        }
        var model = config.model
        if model.variant == .brainx {
            let found = weights.keys.compactMap { key -> Int? in
                guard key.hasPrefix("lin2.fmri"), key.hasSuffix(".weight") else { return nil }
                return Int(key.dropFirst("lin2.fmri".count).dropLast(".weight".count))
            }.sorted()
            if found.isEmpty { _ = try shape("lin2.fmri\(config.subjects.first ?? 1).weight") }
            if model.subjects.isEmpty {
                model.subjects = found
                config.data.trainSubjects = found
                if config.data.testSubjects.contains(where: { !found.contains($0) }) {
                    config.data.testSubjects = config.data.testSubjects.filter(found.contains)
                }
            }
        } else if model.subjects.isEmpty {
            model.subjects = config.data.trainSubjects
        }
        let lin2 = { (s: Int) in model.variant == .brainx ? "lin2.fmri\(s).weight" : "lin2.weight" }
        let lin1 = { (s: Int) in model.variant == .brainx ? "lin1.fmri\(s)" : "lin1" }
        if model.numVoxels.isEmpty { model.numVoxels = try model.subjects.map { try shape(lin2($0))[1] } }
        if model.numLatents == 0 { model.numLatents = try shape("perceiver.perceiver.latents")[0] }
        if model.outDim == 0 { model.outDim = try shape("perceiver.llm_proj.weight")[0] }
        if let s = model.subjects.first {
            let tokenKey = model.variant == .brainx ? "token.fmri\(s)" : "token"
            model.useToken = weights[tokenKey] != nil
            if let t = weights[tokenKey], t.ndim == 3 { model.numTokens = t.shape[1] }
            model.useNorm = weights["\(lin1(s)).0.weight"] != nil
            model.actFirst = weights["\(lin1(s)).2.weight"] != nil
            if model.useNorm { model.tokenizer = .plain }
        }
        config.model = model
        try config.validate()
        let family = try BrainXFamily(trained: config)
        try family.modules.load(stateDict: weights)
        try family.requireFiniteWeights(in: url.path)
        family.train(false)
        return family
    }

    /// `module.` (DDP, accelerate) and `model.` wrappers removed while every key carries the same one.
    static func strippingWrappers(_ weights: [String: Tensor]) -> [String: Tensor] {
        var weights = weights
        while let prefix = ["module.", "model."].first(where: { p in !weights.isEmpty && weights.keys.allSatisfy { $0.hasPrefix(p) } }) {
            weights = Dictionary(uniqueKeysWithValues: weights.map { (String($0.key.dropFirst(prefix.count)), $0.value) })
        }
        return weights
    }
}
