// swift-tools-version:6.0
import PackageDescription

// libtorch lives in `.libtorch/torch` (a real install made by `make setup`, or a link to $LIBTORCH).
let torch = Context.packageDirectory + "/.libtorch/torch"
let torchLib = torch + "/lib"

let package = Package(
    name: "VoxelFormer",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Torch", targets: ["Torch"]),
        .library(name: "BrainData", targets: ["BrainData"]),
        .library(name: "VoxelFormer", targets: ["VoxelFormer"]),
        .library(name: "Training", targets: ["Training"]),
        .executable(name: "voxelformer", targets: ["voxelformer"]),
        .executable(name: "voxelformer-bench", targets: ["voxelformer-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // The libtorch shim: a plain C API over ATen, every call guarded by try/catch.
        .target(
            name: "CTorch",
            cxxSettings: [
                .unsafeFlags([
                    "-std=c++17", "-O2", "-D_GLIBCXX_USE_CXX11_ABI=1",
                    "-isystem", torch + "/include",
                    "-isystem", torch + "/include/torch/csrc/api/include",
                    "-Wno-deprecated-declarations",
                ]),
            ],
            linkerSettings: [
                .unsafeFlags([
                    "-L" + torchLib, "-Xlinker", "-rpath", "-Xlinker", torchLib,
                    "-Xlinker", "--no-as-needed", "-ltorch_cpu", "-lc10", "-Xlinker", "--as-needed",
                    "-lstdc++", "-ldl",
                ]),
            ]
        ),
        .target(name: "Torch", dependencies: ["CTorch"]),
        .systemLibrary(name: "CHDF5", pkgConfig: "hdf5", providers: [.apt(["libhdf5-dev"])]),
        .systemLibrary(name: "CNIfTI", providers: [.apt(["libnifti2-dev", "libznz-dev"])]),
        // The data layer: NSD readers and the synthetic generator. Depends on Torch and nothing above it.
        .target(
            name: "BrainData",
            dependencies: ["Torch", "CHDF5", "CNIfTI"],
            swiftSettings: [.unsafeFlags(["-Xcc", "-I/usr/include/nifti"])]
        ),
        // A model family: the VoxelFormer model, its diffusion prior, its losses and their configs. Torch only.
        .target(name: "VoxelFormer", dependencies: ["Torch"]),
        // Training, evaluation, checkpoints, run folders and run configs, generic over a model family.
        .target(
            name: "Training",
            dependencies: ["Torch", "BrainData", "VoxelFormer", .product(name: "Yams", package: "Yams")]
        ),
        .executableTarget(
            name: "voxelformer",
            dependencies: [
                "Torch", "BrainData", "VoxelFormer", "Training",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "voxelformer-bench", dependencies: ["Torch", "BrainData", "VoxelFormer", "Training"]),
        // Fuzzing: the readers' entry points, driven by libFuzzer (`make fuzz`) and replayed by FuzzTests.
        .target(name: "FuzzTargets", dependencies: ["Torch", "BrainData", "VoxelFormer", "Training"]),
        .executableTarget(
            name: "voxelformer-fuzz", dependencies: ["FuzzTargets"],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
        .testTarget(name: "TorchTests", dependencies: ["Torch"], exclude: ["Fixtures"]),
        .testTarget(name: "BrainDataTests", dependencies: ["BrainData"], exclude: ["Fixtures"]),
        // The model's tests and the training library's (the trainer trains the model the fixtures describe).
        .testTarget(name: "VoxelFormerTests", dependencies: ["VoxelFormer", "Training"], exclude: ["Fixtures"]),
        // Runs the built `voxelformer` binary (.build/debug/voxelformer, which `swift test` builds with every
        // other product) on bad inputs; no library dependency, it only starts processes.
        .testTarget(name: "CLITests"),
        .testTarget(name: "FuzzTests", dependencies: ["FuzzTargets"], exclude: ["Corpus"]),
    ],
    cxxLanguageStandard: .cxx17
)
