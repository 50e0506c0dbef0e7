import BrainData
import Foundation
import Testing
import Torch

/// `voxelformer clip`: the targets it writes against open_clip's and transformers' own outputs (the fixtures
/// of Tests/CLIPTests, made by generate_clip.py), its resume after a kill or Ctrl-C, and its errors.
@Suite(.serialized) struct CLIPTargetsCommandTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("CLIPTests/Fixtures")
    static func fixture(_ name: String) -> String { fixtures.appendingPathComponent(name).path }
    static let cases: [String: Tensor] = {
        Torch.initialise()
        return (try? Safetensors.read(fixtures.appendingPathComponent("clip_cases.safetensors"))) ?? [:]
    }()
    /// The open_clip-named tower (exact GELU, 3 blocks of width 48 at 32 px, embed 24).
    static let openCLIP = ["--weights", fixture("clip_openclip_weights.safetensors"),
                           "--model-config", fixture("clip_openclip_config.json")]

    func scratch() throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("clip-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        return folder
    }

    func writeImages(_ images: Tensor, to url: URL, dtype: DType? = nil, name: String = "images") throws {
        let writer = try HDF5Writer(creating: url)
        try writer.write(name, images, dtype: dtype)
        try writer.close()
    }

    func targets(_ url: URL) throws -> Tensor { try HDF5File(url).dataset("targets").read().to(.float32) }

    /// max|Δ| / max|expected|, the CLIP parity tests' measure.
    func relativeError(_ got: Tensor, _ expected: Tensor) -> Double {
        (got - expected).abs().max().item() / expected.abs().max().item()
    }

    @Test(arguments: [
        // (images case, extra arguments, expected case)
        ("images", [String](), "openclip_pixels_quirk1_tokens"),
        ("images", ["--no-quirk", "--output", "embedding"], "openclip_pixels_quirk0_embedding"),
        ("images", ["--output", "layer:-2"], "openclip_pixels_quirk1_layer-2"),
        ("images_shrink", [], "openclip_pixels_shrink_tokens"),
    ])
    func openCLIPTargetsMatchOpenCLIP(images: String, extra: [String], expected: String) throws {
        let folder = try scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let input = folder.appendingPathComponent("images.hdf5"), out = folder.appendingPathComponent("t.hdf5")
        try writeImages(try #require(Self.cases[images]), to: input)
        let r = try CLI.run(["clip", "--images", input.path, "--storage", "float32", "--dtype", "float32", "--out", out.path]
            + Self.openCLIP + extra)
        #expect(r.status == 0, "\(r.summary)")
        let want = try #require(Self.cases[expected])
        let got = try targets(out)
        #expect(got.shape == want.shape)
        #expect(relativeError(got, want) <= 1e-4)
        #expect(r.stdout.contains("wrote \(out.path) \(want.shape) (float32)"))
        #expect(!FileManager.default.fileExists(atPath: out.path + ".partial"))
        #expect(!FileManager.default.fileExists(atPath: out.path + ".progress.json"))
    }

    /// HF names (transformers' CLIPVisionModelWithProjection, quick_gelu), LLaVA's penultimate layer, no quirk,
    /// float16 images and float16 storage (MindEye2's file types).
    @Test func huggingFaceWeightsPenultimateLayerInFloat16() throws {
        let folder = try scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let input = folder.appendingPathComponent("images.hdf5"), out = folder.appendingPathComponent("t.hdf5")
        let images = try #require(Self.cases["images"])
        try writeImages(images, to: input, dtype: .float16)
        let r = try CLI.run(["clip", "--images", input.path, "--weights", Self.fixture("clip_hf_weights.safetensors"),
                             "--model-config", Self.fixture("clip_hf_config.json"), "--output", "layer:-2", "--no-quirk",
                             "--out", out.path])
        #expect(r.status == 0, "\(r.summary)")
        #expect(try HDF5File(out).dataset("targets").dtype == .float16)
        // The fixture's expectation from the same float16-rounded pixels is not stored; float16 input and
        // output each round to 2^-11 relative, so the bound is 1e-2 rather than the float32 runs' 1e-4.
        let want = try #require(Self.cases["hf_pixels_quirk0_layer-2"])
        #expect(relativeError(try targets(out), want) <= 1e-2)
    }

    /// 300 images, 2 per batch: a kill -9 once some rows are recorded, then the same command again.
    @Test func killedRunResumesToTheSameFile() throws {
        let folder = try scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let input = folder.appendingPathComponent("images.hdf5")
        Torch.manualSeed(5)
        try writeImages(Tensor.rand([300, 3, 32, 32]), to: input, dtype: .float16)
        let arguments = ["clip", "--images", input.path, "--batch-size", "2", "--threads", "1"] + Self.openCLIP
        let whole = folder.appendingPathComponent("whole.hdf5"), resumed = folder.appendingPathComponent("resumed.hdf5")
        #expect(try CLI.run(arguments + ["--out", whole.path], timeout: 120).status == 0)

        let progress = resumed.path + ".progress.json"
        let killed = try CLI.run(arguments + ["--out", resumed.path], timeout: 120) { pid in
            Self.waitForRows(atLeast: 4, in: progress)
            kill(pid, SIGKILL)
        }
        #expect(killed.signalled)
        #expect(!FileManager.default.fileExists(atPath: resumed.path))
        let rows = try #require(Self.rowsDone(progress))
        #expect(rows >= 4 && rows < 300)

        let again = try CLI.run(arguments + ["--out", resumed.path], timeout: 120)
        #expect(again.status == 0, "\(again.summary)")
        #expect(again.stdout.contains("resuming \(resumed.path).partial at image "))
        #expect(try Data(contentsOf: resumed) == Data(contentsOf: whole))
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
            == ["images.hdf5", "resumed.hdf5", "whole.hdf5"])
    }

    /// Ctrl-C finishes the batch, keeps the rows, says how to continue and exits 130; other settings then
    /// refuse to continue it, the same ones finish it.
    @Test func interruptedRunSaysHowToContinueAndRefusesOtherSettings() throws {
        let folder = try scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let input = folder.appendingPathComponent("images.hdf5"), out = folder.appendingPathComponent("t.hdf5")
        Torch.manualSeed(6)
        try writeImages(Tensor.rand([300, 3, 32, 32]), to: input)
        let arguments = ["clip", "--images", input.path, "--batch-size", "2", "--threads", "1", "--out", out.path]
            + Self.openCLIP
        let stopped = try CLI.run(arguments, timeout: 120) { pid in
            Self.waitForRows(atLeast: 4, in: out.path + ".progress.json")
            kill(pid, SIGINT)
        }
        #expect(stopped.status == 130, "\(stopped.summary)")
        let rows = try #require(Self.rowsDone(out.path + ".progress.json"))
        #expect(stopped.stdout.contains("stopped after \(rows) of 300 images; rerun the same command to continue"))

        let other = try CLI.run(arguments + ["--no-quirk"])
        expectClearError(other, naming: ["\(out.path).partial was started with other settings (quirk: true → false)"])

        let again = try CLI.run(arguments, timeout: 120)
        #expect(again.status == 0, "\(again.summary)")
        #expect(again.stdout.contains("resuming \(out.path).partial at image \(rows) of 300"))
        #expect(try targets(out).shape == [300, 16, 48])
        let done = try CLI.run(arguments)
        expectClearError(done, naming: ["\(out.path) exists already: delete it (or choose another --out) to write it again"])
    }

    @Test func badImagesAndWeightsAreClearErrors() throws {
        let folder = try scratch()
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("t.hdf5").path
        func run(_ images: Tensor, dtype: DType? = nil, name: String = "images", _ extra: [String] = []) throws -> CLIResult {
            let input = folder.appendingPathComponent("in-\(UUID().uuidString).hdf5")
            try writeImages(images, to: input, dtype: dtype, name: name)
            return try CLI.run(["clip", "--images", input.path, "--out", out] + Self.openCLIP + extra)
        }
        let images = try #require(Self.cases["images"])
        expectClearError(try run(images * 255), naming: ["rows 0..<2 hold pixel values from 0.", "expected images in [0, 1]"])
        expectClearError(try run((images * 255).to(.int64)), naming: ["holds int64; expected float images in [0, 1]"])
        expectClearError(try run(images.permute(0, 2, 3, 1).contiguous()),
                         naming: ["has shape [2, 32, 32, 3]; expected (N, 3, H, W) images in [0, 1] (channels last"])
        expectClearError(try run(images * Double.nan), naming: ["rows 0..<2 hold non-finite pixels"])
        expectClearError(try run(images, name: "pixels"), naming: ["no dataset 'images' (keys present: pixels)"])
        // the HF tower's weights under the open_clip tower's config: every mismatch is named
        let wrong = try CLI.run(["clip", "--images", folder.appendingPathComponent("none.hdf5").path, "--out", out]
            + Self.openCLIP)
        expectClearError(wrong, naming: ["none.hdf5: no such file (expected an HDF5 file)"])
        let input = folder.appendingPathComponent("ok.hdf5")
        try writeImages(images, to: input)
        let mismatched = try CLI.run(["clip", "--images", input.path, "--out", out, "--weights",
                                      Self.fixture("clip_hf_weights.safetensors"), "--model-config",
                                      Self.fixture("clip_openclip_config.json")])
        expectClearError(mismatched, naming: ["clip_hf_weights.safetensors does not fit 3 blocks of width 48"])
        expectClearError(try CLI.run(["clip", "--images", input.path, "--out", out, "--output", "layer:9"] + Self.openCLIP),
                         naming: ["--output layer:9: the tower has 3 blocks, so N lies in -4...3"])
        expectClearError(try CLI.run(["clip", "--images", input.path, "--out", out, "--device", "cuda"] + Self.openCLIP),
                         naming: ["--device cuda: this libtorch sees 0 CUDA device(s)"])
        #expect(!FileManager.default.fileExists(atPath: out))
    }

    /// The path docs/clip.md describes, on a synthetic root without targets: `data check` says how to make
    /// them, `voxelformer clip` makes them from the root's images (8 px, resized to the tower's 32), and
    /// then `data check` passes and training runs on them.
    @Test func targetsMadeFromARootsImagesCanBeTrainedOn() throws {
        let fixture = try CLIFixture.get()
        let folder = try fixture.scratch("clip-root")
        let root = try fixture.copyOfRoot(in: folder)
        let targets = root.appendingPathComponent("clip_targets.hdf5")
        try FileManager.default.removeItem(at: targets)
        let shapes = folder.appendingPathComponent("shapes.yaml")
        try "model:\n  clip_seq_dim: 16\n  clip_emb_dim: 48\n".write(to: shapes, atomically: true, encoding: .utf8)

        let before = try CLI.run(["data", "check", root.path, "--config", shapes.path])
        #expect(before.status != 0)
        #expect(before.stdout.contains("make them from the images with `voxelformer clip --images "
            + "\(root.path)/coco_images_224_float16.hdf5 --weights VIT_BIGG_14.safetensors --out \(targets.path)`"))
        let made = try CLI.run(["clip", "--images", root.appendingPathComponent("coco_images_224_float16.hdf5").path,
                                "--out", targets.path] + Self.openCLIP)
        #expect(made.status == 0, "\(made.summary)")
        let after = try CLI.run(["data", "check", root.path, "--config", shapes.path])
        #expect(after.status == 0, "\(after.stdout.suffix(400))")
        let train = try CLI.run(["train", "--config", fixture.config.path, "--run-dir", folder.appendingPathComponent("run").path,
                                 "data.root=\(root.path)", "model.clip_seq_dim=16", "model.clip_emb_dim=48",
                                 "train.max_steps=2"], timeout: 120)
        #expect(train.status == 0, "\(train.summary)")
    }

    static func rowsDone(_ progress: String) -> Int? {
        guard let data = FileManager.default.contents(atPath: progress),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else { return nil }
        return object["rowsDone"] as? Int
    }

    /// Polls the progress record until it holds `rows` rows (at most 60 s).
    static func waitForRows(atLeast rows: Int, in progress: String) {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if let done = rowsDone(progress), done >= rows { return }
            usleep(1000)
        }
    }
}
