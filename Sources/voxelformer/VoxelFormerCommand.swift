import ArgumentParser
import Foundation
import Torch

@main
struct VoxelFormerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "voxelformer",
        abstract: "Multi-subject visual decoding from fMRI: train, evaluate and run VoxelFormer.",
        version: VoxelFormerVersion.string,
        subcommands: [Demo.self, Train.self, Evaluate.self, Baseline.self, Embed.self, Retrieve.self, Synth.self, DataCommand.self,
                      Info.self]
    )
}

enum VoxelFormerVersion {
    static let number = "0.1.0"
    static let string = "\(number) (libtorch \(Torch.version))"
}
