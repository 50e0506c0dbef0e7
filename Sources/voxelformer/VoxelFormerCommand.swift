import ArgumentParser
import Foundation
import Torch

@main
struct VoxelFormerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "voxelformer",
        abstract: "Multi-subject visual decoding from fMRI: train, evaluate and run VoxelFormer.",
        version: VoxelFormerVersion.string,
        subcommands: [Info.self, Synth.self, DataCommand.self]
    )
}

enum VoxelFormerVersion {
    static let string = "0.1.0 (libtorch \(Torch.version))"
}
