import Foundation
import Torch
import Training
import VoxelFormer

/// One VoxelFormer training step as `Trainer.trainStep` takes it in its SoftCLIP phase: forward (optionally
/// under bf16 autocast), SoftCLIP at temperature 0.004 on the L2-normalised flattened `clip_voxels` and
/// targets, backward, gradient clipping at norm 1, AdamW with the trainer's two parameter groups. Inputs
/// are random: voxels (B, 1, V), coordinates drawn in the 81x104x83 func1pt8mm grid, targets (B, Q, E).
/// The step time is the median over the timed steps after the warm-up ones; the peak memory is the process's
/// VmHWM, each row running in a fresh process (`isolated`), next to the RSS the process had before the first
/// step (model, optimiser and inputs built).
enum TrainingStep {
    struct Setup {
        var name: String
        let model: ModelConfig
        let voxels: Int
        let batch: Int
        let bf16: Bool
        let warmup: Int
        let timed: Int
        var prior: PriorConfig? = nil
        /// Activation checkpointing on our side (the peer runs its plain step: the same function).
        var checkpointing = false

        /// This row with activation checkpointing, named "<name> checkpointed".
        var checkpointed: Setup {
            var s = self
            s.name += " checkpointed"
            s.checkpointing = true
            return s
        }
    }

    static var benchmarks: [Benchmark] {
        var paper = ModelConfig()
        paper.tomeR = 136
        var subject2 = ModelConfig()
        subject2.tomeR = 1000
        let demo = demoModel()
        let paperFP32 = Setup(name: "train paper V=2048 B=4 r=136 fp32", model: paper, voxels: 2048, batch: 4, bf16: false,
                              warmup: 1, timed: 3)
        let setups = [
            paperFP32,
            paperFP32.checkpointed,
            Setup(name: "train paper V=2048 B=4 r=136 bf16", model: paper, voxels: 2048, batch: 4, bf16: true,
                  warmup: 1, timed: 3),
            Setup(name: "train subj02 V=14278 B=2 r=1000 fp32", model: subject2, voxels: 14278, batch: 2, bf16: false,
                  warmup: 1, timed: 3),
            Setup(name: "train demo V=1000 B=32 fp32", model: demo, voxels: 1000, batch: 32, bf16: false,
                  warmup: 2, timed: 6),
            Setup(name: "train demo V=1000 B=32 bf16", model: demo, voxels: 1000, batch: 32, bf16: true,
                  warmup: 2, timed: 6),
        ]
        return setups.map { setup in Benchmark(name: setup.name, summary: summary(setup)) { run(setup) } }
    }

    /// Our step in a child process, then the PyTorch peer's (scripts/bench_train_peer.py) in another, one
    /// after the other, `benchPairs` times (`--pairs N`): the medians over the pairs of our rows and of the
    /// peer's step time and RSS (the reference column), and rows with the ratios.
    static func run(_ s: Setup) -> [BenchmarkRow] {
        if isolatedName == s.name { return measure(s) }  // the child
        var runs: [[BenchmarkRow]] = [], peers: [TrainPeer.Measurement] = []
        for _ in 0..<benchPairs {
            runs.append(isolated(s.name) { measure(s) })
            if let peer = TrainPeer.run(s) { peers.append(peer) }
        }
        // a run that failed (its one `failed` row) or measured other rows cannot be combined into medians
        if let bad = runs.first(where: { $0.map(\.metric) != runs[0].map(\.metric) || $0.contains { $0.metric.hasPrefix("failed") } }) {
            return bad.contains { $0.metric.hasPrefix("failed") } ? bad : runs[0]
        }
        let ours = runs[0].indices.map { i in
            BenchmarkRow(name: s.name, metric: runs[0][i].metric, value: median(runs.map { $0[i].value }), unit: runs[0][i].unit)
        }
        guard !peers.isEmpty else { return ours }
        let peer = TrainPeer.Measurement(median_seconds: median(peers.map(\.median_seconds)),
                                         rss_built_mib: median(peers.map(\.rss_built_mib)),
                                         peak_rss_mib: median(peers.map(\.peak_rss_mib)), threads: peers[0].threads,
                                         parameters: peers[0].parameters)
        var rows = ours.map { row -> BenchmarkRow in
            var row = row
            switch row.metric {
            case "RSS before the first step": row.reference = peer.rss_built_mib
            case "peak RSS (VmHWM)": row.reference = peer.peak_rss_mib
            case "parameters": row.reference = peer.parameters.map(Double.init)
            default: if row.unit == "ms" { row.reference = peer.median_seconds * 1000 }
            }
            return row
        }
        if let time = ours.first(where: { $0.unit == "ms" }), let peak = ours.first(where: { $0.metric == "peak RSS (VmHWM)" }) {
            rows.insert(BenchmarkRow(name: s.name, metric: "step time / PyTorch's", value: time.value / (peer.median_seconds * 1000),
                                     unit: "ratio"), at: 1)
            rows.append(BenchmarkRow(name: s.name, metric: "peak RSS / PyTorch's", value: peak.value / peer.peak_rss_mib,
                                     unit: "ratio"))
        }
        return rows
    }

    static func summary(_ s: Setup) -> String {
        let m = s.model
        return "fwd+bwd+AdamW, C \(m.encoderHiddenDim), H \(m.decoderHiddenDim), \(m.clipSeqDim)x\(m.clipEmbDim) queries, "
            + "V \(s.voxels), B \(s.batch), tome_r \(m.tomeR), \(s.bf16 ? "bf16 autocast" : "fp32")"
            + (s.prior == nil ? "" : ", with the diffusion prior")
            + (s.checkpointing ? ", activation checkpointing (the peer without)" : "")
    }

    /// The `model:` section of configs/demo.yaml.
    static func demoModel() -> ModelConfig {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("configs/demo.yaml").path
        do { return try VoxelFormerConfig.load(path: path).model } catch { fatalError("\(error)") }
    }

    /// AdamW groups as `Trainer.parameterGroups` makes them: no weight decay for biases and `LayerNorm.*`.
    static func parameterGroups(_ modules: [Module], lr: Double = 5e-5, weightDecay: Double = 1e-2)
        -> [AdamW.ParameterGroup]
    {
        let named = modules.flatMap { $0.namedParameters() }
        let noDecay = ["bias", "LayerNorm.bias", "LayerNorm.weight"]
        let isNoDecay: (String) -> Bool = { name in noDecay.contains { name.contains($0) } }
        return [
            AdamW.ParameterGroup(named.filter { !isNoDecay($0.name) }.map(\.tensor), lr: lr, weightDecay: weightDecay),
            AdamW.ParameterGroup(named.filter { isNoDecay($0.name) }.map(\.tensor), lr: lr, weightDecay: 0),
        ]
    }

    static func measure(_ s: Setup) -> [BenchmarkRow] {
        if !s.checkpointing { HostMemory.keepFreedMemory() }  // as `Trainer.prepare` does
        Torch.manualSeed(0)
        let model = VoxelFormerModel(s.model)
        model.train()
        model.activationCheckpointing = s.checkpointing
        let prior = s.prior.map { DiffusionPrior($0) }
        prior?.train()
        prior?.activationCheckpointing = s.checkpointing
        let optimizer: AdamW
        do { optimizer = try AdamW(groups: parameterGroups([model] + (prior.map { [$0] } ?? []))) } catch {
            fatalError("\(error)")
        }
        let b = s.batch
        let voxels = Tensor.randn([b, 1, s.voxels])  // (B, 1, V)
        let coords = Tensor.cat([81, 104, 83].map { Tensor.randint(0, $0, [s.voxels, 1]) }, dim: 1).to(.float32)  // (V, 3)
        let targets = Tensor.randn([b, s.model.clipSeqDim, s.model.clipEmbDim])  // (B, Q, E)
        let brainParameters = model.parameters()
        let rssBefore = procStatusMiB("VmRSS")

        var times: [Double] = []
        var lastLoss = 0.0
        let profile = profileDirectory
        for step in 0..<(s.warmup + s.timed) {
            // --profile: the timed steps under libtorch's profiler (their times then include its overhead)
            if let profile, step == s.warmup {
                do { try Profiler.start() } catch { fatalError("\(s.name): cannot profile into \(profile.path): \(error)") }
            }
            let start = nanoseconds()
            let (backbone, clipVoxels) = Torch.autocast(.cpu, dtype: .bfloat16, enabled: s.bf16) {
                model(voxels, coords: coords)
            }
            let p = F.normalize(clipVoxels.reshape(b, -1).to(.float32), dim: 1)
            let t = F.normalize(targets.reshape(b, -1), dim: 1)
            var loss = softCLIPLoss(predictions: p, targets: t, temperature: 0.004)
            if let prior { loss = loss + 30 * prior.loss(backbone: backbone.to(.float32), target: targets) }
            lastLoss = loss.item()
            loss.backward()
            _ = clipGradNorm(brainParameters, maxNorm: 1)
            optimizer.step()
            optimizer.zeroGrad()
            let seconds = Double(nanoseconds() - start) / 1e9
            note(String(format: "%@: step %d %.2f s, loss %.4f", s.name, step, seconds, lastLoss))
            if step >= s.warmup { times.append(seconds) }
        }
        precondition(lastLoss.isFinite, "\(s.name): the loss is not finite")
        if let profile { writeProfile(into: profile, row: s.name) }
        return [
            BenchmarkRow(name: s.name, metric: "step time (median of \(s.timed) after \(s.warmup) warm-up)",
                         value: median(times) * 1000, unit: "ms"),
            BenchmarkRow(name: s.name, metric: "RSS before the first step", value: rssBefore, unit: "MiB"),
            BenchmarkRow(name: s.name, metric: "peak RSS (VmHWM)", value: procStatusMiB("VmHWM"), unit: "MiB"),
            // the same function on both sides: the peer's count goes beside it (frozen rotary freqs included)
            BenchmarkRow(name: s.name, metric: "parameters", value: Double(model.parameterCount + (prior?.referenceParameterCount ?? 0)),
                         unit: "count"),
        ]
    }
}

/// Stops the profiler that `measure` started: DIR/<row>-swift.json (Chrome trace) and DIR/<row>-swift.md, the top 10
/// operators by self and by total time.
func writeProfile(into dir: URL, row: String) {
    let base = dir.appendingPathComponent(fileSlug(row) + "-swift")
    do {
        let summary = try Profiler.stop(trace: base.appendingPathExtension("json"))
        let text = "# \(row), Swift: the timed steps\n\nBy self time:\n\n\(summary.table(sortedBy: .selfTime, limit: 10))\n"
            + "By total time:\n\n\(summary.table(sortedBy: .totalTime, limit: 10))"
        try text.write(to: base.appendingPathExtension("md"), atomically: true, encoding: .utf8)
        note("\(row): profile in \(base.path).{json,md}")
    } catch {
        note("\(row): the profile could not be written: \(error)")
    }
}

/// `scripts/bench_train_peer.py`: the same step in plain PyTorch (the reference's structure, SDPA attention),
/// with the same model config (as JSON), shapes, warm-up and timed steps.
enum TrainPeer {
    struct Measurement: Decodable {
        let median_seconds: Double
        let rss_built_mib: Double
        let peak_rss_mib: Double
        let threads: Int
        /// The model's (and the prior's) parameter count, frozen ones included.
        var parameters: Int? = nil
    }

    static let script = PythonPeer.root.appendingPathComponent("scripts/bench_train_peer.py").path

    static func run(_ s: TrainingStep.Setup) -> Measurement? {
        let model: String
        do { model = String(decoding: try JSONEncoder().encode(s.model), as: UTF8.self) } catch { fatalError("\(error)") }
        var arguments = ["--model", model, "--voxels", "\(s.voxels)", "--batch", "\(s.batch)", "--warmup", "\(s.warmup)",
                         "--timed", "\(s.timed)"] + (s.bf16 ? ["--bf16"] : [])
        if let dir = profileDirectory {
            arguments += ["--profile", dir.appendingPathComponent(fileSlug(s.name) + "-pytorch").path]
        }
        if let prior = s.prior {
            do { arguments += ["--prior", String(decoding: try JSONEncoder().encode(prior), as: UTF8.self)] } catch { fatalError("\(error)") }
        }
        let result = PythonPeer.measure(Measurement.self, script: script, arguments: arguments, row: s.name)
        if let result {
            note(String(format: "%@: PyTorch %.3f s per step on %d threads", s.name, result.median_seconds, result.threads))
        }
        return result
    }
}
