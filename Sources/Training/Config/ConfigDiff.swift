import Torch
import Yams

/// Keys a resumed run may change in every family: how long to train, how to evaluate, where and how fast to
/// run. Anything else (the model, the data, the optimiser, the batch size) would not continue the same run.
public enum RunConfigDefaults {
    public static let resumableKeys = ["train.epochs", "train.max_steps", "train.threads", "train.checkpoint_every",
                                       "train.checkpoint_every_steps", "train.profile", "train.profile_steps",
                                       "train.activation_checkpointing", "data.prefetch", "data.root", "eval.*", "run_dir"]
}

extension VoxelFormerConfig {
    public static var resumableKeys: [String] { RunConfigDefaults.resumableKeys }
}

extension LoadableRunConfiguration {

    /// Every dotted key whose value differs between `self` and `other`, as "key: old -> new", sorted.
    public func differences(from other: Self) throws -> [(key: String, old: String, new: String)] {
        let mine = try Self.flatten(Yams.compose(yaml: yaml()) ?? [:])
        let theirs = try Self.flatten(Yams.compose(yaml: other.yaml()) ?? [:])
        return Set(mine.keys).union(theirs.keys).sorted().compactMap { key in
            let (a, b) = (theirs[key] ?? "(absent)", mine[key] ?? "(absent)")
            return a == b ? nil : (key, a, b)
        }
    }

    /// Throws unless `self` may continue a run trained with `checkpoint`; names every key that may not change.
    public func checkResumable(from checkpoint: Self, source: String) throws {
        let fixed = try differences(from: checkpoint).filter { d in
            !Self.resumableKeys.contains { $0.hasSuffix(".*") ? d.key.hasPrefix($0.dropLast()) : d.key == $0 }
        }
        guard !fixed.isEmpty else { return }
        throw ConfigError("--resume: the config differs from the one \(source) was trained with in keys that cannot change "
            + "mid-run: " + fixed.map { "\($0.key) (\($0.old) -> \($0.new))" }.joined(separator: ", ")
            + "; keys that may change: \(Self.resumableKeys.joined(separator: ", "))")
    }

    private static func flatten(_ node: Node, prefix: String = "") -> [String: String] {
        guard case .mapping(let m) = node else {
            if case .sequence(let s) = node { return [prefix: "[" + s.map { $0.string ?? "?" }.joined(separator: ", ") + "]"] }
            return [prefix: node.string ?? "?"]
        }
        var out: [String: String] = [:]
        for (k, v) in m {
            let key = prefix.isEmpty ? (k.string ?? "?") : prefix + "." + (k.string ?? "?")
            out.merge(flatten(v, prefix: key)) { a, _ in a }
        }
        return out
    }
}
