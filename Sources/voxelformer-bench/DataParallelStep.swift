import Foundation
import Torch
import Training
import VoxelFormer

/// Scaling of the data-parallel step (docs/distributed.md): the demo model's SoftCLIP step at a global batch
/// of 32, as one process with 2 threads and as 2 ranks (Gloo over loopback) with 1 thread each, the machine's
/// 2 cores either way. A rank takes its 16 rows, gathers the embeddings with gradient, runs backward through
/// c10d's Reducer (which all-reduces buckets of gradients while backward runs), clips and steps AdamW, as
/// `Trainer.trainStep` does. Rows: steps per second (the median step time's inverse, every rank in step) and
/// the milliseconds per step of gradient all-reduce that backward did not hide.
enum DataParallelStep {
    static let name = "train demo V=1000 B=32 data-parallel"
    static let threadsVariable = "VOXELFORMER_BENCH_THREADS"
    /// Set: the Reducer gets one bucket of the whole model, all-reduced once backward has produced the last
    /// gradient (what averaging after backward costs, the row to compare the overlap with).
    static let oneBucketVariable = "VOXELFORMER_BENCH_ONE_BUCKET"
    static let (voxelCount, batch, warmup, timed) = (1000, 32, 2, 8)

    static var benchmarks: [Benchmark] {
        [Benchmark(name: name, summary: "SoftCLIP step, global batch \(batch), V \(voxelCount): 1 rank x 2 threads vs 2 ranks x 1 thread") {
            isolatedName == name ? measure()
                : [(1, 2, false), (2, 1, false), (2, 1, true)].flatMap { launch(world: $0.0, threads: $0.1, oneBucket: $0.2) }
        }]
    }

    /// `world` copies of this bench as ranks of a group on a free loopback port; rank 0's rows.
    static func launch(world: Int, threads: Int, oneBucket: Bool) -> [BenchmarkRow] {
        let port = 20000 + Int.random(in: 0..<20000)
        let output = Pipe()
        var children: [Process] = []
        for rank in 0..<world {
            let child = Process()
            child.executableURL = URL(fileURLWithPath: "/proc/self/exe")
            child.environment = ProcessInfo.processInfo.environment.merging([
                isolationVariable: name, parentVariable: "\(getpid())", threadsVariable: "\(threads)", oneBucketVariable: oneBucket ? "1" : "", "RANK": "\(rank)", "WORLD_SIZE": "\(world)",
                "LOCAL_RANK": "\(rank)", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "\(port)",
            ]) { $1 }
            child.standardOutput = rank == 0 ? output : FileHandle.nullDevice
            do { try child.run() } catch {
                return [BenchmarkRow(name: name, metric: "failed: cannot start rank \(rank): \(error)", value: .nan, unit: "")]
            }
            children.append(child)
        }
        let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        for child in children { child.waitUntilExit() }
        guard children.allSatisfy({ $0.terminationStatus == 0 }) else {
            return [BenchmarkRow(name: name, metric: "failed: a rank of \(world) exited with an error (above)", value: .nan, unit: "")]
        }
        return text.split(separator: "\n").compactMap { parseRow(String($0)) }
    }

    /// One rank's (or the single process's) timed steps.
    static func measure() -> [BenchmarkRow] {
        do {
            Torch.threads = Int(ProcessInfo.processInfo.environment[threadsVariable] ?? "") ?? 1
            let parallel = try Rendezvous.fromEnvironment().map { try DataParallel(group: try $0.join(timeout: 120)) }
            let oneBucket = ProcessInfo.processInfo.environment[oneBucketVariable] == "1"
            if oneBucket, let parallel { (parallel.firstBucketBytes, parallel.bucketBytes) = (1 << 40, 1 << 40) }
            let world = parallel?.worldSize ?? 1
            let config = TrainingStep.demoModel()
            Torch.manualSeed(0)
            let model = VoxelFormerModel(config)
            model.train()
            let optimizer = try AdamW(groups: TrainingStep.parameterGroups([model]))
            // the same global batch on every rank (one seed); each keeps its rows
            let voxels = Tensor.randn([batch, 1, voxelCount])  // (B, 1, V)
            let coords = Tensor.cat([81, 104, 83].map { Tensor.randint(0, $0, [voxelCount, 1]) }, dim: 1).to(.float32)  // (V, 3)
            let targets = F.normalize(Tensor.randn([batch, config.clipSeqDim, config.clipEmbDim]).reshape(batch, -1), dim: 1)
            let local = parallel?.localRows(voxels) ?? voxels
            var times: [Double] = [], reduceBefore = 0.0
            for step in 0..<(warmup + timed) {
                if step == warmup { reduceBefore = parallel?.exposedAllReduceSeconds ?? 0 }
                let start = nanoseconds()
                let loss = try DataParallel.within(parallel) { () throws -> Tensor in
                    let clip = model(local, coords: coords).clipVoxels
                    let all = try parallel?.gatherWithGradient(clip) ?? clip
                    return softCLIPLoss(predictions: F.normalize(all.reshape(batch, -1), dim: 1), targets: targets, temperature: 0.004)
                }
                if let parallel { try parallel.backward(loss, parameters: optimizer.parameters) } else { loss.backward() }
                _ = clipGradNorm(optimizer.parameters, maxNorm: 1)
                optimizer.step()
                optimizer.zeroGrad()
                if step >= warmup { times.append(Double(nanoseconds() - start) / 1e9) }
            }
            let label = "\(world) rank\(world == 1 ? "" : "s") x \(Torch.threads) thread\(Torch.threads == 1 ? "" : "s")"
                + (oneBucket ? ", one bucket" : "")
            var rows = [BenchmarkRow(name: name, metric: "steps/s, \(label) (median of \(timed))", value: 1 / median(times), unit: "steps/s")]
            if let parallel {
                let perStep = (parallel.exposedAllReduceSeconds - reduceBefore) / Double(timed)
                let buckets = parallel.reducer?.bucketBytes.map { String(format: "%.1f", Double($0) / 1e6) }.joined(separator: ", ") ?? ""
                rows.append(BenchmarkRow(name: name, metric: "gradient all-reduce not hidden by backward per step, \(label) "
                    + "(buckets \(buckets) MB)", value: perStep * 1000, unit: "ms"))
            }
            return rows
        } catch {
            FileHandle.standardError.write(Data("\(name): \(error)\n".utf8))
            exit(1)
        }
    }
}
