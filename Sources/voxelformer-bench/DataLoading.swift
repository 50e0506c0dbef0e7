import BrainData
import Foundation
import Torch
import Training

/// How fast the data layer feeds training: shuffled batches of 32 trials (betas rows plus CLIP targets)
/// from a subject of NSD size (15,000 voxels, 30,000 betas rows), through the trainer's own path
/// (`NSDTrainingData.trainBatch` read by a `BatchStream`) on the calling thread and prefetched, and what
/// holding the betas in memory costs.
///
/// The data root is written once per run into a temporary folder and deleted afterwards: random float32
/// betas (30,000, 15,000), an 81x104x83 nsdgeneral mask with 15,000 voxels equal to 1, 40 training shards of
/// 750 trials (only `behav.npy`, which is all `NSDDataset` reads), and `clip_targets.hdf5` with
/// `targetImages` float16 (256, 1664) targets (trial t shows image t mod `targetImages`). All of it sits in
/// the page cache while timed, so the rates are the CPU cost of the layer, not a disk's. Each variant draws
/// its own 100 batches of the same seeded epoch; the third repeats the synchronous loop with one intra-op
/// thread.
enum DataLoading {
    static let voxels = 15_000, rows = 30_000, shards = 40, grid = [81, 104, 83]
    static let batchSize = 32, targetImages = 512, tokens = 256, tokenDim = 1664
    /// Batches timed per variant (of the 937 in an epoch).
    static let timedBatches = 100, warmupBatches = 10

    static let name = "data: batches of 32 (15,000 voxels, 30,000 rows)"

    static var benchmarks: [Benchmark] { [
        Benchmark(name: name, summary: "NSDTrainingData + BatchStream (the trainer's path), synchronous and prefetched; RSS") {
            isolated(name) { measure() }
        },
    ] }

    static func measure() -> [BenchmarkRow] {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("voxelformer-bench-\(getpid())")
        defer { try? FileManager.default.removeItem(at: root) }
        var started = nanoseconds()
        do { try writeRoot(root) } catch { fatalError("writing the data root: \(error)") }
        note(String(format: "data root written in %.1f s", seconds(since: started)))

        let rssBefore = procStatusMiB("VmRSS")
        started = nanoseconds()
        let data: NSDTrainingData
        do {
            var config = DataConfig()
            (config.root, config.trainSubjects, config.testSubjects) = (root.path, [1], [])
            data = try NSDTrainingData(config: config)  // loads subject 1, as training does
        } catch { fatalError("loading the data root: \(error)") }
        let trialCounts = [1: data.trainTrialCount(subject: 1)]
        let loadSeconds = seconds(since: started)
        let rssLoaded = procStatusMiB("VmRSS")

        var sampler = SubjectBatchSampler(trialCounts: trialCounts, batchSize: batchSize, seed: 0)
        let epoch = sampler.nextEpoch()
        let warmup = Array(epoch.prefix(warmupBatches))
        let synchronous = Array(epoch.dropFirst(warmupBatches).prefix(timedBatches))
        let prefetched = Array(epoch.dropFirst(warmupBatches + timedBatches).prefix(timedBatches))
        let singleThreaded = Array(epoch.dropFirst(warmupBatches + 2 * timedBatches).prefix(timedBatches))
        precondition(singleThreaded.count == timedBatches, "an epoch has too few batches")
        let threads = Torch.threads

        var checksum = 0.0
        do {
            let warm = BatchStream(warmup, data: data, prefetch: 0)
            while let b = try warm.next() { checksum += b.voxels.sum().item() }
            started = nanoseconds()
            let sync = BatchStream(synchronous, data: data, prefetch: 0)
            while let b = try sync.next() {
                precondition(b.voxels.shape == [batchSize, 1, voxels] && b.targets.shape == [batchSize, tokens, tokenDim])
            }
            let syncSeconds = seconds(since: started)
            started = nanoseconds()
            let stream = BatchStream(prefetched, data: data, prefetch: 4)
            var count = 0
            while let b = try stream.next() {
                precondition(b.voxels.shape == [batchSize, 1, voxels])
                count += 1
            }
            let prefetchSeconds = seconds(since: started)
            // The same loop with one libtorch intra-op thread: the float16 -> float32 conversion of the targets
            // is parallel, and on a loaded 2-core machine the thread team's waits dominate it.
            Torch.threads = 1
            started = nanoseconds()
            let single = BatchStream(singleThreaded, data: data, prefetch: 0)
            while try single.next() != nil {}
            let singleSeconds = seconds(since: started)
            Torch.threads = threads
            precondition(count == timedBatches && checksum.isFinite)
            let trials = Double(timedBatches * batchSize)
            let betasMiB = Double(rows * voxels * 4) / 1_048_576
            return [
                BenchmarkRow(name: name, metric: "load subject (betas, mask, 40 shards)", value: loadSeconds, unit: "s"),
                BenchmarkRow(name: name, metric: "synchronous, \(threads) intra-op threads", value: trials / syncSeconds,
                             unit: "trials/s"),
                BenchmarkRow(name: name, metric: "prefetched (data.prefetch 4, idle consumer), \(threads) threads",
                             value: trials / prefetchSeconds, unit: "trials/s"),
                BenchmarkRow(name: name, metric: "synchronous, 1 intra-op thread", value: trials / singleSeconds,
                             unit: "trials/s"),
                BenchmarkRow(name: name, metric: "betas in memory (float32)", value: betasMiB, unit: "MiB"),
                BenchmarkRow(name: name, metric: "RSS growth from loading the subject", value: rssLoaded - rssBefore,
                             unit: "MiB"),
                BenchmarkRow(name: name, metric: "peak RSS of the process (VmHWM)", value: procStatusMiB("VmHWM"),
                             unit: "MiB"),
            ]
        } catch { fatalError("assembling batches: \(error)") }
    }

    /// The minimal NSD layout `NSDDataset` needs for subject 1 (see the type's comment).
    static func writeRoot(_ root: URL) throws {
        let layout = NSDLayout(root: root)
        let fm = FileManager.default
        try fm.createDirectory(at: layout.trainFolder(1), withIntermediateDirectories: true)
        try fm.createDirectory(at: layout.mask(1).deletingLastPathComponent(), withIntermediateDirectories: true)
        Torch.manualSeed(0)

        let chunk = 1000
        let betas = try HDF5Writer(creating: layout.betas(1))
        try betas.createDataset("betas", dtype: .float32, shape: [rows, voxels])
        for start in stride(from: 0, to: rows, by: chunk) {
            try betas.write("betas", rows: Tensor.randn([min(chunk, rows - start), voxels]), at: start)
        }
        try betas.close()

        let targets = try HDF5Writer(creating: layout.targetsHDF5)
        try targets.createDataset(NSDLayout.targetsKey, dtype: .float16, shape: [targetImages, tokens, tokenDim])
        for start in stride(from: 0, to: targetImages, by: 64) {
            try targets.write(NSDLayout.targetsKey, rows: Tensor.randn([64, tokens, tokenDim]), at: start)
        }
        try targets.close()

        // 15,000 of the grid's voxels, chosen by a seeded shuffle, are the ROI.
        var generator = SeededGenerator(seed: 0)
        var order = Array(0..<(grid[0] * grid[1] * grid[2]))
        generator.shuffle(&order)
        var volume = [Double](repeating: 0, count: order.count)
        for i in order.prefix(voxels) { volume[i] = 1 }
        try NIfTIWriter.write(Tensor(volume, shape: grid).to(.int16), to: layout.mask(1))

        let perShard = rows / shards
        for shard in 0..<shards {
            var tar = TarWriter()
            for row in (shard * perShard)..<((shard + 1) * perShard) {
                var behav = [Double](repeating: -1, count: 17)
                behav[0] = Double(row % targetImages)
                behav[1] = 1
                behav[2] = Double(shard + 1)
                behav[5] = Double(row)
                try tar.writeSample(key: String(format: "sample%09d", row),
                                    members: ["behav.npy": try Npy.encode(Tensor(behav, shape: [1, 17]))])
            }
            try tar.write(to: layout.trainFolder(1).appendingPathComponent("\(shard).tar"))
        }
    }

    static func seconds(since start: UInt64) -> Double { Double(nanoseconds() - start) / 1e9 }
}
