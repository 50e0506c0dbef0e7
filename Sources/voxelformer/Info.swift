import ArgumentParser
import Foundation
import Torch
import Training
import MindEye2
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
            let family = try Families.of(config: config, resumingIn: nil)
            if family == MindEye2Family.self {
                return try mindEye2Table(MindEye2RunConfig.load(path: config, overrides: overrides))
            }
            if family == BrainXFamily.self {
                return try brainXTable(BrainXRunConfig.load(path: config, overrides: overrides))
            }
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

    /// NSD's nsdgeneral voxels per subject (1.8 mm), for a config that leaves `model.num_voxels` to the data.
    static let nsdVoxels = [1: 15724, 2: 14278, 3: 15226, 4: 13153, 5: 13039, 6: 17907, 7: 12682, 8: 14386]

    /// MindEye2's counts from the shapes (the model is not built: at hidden 4096 it holds about 2 B).
    func mindEye2Table(_ c: MindEye2RunConfig) throws {
        var model = c.model
        let subjects = c.data.trainSubjects
        var source = "model.num_voxels"
        if model.numVoxels.isEmpty {
            guard subjects.allSatisfy({ Info.nsdVoxels[$0] != nil }) else {
                throw ValidationError("model.num_voxels: [] takes the voxel counts from the data; for subjects "
                    + "\(subjects) set them, e.g. model.num_voxels=[15724]")
            }
            model.numVoxels = subjects.map { Info.nsdVoxels[$0]! }
            source = "NSD's nsdgeneral counts (model.num_voxels: [] takes them from the data when training)"
        }
        let counts = model.parameterCounts
        var rows = zip(subjects, zip(model.numVoxels, counts.ridge)).map { s, vc in
            ("ridge.linears (subject \(s), \(vc.0.formattedWithCommas) voxels)", vc.1)
        }
        rows.append(("backbone", counts.backbone))
        let brain = counts.ridge.reduce(0, +) + counts.backbone
        rows.append(("brain model", brain))
        var total = brain
        if c.train.usePrior {
            let prior = DiffusionPrior(c.prior).referenceParameterCount
            rows.append(("diffusion_prior (train.use_prior, as PyTorch counts it)", prior))
            total += prior
        }
        rows.append(("total", total))
        print("\nMindEye2 parameters (\(config ?? "defaults"); voxels from \(source)):")
        let width = rows.map(\.0.count).max() ?? 0
        let numbers = rows.map { $0.1.formattedWithCommas }
        let numberWidth = numbers.map(\.count).max() ?? 0
        for (row, n) in zip(rows, numbers) {
            print(row.0.padding(toLength: width + 2, withPad: " ", startingAt: 0) + String(repeating: " ", count: numberWidth - n.count) + n)
        }
    }
}
