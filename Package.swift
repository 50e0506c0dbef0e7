// swift-tools-version:6.0
import Foundation
import PackageDescription

// libtorch lives in `.libtorch/torch` (a real install made by `make setup`, or a link to $LIBTORCH).
let torch = Context.packageDirectory + "/.libtorch/torch"
let torchLib = torch + "/lib"

// c10d's NCCL backend (data parallel on CUDA) is in libtorch_cuda.so, and its header includes nccl.h and the CUDA
// runtime's headers, which a CUDA wheel leaves to pip's nvidia-* packages beside torch (or a CUDA toolkit). With
// all three the shim compiles ProcessGroupNCCL (CTORCH_NCCL) and links libtorch_cuda; otherwise (the CPU-only
// wheel) `train.device=cuda` with more than one rank is refused, naming what is missing.
func firstFolder(holding file: String, in folders: [String]) -> String? {
    folders.first { FileManager.default.fileExists(atPath: $0 + "/" + file) }
}
let ncclHeaders = firstFolder(holding: "nccl.h", in: [torch + "/include", torch + "/../nvidia/nccl/include", "/usr/include"])
let cudaHeaders = firstFolder(holding: "cuda_runtime_api.h",
                              in: [torch + "/include", torch + "/../nvidia/cuda_runtime/include", "/usr/local/cuda/include"])
let ncclFlags: (cxx: [String], link: [String]) = {
    guard FileManager.default.fileExists(atPath: torchLib + "/libtorch_cuda.so"), let ncclHeaders, let cudaHeaders else {
        return ([], [])
    }
    return (["-DCTORCH_NCCL=1", "-isystem", ncclHeaders, "-isystem", cudaHeaders], ["-ltorch_cuda"])
}()

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
            // one translation unit that includes the others (ctorch_unity.cpp says why)
            sources: ["ctorch_unity.cpp"],
            cxxSettings: [
                .unsafeFlags([
                    "-std=c++17", "-O2", "-D_GLIBCXX_USE_CXX11_ABI=1",
                    "-isystem", torch + "/include",
                    "-isystem", torch + "/include/torch/csrc/api/include",
                    "-Wno-deprecated-declarations",
                ] + ncclFlags.cxx),
            ],
            linkerSettings: [
                .unsafeFlags(
                    ["-L" + torchLib, "-Xlinker", "-rpath", "-Xlinker", torchLib, "-Xlinker", "--no-as-needed", "-ltorch_cpu", "-lc10"]
                        + ncclFlags.link + ["-Xlinker", "--as-needed", "-lstdc++", "-ldl"]
                ),
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
        // A model family: open_clip's ViT image towers, the targets' encoder. Torch only.
        .target(name: "CLIP", dependencies: ["Torch"]),
        // A model family: MindEye2's brain model (per-subject ridge, MLP backbone, retrieval head). Torch only.
        .target(name: "MindEye2", dependencies: ["Torch"]),
        // A model family: UMBRAE's BrainX brain encoders, LLaVA's projector, VINDEX's target spaces. Torch only.
        .target(name: "BrainX", dependencies: ["Torch"]),
        // A model family: the encoding direction (features -> fMRI), MedARC's stage 1 and the flow-matching stage 2. Torch only.
        .target(name: "Encoding", dependencies: ["Torch"]),
        // Training, evaluation, checkpoints, run folders and run configs, generic over a model family.
        .target(
            name: "Training",
            dependencies: ["Torch", "BrainData", "VoxelFormer", "CLIP", "MindEye2", "BrainX", "Encoding", "TensorBoard", .product(name: "Yams", package: "Yams")]
        ),
        .executableTarget(
            name: "voxelformer",
            dependencies: [
                "Torch", "BrainData", "VoxelFormer", "CLIP", "MindEye2", "BrainX", "Training",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(name: "voxelformer-bench", dependencies: ["Torch", "BrainData", "VoxelFormer", "Training", "CLIP"]),
        // Fuzzing: the readers' entry points, driven by libFuzzer (`make fuzz`) and replayed by FuzzTests.
        .target(name: "FuzzTargets", dependencies: ["Torch", "BrainData", "VoxelFormer", "Training"]),
        .executableTarget(
            name: "voxelformer-fuzz", dependencies: ["FuzzTargets"],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
        .testTarget(name: "TorchTests", dependencies: ["Torch"], exclude: ["Fixtures"]),
        .testTarget(name: "BrainDataTests", dependencies: ["BrainData"], exclude: ["Fixtures"]),
        // The model's tests and the training library's (the trainer trains the model the fixtures describe).
        .testTarget(name: "VoxelFormerTests", dependencies: ["VoxelFormer", "MindEye2", "BrainX", "Training"], exclude: ["Fixtures"]),
        // Runs the built `voxelformer` binary (.build/debug/voxelformer, which `swift test` builds with every
        // other product) on bad inputs; no library dependency, it only starts processes.
        .testTarget(name: "CLITests", dependencies: ["Torch", "BrainData"]),
        .testTarget(name: "CLIPTests", dependencies: ["CLIP"], exclude: ["Fixtures"]),
        .testTarget(name: "MindEye2Tests", dependencies: ["MindEye2"], exclude: ["Fixtures"]),
        .testTarget(name: "BrainXTests", dependencies: ["BrainX"], exclude: ["Fixtures"]),
        .testTarget(name: "EncodingTests", dependencies: ["Encoding"], exclude: ["Fixtures"]),
        .testTarget(name: "FuzzTests", dependencies: ["FuzzTargets"], exclude: ["Corpus"]),
        // TensorBoard event files: TFRecords of tensorflow.Event, the two messages' wire form written out in
        // EventEncoding.swift (Proto/*.proto document their fields).
        .target(name: "TensorBoard", exclude: ["Proto/event.proto", "Proto/summary.proto"]),
        // The writer's tests, and the training library's TensorBoardLogger read back the same way.
        .testTarget(name: "TensorBoardTests", dependencies: ["TensorBoard", "Training"], exclude: ["Fixtures"]),
    ],
    cxxLanguageStandard: .cxx17
)
