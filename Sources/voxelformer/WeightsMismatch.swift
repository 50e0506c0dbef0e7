import Foundation
import Torch
import Training
import VoxelFormer

/// A `Module.LoadError` as the CLI prints it: the file, the dotted keys as the file spells them
/// (`model.encoder...` in a training checkpoint; a wrapper such as DataParallel's `module.`, which
/// `sanitize(weights:)` strips from every key, is left out), at most a few of them, and, when the shapes
/// all follow from one `model.*` width, that key with the config's value and the weights' value.
enum WeightsMismatch {
    static let listed = 4

    /// `prefix` is what the file puts before the model's own names ("model." in a training checkpoint).
    static func describe(_ error: Module.LoadError, file: String, prefix: String, config: VoxelFormerConfig?) -> String {
        let r = error.report
        var parts: [String] = []
        if let config, !r.mismatched.isEmpty, let (key, configured, trained) = explainingKey(r, config: config) {
            parts.append("model.\(key) is \(configured) in the config, but the weights were trained with \(trained)")
        }
        // `sanitize(weights:)` strips the file's prefix from unexpected keys as from the others: all come
        // as the model spells them
        func some(_ names: [String]) -> String {
            names.prefix(listed).map { prefix + $0 }.joined(separator: ", ")
                + (names.count > listed ? " and \(names.count - listed) more" : "")
        }
        if !r.missing.isEmpty { parts.append("\(r.missing.count) missing (\(some(r.missing)))") }
        if !r.unexpected.isEmpty { parts.append("\(r.unexpected.count) unexpected (\(some(r.unexpected)))") }
        if !r.mismatched.isEmpty {
            let shown = r.mismatched.prefix(listed - 1).map { "\(prefix)\($0.name): expected \($0.expected), found \($0.found)" }
            parts.append("\(r.mismatched.count) of other shapes (\(shown.joined(separator: "; "))"
                + (r.mismatched.count > listed - 1 ? "; ..." : "") + ")")
        }
        return "\(file): the weights do not fit the model its config describes: " + parts.joined(separator: "; ")
    }

    /// The integer `model.*` key which, set to the weights' value, makes every mismatched shape fit: the
    /// candidates are the keys whose value is an expected dimension the weights differ in.
    static func explainingKey(_ report: Module.LoadReport, config: VoxelFormerConfig) -> (String, Int, Int)? {
        guard let data = try? JSONEncoder().encode(config.model),
              let values = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else { return nil }
        var pairs = Set<[Int]>()  // (expected, found) dimension pairs
        for m in report.mismatched where m.expected.count == m.found.count {
            for (e, f) in zip(m.expected, m.found) where e != f { pairs.insert([e, f]) }
        }
        for key in values.keys.sorted() {
            guard let value = values[key] as? Int, value > 0 else { continue }
            for pair in pairs.sorted(by: { $0[1] < $1[1] }) where pair[0] == value {
                guard let changed = try? VoxelFormerConfig.parse(yaml: config.yaml(), overrides: ["model.\(key)=\(pair[1])"])
                else { continue }
                let shapes = Dictionary(VoxelFormerModel(changed.model).stateDict().map { ($0.key, $0.value.shape) },
                                        uniquingKeysWith: { a, _ in a })
                if report.mismatched.allSatisfy({ shapes[$0.name] == $0.found }) { return (key, value, pair[1]) }
            }
        }
        return nil
    }
}
