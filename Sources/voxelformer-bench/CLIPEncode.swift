import CLIP
import Foundation
import Torch

/// CLIP image encoding as MindEye2 makes its targets, beside open_clip 2.24.0 in PyTorch measured in the
/// same run (docs/benchmarks.md, "CLIP image encoding"). Each row builds a built-in tower at full size with
/// random weights (none can be downloaded here), encodes random [0,1] images (B, 3, 224, 224) through the
/// whole `CLIPImageEncoder` (MindEye2's preprocessing, the tower, `ln_post` tokens, no gradients), under
/// bf16 autocast around each batch for the bf16 rows, on libtorch's default thread count: one warm-up batch,
/// then `timed` batches, images/s = B / median batch time. The Swift side runs in a child process of its own
/// (`isolated`, for its VmHWM), then the peer, `scripts/bench_clip_peer.py`, in another: one after the
/// other, never concurrently. The peer runs `python3` (or $VOXELFORMER_BENCH_PYTHON) with the torch wheel
/// that set-up installed on PYTHONPATH; where it cannot start, the reference column stays empty.
enum CLIPEncode {
    struct Setup {
        let model: String
        let bf16: Bool
        let batch: Int
        let warmup: Int
        let timed: Int
        var name: String { "clip \(model) \(bf16 ? "bf16" : "fp32") B=\(batch)" }
    }

    /// Counts sized for a loaded 2-core AVX2 machine, where one ViT-L/14 image takes about 1.7 s in fp32 and
    /// 9 s in bf16, and ViT-bigG/14 (about 1 TFLOP an image) about 6x that: each row stays near or under
    /// 3 minutes a side, except bigG bf16 (one image took 130 to 156 s under load: one timed image, about
    /// 5 minutes a side).
    static let setups = [
        Setup(model: "ViT-L-14", bf16: false, batch: 4, warmup: 1, timed: 3),
        Setup(model: "ViT-L-14", bf16: true, batch: 2, warmup: 1, timed: 2),
        Setup(model: "ViT-bigG-14", bf16: false, batch: 2, warmup: 1, timed: 2),
        Setup(model: "ViT-bigG-14", bf16: true, batch: 1, warmup: 1, timed: 1),
    ]

    static var benchmarks: [Benchmark] {
        setups.map { s in
            Benchmark(name: s.name, summary: "CLIPImageEncoder (preprocess + \(s.model) tower, tokens) on random "
                + "(\(s.batch), 3, 224, 224) images, \(s.bf16 ? "bf16 autocast" : "fp32"), \(s.timed) timed batches "
                + "after \(s.warmup), beside open_clip 2.24.0") { run(s) }
        }
    }

    static let imagesPerSecond = "images/s (median of %d batches after %d warm-up)"
    static let rssBuilt = "RSS with the model built"
    static let peakRSS = "peak RSS (VmHWM)"

    static func run(_ s: Setup) -> [BenchmarkRow] {
        let ours = isolated(s.name) { measure(s) }
        if isolatedName == s.name { return ours }  // the child: the parent runs the peer
        guard let peer = Peer.run(s) else { return ours }
        var rows = ours.map { row -> BenchmarkRow in
            var row = row
            switch row.metric {
            case rssBuilt: row.reference = peer.rss_built_mib
            case peakRSS: row.reference = peer.peak_rss_mib
            default: if row.unit == "images/s" { row.reference = peer.images_per_s }
            }
            return row
        }
        if let speed = ours.first(where: { $0.unit == "images/s" }) {
            // Time per image as a share of open_clip's: below 100 is faster than the peer.
            rows.insert(BenchmarkRow(name: s.name, metric: "time per image, % of open_clip's",
                                     value: 100 * peer.images_per_s / speed.value, unit: "%"), at: 1)
        }
        return rows
    }

    static func measure(_ s: Setup) -> [BenchmarkRow] {
        guard let config = CLIPVisionConfig.builtIn[s.model] else { fatalError("\(s.model): no built-in config") }
        Torch.manualSeed(0)
        let model = VisionTransformer(config)
        randomise(model)
        let encoder = CLIPImageEncoder(model: model)
        let size = config.vision.imageSize
        let images = Tensor.rand([s.batch, 3, size, size])  // (B, 3, S, S) in [0,1]
        let rss = procStatusMiB("VmRSS")

        var times: [Double] = []
        for step in 0..<(s.warmup + s.timed) {
            let start = nanoseconds()
            let tokens: Tensor
            do {
                tokens = try Torch.autocast(.cpu, dtype: .bfloat16, enabled: s.bf16) { try encoder(images) }
            } catch { fatalError("\(s.name): \(error)") }
            let seconds = Double(nanoseconds() - start) / 1e9
            precondition(tokens.shape == [s.batch] + encoder.targetShape, "\(s.name): tokens of shape \(tokens.shape)")
            precondition(tokens.isfinite().all().item() != 0, "\(s.name): the tokens are not finite")
            note(String(format: "%@: batch %d %.2f s", s.name, step, seconds))
            if step >= s.warmup { times.append(seconds) }
        }
        return [
            BenchmarkRow(name: s.name, metric: String(format: imagesPerSecond, s.timed, s.warmup),
                         value: Double(s.batch) / median(times), unit: "images/s"),
            BenchmarkRow(name: s.name, metric: rssBuilt, value: rss, unit: "MiB"),
            BenchmarkRow(name: s.name, metric: peakRSS, value: procStatusMiB("VmHWM"), unit: "MiB"),
        ]
    }

    /// Random weights at open_clip's scales: the tower is built with zeros for the embeddings, the projection
    /// and the attention's input projection; a benchmark of "random weights" should not multiply zeros.
    /// LayerNorm gains 1 + N(0, 0.02²), other vectors N(0, 0.02²), matrices N(0, 1/fan_in).
    static func randomise(_ model: VisionTransformer) {
        for (name, p) in model.namedParameters() {
            let noise = Tensor.randn(p.shape)
            if p.ndim == 1 {
                let isGain = name.contains("ln_") && name.hasSuffix(".weight")  // ln_pre, ln_1, ln_2, ln_post
                p.copy_(isGain ? noise * 0.02 + 1.0 : noise * 0.02)
            } else {
                let fanIn = p.shape.dropFirst().reduce(1, *)
                p.copy_(noise * (1 / Double(fanIn).squareRoot()))
            }
        }
    }
}

/// `scripts/bench_clip_peer.py`, run with the torch that set-up installed: the Python package folder that holds
/// `.libtorch/torch` (`.libtorch/pkg` for the wheel) goes first on PYTHONPATH.
enum Peer {
    struct Measurement: Decodable {
        let images_per_s: Double
        let rss_built_mib: Double
        let peak_rss_mib: Double
        let threads: Int
    }

    static let script = PythonPeer.root.appendingPathComponent("scripts/bench_clip_peer.py").path
    static let python = PythonPeer.python
    static let install = "pip install --no-deps open_clip_torch==2.24.0"

    /// Whether the peer imports torch and open_clip; when not, says so on stderr once.
    static let available: Bool = {
        switch launch(["--check"], forwardErrors: false) {
        case .success: return true
        case .failure(let reason):
            note("clip: no PyTorch peer (\(reason)); the reference column stays empty. It needs `\(python)` with "
                + "torch (from .libtorch, set up by `make setup`) and open_clip: `\(install)`")
            return false
        }
    }()

    /// The peer's measurement of `s`, or nil (said on stderr) when it cannot run.
    static func run(_ s: CLIPEncode.Setup) -> Measurement? {
        guard available else { return nil }
        let arguments = ["--model", s.model, "--dtype", s.bf16 ? "bf16" : "fp32", "--batch", "\(s.batch)",
                         "--warmup", "\(s.warmup)", "--timed", "\(s.timed)"]
        let result = PythonPeer.measure(Measurement.self, script: script, arguments: arguments, row: s.name)
        if let result {
            note("\(s.name): open_clip \(String(format: "%.4f", result.images_per_s)) images/s on \(result.threads) threads")
        }
        return result
    }

    static func launch(_ arguments: [String], forwardErrors: Bool = true) -> Result<String, PythonPeer.Failure> {
        PythonPeer.launch(script: script, arguments: arguments, forwardErrors: forwardErrors)
    }
}
