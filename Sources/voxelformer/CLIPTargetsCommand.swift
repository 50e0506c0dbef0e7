import ArgumentParser
import BrainData
import CLIP
import Foundation
import Torch
import Training

struct CLIPTargetsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "clip",
        abstract: "Write clip_targets.hdf5: CLIP image-tower outputs for every image of an images HDF5 file.",
        discussion: """
        The defaults make MindEye2's targets from its release's images: OpenCLIP ViT-bigG/14 patch tokens after
        ln_post, CLS dropped (256 x 1664 per image), with the (x+1)/2 preprocessing quirk, stored as float16:

            voxelformer clip --images nsd/coco_images_224_float16.hdf5 \\
                --weights open_clip_bigG.safetensors --out nsd/clip_targets.hdf5

        UMBRAE's targets (OpenAI ViT-L/14, penultimate layer, no quirk):
            voxelformer clip --model ViT-L-14-quickgelu --output layer:-2 --no-quirk ...

        An interrupted run (Ctrl-C, a kill, a crash) keeps the rows written so far in OUT.partial and
        OUT.progress.json: rerun the same command to continue. docs/clip.md has the whole path.
        """
    )

    @Option(help: "HDF5 file of images (N, 3, H, W) in [0, 1] (MindEye2's coco_images_224_float16.hdf5).")
    var images: String
    @Option(help: "The images' dataset in that file.")
    var imagesDataset = "images"
    @Option(help: "Tower weights (.safetensors) under open_clip (visual.*) or Hugging Face (vision_model.*) names.")
    var weights: String
    @Option(help: "Built-in tower: \(CLIPVisionConfig.builtIn.keys.sorted().joined(separator: ", ")).")
    var model = "ViT-bigG-14"
    @Option(help: "An open_clip model-config JSON instead of --model.")
    var modelConfig: String?
    @Option(help: "tokens (ln_post patch tokens), layer:N (hidden_states[N], CLS dropped; -2 for LLaVA/UMBRAE) or embedding (pooled, projected).")
    var output = "tokens"
    @Flag(inversion: .prefixedNo, help: "MindEye2's (x+1)/2 on [0,1] images before CLIP's mean/std.")
    var quirk = true
    @Option(help: "The forward pass: auto (bfloat16 autocast on CUDA or on a CPU with AMX, else float32), float32, float16 or bfloat16.")
    var dtype = "auto"
    @Option(help: "What the file stores: float16 (MindEye2's 73k targets are 62 GB) or float32.")
    var storage = "float16"
    @Option(help: "cpu, cuda or cuda:N (auto: cuda when this libtorch sees a GPU).")
    var device = "auto"
    @Option(help: "Images per forward pass.")
    var batchSize = 32
    @Option(help: "CPU threads for libtorch (default: libtorch's choice, one per core).")
    var threads: Int?
    @Option(help: "Encode only the first N images (the trainer reads row i for image i, so keep every id it uses).")
    var limit: Int?
    @Option(help: "Output file (HDF5, dataset 'targets').")
    var out: String

    func validate() throws {
        if batchSize < 1 { throw ValidationError("--batch-size: must be at least 1, got \(batchSize)") }
        if let threads, threads < 1 { throw ValidationError("--threads: must be at least 1, got \(threads)") }
        if let limit, limit < 1 { throw ValidationError("--limit: must be at least 1, got \(limit)") }
        if CLIPOutput(output) == nil {
            throw ValidationError("--output: expected tokens, embedding or layer:N (layer:-2), got '\(output)'")
        }
        if !["auto", "float32", "float16", "bfloat16"].contains(dtype) {
            throw ValidationError("--dtype: expected auto, float32, float16 or bfloat16, got '\(dtype)'")
        }
        if !["float16", "float32"].contains(storage) {
            throw ValidationError("--storage: expected float16 or float32, got '\(storage)'")
        }
        if device != "auto" && Device(device) == nil {
            throw ValidationError("--device: expected auto, cpu, cuda or cuda:N, got '\(device)'")
        }
        if modelConfig == nil && CLIPVisionConfig.builtIn[model] == nil {
            throw ValidationError("--model: '\(model)' is not built in (\(CLIPVisionConfig.builtIn.keys.sorted().joined(separator: ", "))); "
                + "pass an open_clip config JSON with --model-config")
        }
    }

    func run() throws {
        Torch.initialise()
        if let threads { Torch.threads = threads }
        let target = try chosenDevice()
        let compute = dtype == "auto" ? Self.automaticDType(target) : dtype
        let config = try modelConfig.map { try CLIPVisionConfig.load(URL(fileURLWithPath: $0)) }
            ?? CLIPVisionConfig.builtIn[model]!
        try config.vision.validate()
        let imagesURL = URL(fileURLWithPath: images).standardizedFileURL
        let dataset = try HDF5File(imagesURL).dataset(imagesDataset)
        let shape = dataset.shape
        guard shape.count == 4, shape[1] == 3, shape[0] > 0, shape[2] > 0, shape[3] > 0 else {
            let hint = shape.count == 4 && shape[3] == 3 ? " (channels last: store them as (N, 3, H, W))" : ""
            throw DataError("\(imagesURL.path): dataset '\(imagesDataset)' has shape \(shape); expected (N, 3, H, W) "
                + "images in [0, 1]\(hint)")
        }
        guard dataset.dtype.isFloatingPoint else {
            throw DataError("\(imagesURL.path): dataset '\(imagesDataset)' holds \(dataset.dtype); expected float images "
                + "in [0, 1] (convert 0-255 integers with x / 255)")
        }
        let count = min(limit ?? shape[0], shape[0])

        let weightsURL = URL(fileURLWithPath: weights).standardizedFileURL
        let tower = VisionTransformer(config)
        let parsedOutput = CLIPOutput(output)!
        _ = try doing("loading \(weightsURL.path)") {
            try tower.loadWeights(weightsURL, needsProjection: parsedOutput == .embedding)
        }
        tower.to(device: target)
        let encoder = CLIPImageEncoder(model: tower, output: parsedOutput, quirk: quirk)
        if case .layer(let n) = parsedOutput, tower.blockCount(forLayer: n) == nil {
            throw ValidationError("--output layer:\(n): the tower has \(config.vision.layers) blocks, so N lies in "
                + "-\(config.vision.layers + 1)...\(config.vision.layers)")
        }
        let settings = CLIPTargetsJob.Settings(
            images: imagesURL.path, imagesBytes: try Self.fileSize(imagesURL), imagesDataset: imagesDataset,
            imagesShape: shape, count: count, model: modelConfig ?? model, modelConfig: "\(config)",
            weights: weightsURL.path, weightsBytes: try Self.fileSize(weightsURL), output: output, quirk: quirk,
            compute: compute, storage: storage, shape: [count] + encoder.targetShape)
        var job = CLIPTargetsJob(encoder: encoder, images: dataset, settings: settings, out: URL(fileURLWithPath: out))
        job.batchSize = batchSize
        job.device = target
        job.autocast = Self.dtypes[compute]!
        job.storage = storage == "float32" ? .float32 : .float16

        if let done = try job.rowsAlreadyWritten(), done > 0 {
            print("resuming \(job.partial.path) at image \(done) of \(count)")
        }
        print("encoding \(count) images with \(modelConfig ?? model) (\(output), quirk \(quirk ? "on" : "off")) on \(target), "
            + "\(compute) compute, \(storage) storage -> \(out) \(settings.shape)")
        fflush(nil)
        InterruptFlag.install(message: "interrupted: finishing this batch, then stopping (Ctrl-C again to quit now)")
        let display = RowProgress(label: "encoding")
        let outcome = try doing("encoding images") {
            try job.run(shouldStop: { InterruptFlag.isRaised }, progress: display.update)
        }
        display.finish()
        switch outcome {
        case .completed:
            print("wrote \(out) \(settings.shape) (\(storage))")
        case .interrupted(let rows):
            print("stopped after \(rows) of \(count) images; rerun the same command to continue")
            throw ExitCode(130)
        }
    }

    static let dtypes: [String: DType?] = ["float32": nil, "float16": .float16, "bfloat16": .bfloat16]

    func chosenDevice() throws -> Device {
        if device == "auto" { return Torch.cudaIsAvailable ? .cuda(0) : .cpu }
        let d = Device(device)!
        if case .cuda(let i) = d, i >= Torch.cudaDeviceCount {
            throw ValidationError("--device \(device): this libtorch sees \(Torch.cudaDeviceCount) CUDA device(s)"
                + (Torch.cudaDeviceCount == 0 ? " (a CPU-only build, or no GPU visible); use --device cpu" : ""))
        }
        return d
    }

    /// bfloat16 where it is faster than float32: on a GPU, and on CPUs with AMX tiles for bf16 (on AVX2-only
    /// CPUs libtorch's bf16 matmul is several times slower than float32).
    static func automaticDType(_ device: Device) -> String {
        if case .cuda = device { return "bfloat16" }
        let flags = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        return flags.contains("amx_bf16") ? "bfloat16" : "float32"
    }

    static func fileSize(_ url: URL) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: url.path)
        return (attributes[.size] as? NSNumber)?.intValue ?? 0
    }
}

/// Rows done of a long job on standard error: a redrawn line on a terminal, a line every 10 s when piped,
/// with images per second and the time left.
final class RowProgress {
    let label: String
    let interactive = isatty(STDERR_FILENO) != 0
    var lastDraw = Date()

    init(label: String) { self.label = label }

    func update(_ s: CLIPTargetsJob.Status) {
        let now = Date()
        guard s.rowsDone == s.rows || now.timeIntervalSince(lastDraw) >= (interactive ? 0.2 : 10) else { return }
        lastDraw = now
        let rate = s.seconds > 0 ? Double(s.rowsThisRun) / s.seconds : 0
        let left = rate > 0 ? Double(s.rows - s.rowsDone) / rate : 0
        let line = String(format: "%@ %d/%d (%.0f%%)  %.2f images/s  %@ elapsed  ETA %@", label, s.rowsDone, s.rows,
                          100 * Double(s.rowsDone) / Double(max(s.rows, 1)), rate,
                          ConsoleProgress.clock(s.seconds), ConsoleProgress.clock(left))
        FileHandle.standardError.write(Data((interactive ? "\r\u{1B}[K" + line : line + "\n").utf8))
    }

    func finish() { if interactive { FileHandle.standardError.write(Data("\n".utf8)) } }
}
