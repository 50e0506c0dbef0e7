import ArgumentParser
import Foundation
import Torch
import Training
import VoxelFormer

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the libtorch version, thread count and whether CUDA is usable; with --config, the parameters per module of the brain model and (with train.use_prior) the diffusion prior."
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
            let model = VoxelFormerModel(c.model)
            print("\nbrain model parameters (\(config ?? "defaults")): \(model.parameterCount.formattedWithCommas)")
            print(model.parameterTable(depth: 2))
            // the prior is listed whenever it is trained (train.use_prior) or configured in the preset
            if c.train.usePrior {
                let prior = DiffusionPrior(c.prior)
                // PyTorch counts the 16 rotary rates as a (frozen) parameter; here they are a buffer
                print("\ndiffusion prior parameters (trained jointly, train.use_prior): "
                    + "\(prior.referenceParameterCount.formattedWithCommas) as PyTorch counts them "
                    + "(\(prior.parameterCount.formattedWithCommas) trainable here; the rotary rates are a buffer)")
                print(prior.parameterTable(depth: 2))
                print("\nbrain model + prior: \((model.parameterCount + prior.referenceParameterCount).formattedWithCommas)")
            }
        }
    }
}
