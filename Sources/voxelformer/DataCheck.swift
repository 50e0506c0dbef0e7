import ArgumentParser
import BrainData
import Foundation
import Torch

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Inspect NSD data roots.",
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

    func run() throws {
        Torch.initialise()
        let check = DataRootCheck(root: URL(fileURLWithPath: root))
        print(check.report)
        if !check.ok { throw ExitCode(1) }
    }
}
