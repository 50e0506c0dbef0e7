import ArgumentParser
import BrainX
import Training

extension Info {
    /// BrainX's counts per module from the shapes (UMBRAE's cross-subject model holds 146.5 M parameters).
    /// Left to the data in a run config, the voxels are NSD's nsdgeneral counts and the output 256 × 1024
    /// (CLIP ViT-L/14's penultimate-layer tokens), unless `targets` options change the width.
    func brainXTable(_ c: BrainXRunConfig) throws {
        var model = c.model
        var notes: [String] = []
        if model.subjects.isEmpty { model.subjects = c.data.trainSubjects }
        if model.numVoxels.isEmpty {
            guard model.subjects.allSatisfy({ BrainXConfig.nsdVoxels[$0] != nil }) else {
                throw ValidationError("model.num_voxels: [] takes the voxel counts from the data; for subjects "
                    + "\(model.subjects) set them, e.g. model.num_voxels=[15724]")
            }
            model.numVoxels = model.subjects.map { BrainXConfig.nsdVoxels[$0]! }
            notes.append("voxels: NSD's nsdgeneral counts (model.num_voxels: [] takes them from the data)")
        }
        if model.numLatents == 0 {
            model.numLatents = c.targets.nestedTokens > 0 ? c.targets.nestedTokens : 256
            notes.append("num_latents \(model.numLatents): " + (c.targets.nestedTokens > 0 ? "targets.nested_tokens"
                : "CLIP ViT-L/14's 16 x 16 tokens (model.num_latents: 0 takes them from the targets)"))
        }
        if model.outDim == 0 {
            guard c.targets.layers.isEmpty && c.targets.mixture.isEmpty else {
                throw ValidationError("model.out_dim: 0 takes the width from the targets, which targets.layers and "
                    + "targets.mixture widen; set model.out_dim to their total width")
            }
            model.outDim = 1024
            notes.append("out_dim 1024: CLIP ViT-L/14's width (model.out_dim: 0 takes it from the targets)")
        }
        let counts = model.parameterCounts
        var rows: [(String, Int)] = []
        for (i, s) in model.subjects.enumerated() {
            let key = model.variant == .brainx ? "lin1.fmri\(s) + lin2.fmri\(s)" : "lin1 + lin2"
            rows.append(("\(key) (subject \(s), \(model.numVoxels[i].formattedWithCommas) voxels)", counts.tokenizers[i]))
            if model.useToken { rows.append(("token" + (model.variant == .brainx ? ".fmri\(s)" : ""), counts.tokens[i])) }
        }
        rows.append(("perceiver.perceiver (resampler)", counts.resampler))
        rows.append(("perceiver (ln_vision + resampler + llm_proj)", counts.perceiver))
        rows.append(("total", counts.total))
        if counts.trainable != counts.total { rows.append(("trainable (perceiver frozen)", counts.trainable)) }
        print("\nBrainX (\(model.variant.rawValue)) parameters (\(config ?? "defaults")), output \(model.numLatents) x \(model.outDim):")
        let width = rows.map(\.0.count).max() ?? 0
        let numbers = rows.map { $0.1.formattedWithCommas }
        let numberWidth = numbers.map(\.count).max() ?? 0
        for (row, n) in zip(rows, numbers) {
            print(row.0.padding(toLength: width + 2, withPad: " ", startingAt: 0) + String(repeating: " ", count: numberWidth - n.count) + n)
        }
        for note in notes { print("  " + note) }
    }
}
