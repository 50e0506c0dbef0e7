import ArgumentParser
import BrainData
import Foundation

extension Synth {
    /// `voxelformer synth --algonauts default|tiny --out DIR [--seed N]`.
    func writeAlgonauts(_ size: String) throws {
        var config: SyntheticAlgonautsConfig
        switch size {
        case "default": config = SyntheticAlgonautsConfig()
        case "tiny": config = .tiny()
        default: throw ValidationError("--algonauts \(size): expected default or tiny")
        }
        config.seed = seed
        let root = URL(fileURLWithPath: out)
        let existing = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        if !existing.isEmpty && !existing.contains(SyntheticAlgonautsWriter.infoFile) && !force {
            throw ValidationError("\(root.path) is not empty and holds no synthetic dataset; choose another --out or pass --force")
        }
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        let info = try SyntheticAlgonautsWriter.write(config, to: root)
        print("wrote a synthetic Algonauts release to \(root.path): subjects \(config.subjects), \(config.parcels) parcels, "
            + "\(config.tasks.count) film parts, models \(config.models.map(\.name).joined(separator: ", "))")
        for (split, r) in info.ceiling.sorted(by: { $0.key < $1.key }) {
            print("noise ceiling \(split): \(String(format: "%.4f", r))")
        }
        print("noise ceiling per subject: " + info.subjectCeilings.map { String(format: "%.4f", $0) }.joined(separator: " "))
        for line in info.missingRuns { print("missing run: \(line)") }
    }
}

extension DataCheck {
    /// `voxelformer data check --algonauts ROOT [--features DIR]`: prints the check's lines, exit 1 on problems.
    func checkAlgonauts() throws {
        let rootURL = URL(fileURLWithPath: root)
        let layout = AlgonautsLayout(root: rootURL, featuresRoot: features.map { URL(fileURLWithPath: $0) })
        let parcels = try SyntheticAlgonautsWriter.info(at: rootURL)?.config.parcels
        let check = AlgonautsCheck(layout: layout, parcels: parcels)
        for line in check.lines { print(line) }
        if !check.problems.isEmpty { throw ExitCode(1) }
    }
}
