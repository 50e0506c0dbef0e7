import BrainData
#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Torch
import Training
import VoxelFormer

/// One reader under fuzzing. `run` feeds it arbitrary bytes: it must return or throw, never trap, hang or
/// allocate without bound. The libFuzzer executable (`voxelformer-fuzz`) and the corpus replay test
/// (`FuzzTests`) call the same function, so every minimized crasher stays a regression test.
public enum FuzzTarget: String, CaseIterable, Sendable {
    case safetensors, npy, tar, nifti, checkpoint, config

    public func run(_ data: Data) throws {
        switch self {
        case .safetensors:
            try TemporaryFile.with(data, suffix: ".safetensors") { url in
                _ = try Safetensors.header(of: url)
                _ = try Safetensors.readMetadata(url)
                _ = try Safetensors.read(url)
            }
        case .npy:
            _ = try Npy.header(data, source: "<fuzz>")
            _ = try Npy.decode(data, source: "<fuzz>")
        case .tar:
            try TemporaryFile.with(data, suffix: ".tar") { url in _ = try TarReader(url).samples() }
        case .nifti:
            // libnifti picks gzip by the name: a gzip stream goes to `.nii.gz`, anything else to `.nii`.
            let suffix = data.starts(with: [0x1f, 0x8b]) ? ".nii.gz" : ".nii"
            try TemporaryFile.with(data, suffix: suffix) { url in
                let image = try NIfTIImage(url)
                _ = image.count()
            }
        case .checkpoint:
            try TemporaryFile.with(data, suffix: ".safetensors") { url in try Self.resumeMetadata(url) }
        case .config:
            try Self.config(data)
        }
    }

    /// Everything `Trainer.resume` takes from a checkpoint besides the weights: the metadata integers, the
    /// sampler state, the generator state and the config.
    static func resumeMetadata(_ url: URL) throws {
        let checkpoint = try Checkpoint.read(url)
        _ = try JSONDecoder().decode(SubjectBatchSampler.self, from: Data(checkpoint.samplerState.utf8))
        let saved = Torch.rngState()
        defer { Torch.setRNGState(saved) }
        Torch.setRNGState(checkpoint.torchRNG)
        _ = Tensor.rand([1000])  // more draws than the generator's 624-word state holds
        _ = try VoxelFormerConfig.parse(yaml: checkpoint.configYAML)
    }

    /// A YAML document, then optionally a NUL byte and dotted overrides, one a line.
    static func config(_ data: Data) throws {
        let parts = data.split(separator: 0, maxSplits: 1, omittingEmptySubsequences: false)
        let yaml = String(decoding: parts[0], as: UTF8.self)
        let overrides = parts.count > 1
            ? String(decoding: parts[1], as: UTF8.self).split(separator: "\n").map(String.init) : []
        _ = try VoxelFormerConfig.parse(yaml: yaml, overrides: overrides)
    }
}

/// A file holding the fuzz input, in shared memory when there is some (the readers take paths).
enum TemporaryFile {
    static let folder: URL = {
        let shm = URL(fileURLWithPath: "/dev/shm")
        let base = FileManager.default.isWritableFile(atPath: shm.path) ? shm : FileManager.default.temporaryDirectory
        let url = base.appendingPathComponent("voxelformer-fuzz-\(getpid())")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()

    static func with(_ data: Data, suffix: String, _ body: (URL) throws -> Void) throws {
        let url = folder.appendingPathComponent("input" + suffix)
        try data.write(to: url)
        defer { try? FileManager.default.removeItem(at: url) }
        try body(url)
    }
}
