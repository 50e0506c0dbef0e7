import Foundation
import FuzzTargets
import Testing

/// `Corpus/<target>/`: the seeds (`seed_*`) and hand-made bad inputs (`bad_*`), both written by
/// `Corpus/generate_seeds.py`, and the minimized inputs that crashed a reader before it was fixed
/// (`crash_*`), replayed through the fuzzer's own entry point.
let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Corpus")

func corpusFiles(_ target: FuzzTarget) throws -> [URL] {
    try FileManager.default.contentsOfDirectory(at: corpus.appendingPathComponent(target.rawValue),
                                                includingPropertiesForKeys: nil)
        .sorted { $0.lastPathComponent < $1.lastPathComponent }
}

/// Valid files each reader must accept, so that the replay exercises the readers past their first check.
let validSeeds: [FuzzTarget: [String]] = [
    .safetensors: ["seed_empty.safetensors", "seed_metadata.safetensors", "seed_numpy.safetensors",
                   "seed_torch_all_dtypes.safetensors"],
    .npy: ["seed_f32.npy", "seed_f32_v3.npy", "seed_i64_v2.npy", "seed_bool.npy", "seed_empty.npy"],
    .tar: ["seed_pax.tar", "seed_ustar.tar", "seed_gnu_long.tar"],
    .nifti: ["seed_mask.nii.gz", "seed_mask_nifti1.nii", "seed_mask_nifti2.nii"],
    .checkpoint: ["seed_checkpoint.safetensors"],
    .config: ["seed_demo.yaml", "seed_paper.yaml", "seed_overrides.yaml", "seed_empty.yaml"],
]

@Suite(.serialized) struct FuzzCorpusTests {
    @Test(arguments: FuzzTarget.allCases)
    func replaysEveryCorpusFileWithoutCrashing(target: FuzzTarget) throws {
        let files = try corpusFiles(target)
        #expect(files.count >= 3, "the \(target) corpus holds \(files.count) files")
        for file in files {
            let data = try Data(contentsOf: file)
            let name = file.lastPathComponent
            do {
                try target.run(data)
                #expect(!name.hasPrefix("crash_") && !name.hasPrefix("bad_"), "\(target)/\(name) must be refused")
            } catch {
                #expect(!(validSeeds[target] ?? []).contains(name), "\(target)/\(name): \(error)")
                // A refusal says what was wrong: never an empty message.
                #expect(!"\(error)".isEmpty, "\(target)/\(name)")
            }
        }
    }

    @Test func everyValidSeedIsInTheCorpus() throws {
        for (target, names) in validSeeds {
            let present = Set(try corpusFiles(target).map(\.lastPathComponent))
            for name in names { #expect(present.contains(name), "\(target)/\(name) is missing") }
        }
    }

    func message(_ target: FuzzTarget, _ name: String) throws -> String? {
        let data = try Data(contentsOf: corpus.appendingPathComponent(target.rawValue).appendingPathComponent(name))
        do { try target.run(data) } catch { return "\(error)" }
        return nil
    }

    @Test func checkpointGeneratorStatesThatLibtorchWouldAbortOnAreRefused() throws {
        // Before: setRNGState aborted the process ("Expected either a CPUGeneratorImplStateLegacy of size ...").
        let short = try #require(try message(.checkpoint, "bad_rng_10_bytes.safetensors"))
        #expect(short.hasSuffix("input.safetensors: rng.torch has shape [10] (uint8), expected [5056] (uint8): "
            + "libtorch's CPU generator state"), "\(short)")
        // Before: accepted, and the next draw read far outside the generator's state.
        let forged = try #require(try message(.checkpoint, "bad_rng_position.safetensors"))
        #expect(forged.hasSuffix("input.safetensors: rng.torch is corrupt: its generator position (left 300, "
            + "next 1099511627776) lies outside the 624-word state"), "\(forged)")
        // Found by libFuzzer: a state whose `seeded` flag is 0 made libtorch abort ("Invalid mt19937 state").
        let unseeded = try #require(try message(.checkpoint, "crash_rng_unseeded.safetensors"))
        #expect(unseeded.hasSuffix("input.safetensors: rng.torch is corrupt: its generator is marked as never seeded"),
                "\(unseeded)")
    }

    @Test func niftiGridsLargerThanTheFileAreRefusedBeforeAllocation() throws {
        // 30000^3 int16 voxels: 54 TB that libnifti allocated before finding the file short.
        let plain = try #require(try message(.nifti, "bad_huge_grid.nii"))
        #expect(plain.hasSuffix("input.nii: corrupt NIfTI header: grid [30000, 30000, 30000] of int16 needs "
            + "54000000000000 bytes from offset 352, but the file holds 772 bytes"), "\(plain)")
        let size = try Data(contentsOf: corpus.appendingPathComponent("nifti/bad_huge_grid.nii.gz")).count
        let gzipped = try #require(try message(.nifti, "bad_huge_grid.nii.gz"))
        #expect(gzipped.hasSuffix("input.nii.gz: corrupt NIfTI header: grid [30000, 30000, 30000] of int16 needs "
            + "54000000000000 bytes from offset 352, but a \(size)-byte gzip file cannot hold them"), "\(gzipped)")
    }

    @Test func niftiHeadersThatDoNotLookGoodNeverReachTheImageReader() throws {
        // Found by libFuzzer: a NIfTI-2 header with dim[0] = 3238002691 overflowed libnifti's stack
        // (nifti_convert_n2hdr2nim) in nifti_image_read, which does not check NIfTI-2 headers.
        let text = try #require(try message(.nifti, "crash_nifti2_dim0.nii"))
        #expect(text.hasSuffix("input.nii: not a readable NIfTI-1 or NIfTI-2 image (missing, truncated or corrupt)"),
                "\(text)")
    }
}
