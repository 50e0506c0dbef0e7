import ArgumentParser
import Foundation
import Torch

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the libtorch version, thread count and whether CUDA is usable."
    )

    func run() throws {
        Torch.initialise()
        let cuda = Torch.cudaDeviceCount
        let rows: [(String, String)] = [
            ("voxelformer", VoxelFormerVersion.string.components(separatedBy: " ").first ?? ""),
            ("libtorch", Torch.version),
            ("threads", String(Torch.threads)),
            ("cuda", cuda > 0 ? "yes (\(cuda) device\(cuda == 1 ? "" : "s"))" : "no"),
        ]
        let width = rows.map(\.0.count).max() ?? 0
        for (k, v) in rows { print(k.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + v) }
    }
}
