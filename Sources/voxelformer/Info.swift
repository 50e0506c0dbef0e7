import ArgumentParser
import Foundation
import Torch
import VoxelFormer

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the libtorch version, thread count and whether CUDA is usable; with --config, the model's parameters per module."
    )

    @Option(help: "A config preset (configs/paper.yaml, configs/demo.yaml): print its parameter table.")
    var config: String?

    @Argument(help: "Dotted overrides, e.g. model.nat_depth=4.")
    var overrides: [String] = []

    func run() throws {
        Torch.initialise()
        let cuda = Torch.cudaDeviceCount
        let rows: [(String, String)] = [
            ("voxelformer", VoxelFormerVersion.number),
            ("libtorch", Torch.version),
            ("threads", String(Torch.threads)),
            ("cuda", cuda > 0 ? "yes (\(cuda) device\(cuda == 1 ? "" : "s"))" : "no"),
        ]
        let width = rows.map(\.0.count).max() ?? 0
        for (k, v) in rows { print(k.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + v) }
        if config != nil || !overrides.isEmpty {
            let c = try VoxelFormerConfig.load(path: config, overrides: overrides)
            print("\nparameters (\(config ?? "defaults"))")
            print(VoxelFormerModel(c.model).parameterTable(depth: 2))
        }
    }
}
