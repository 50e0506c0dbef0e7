import ArgumentParser
import BrainData
import Foundation
import Torch
import Training
import VoxelFormer

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Inspect data roots: NSD in MindEye2's layout, or an Algonauts 2025 release (--algonauts).",
        subcommands: [DataCheck.self]
    )
}

struct DataCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate an NSD data root (real or synthetic) and print what it holds.",
        discussion: "Exits non-zero when a problem is found; every problem names the file involved."
    )

    @Argument(help: "The data root (the folder holding betas_all_subj0S_fp32_renorm.hdf5 files).")
    var root: String

    @Option(help: "A config whose model.clip_seq_dim x model.clip_emb_dim the targets must have (a synthetic root's synthetic_info.json gives them otherwise).")
    var config: String?
    @Flag(help: "The root is an Algonauts 2025 release (fmri/sub-0X/func/…_bold.h5) or a synthetic one.")
    var algonauts = false
    @Option(help: "Algonauts: the root of the feature shards <model>/friends/s1/friends_s01e01a.h5 (default ROOT/features).")
    var features: String?

    func run() throws {
        Torch.initialise()
        if algonauts { return try checkAlgonauts() }
        let expected = try config.map { path -> (shape: [Int], source: String) in
            let model = try VoxelFormerConfig.load(path: path).model
            return ([model.clipSeqDim, model.clipEmbDim], "model.clip_seq_dim x model.clip_emb_dim of \(path)")
        }
        let check = DataRootCheck(root: URL(fileURLWithPath: root), targetShape: expected)
        print(check.report)
        if !check.ok { throw ExitCode(1) }
    }
}
