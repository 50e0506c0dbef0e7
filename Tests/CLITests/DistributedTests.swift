import Foundation
import Testing

/// Ranks of the built binary started with torch.distributed's environment (RANK, WORLD_SIZE, MASTER_ADDR,
/// MASTER_PORT), as torchrun starts them.
enum Ranks {
    struct Finished {
        let status: Int32
        let stdout: String
        let stderr: String
        /// Seconds from `kill` (or the start) to this rank's exit.
        let seconds: Double
    }

    static func freePort() -> Int { 20000 + Int.random(in: 0..<20000) }

    /// Runs `world` ranks of `voxelformer <arguments>` (`environment` adds to theirs; "" unsets); with `kill: (rank, after)`, SIGKILLs that rank once
    /// `after` returns true for its stdout so far. Kills everything after `timeout` seconds.
    static func run(_ arguments: [String], world: Int = 2, environment: [String: String] = [:], timeout: Double = 120,
                    kill: (rank: Int, when: (String) -> Bool)? = nil) throws -> [Finished] {
        guard let binary = CLI.binary else { throw CLI.Missing() }
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("ranks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: scratch) }
        let port = freePort()
        var processes: [Process] = [], outs: [URL] = [], errs: [URL] = []
        for rank in 0..<world {
            let out = scratch.appendingPathComponent("out\(rank)"), err = scratch.appendingPathComponent("err\(rank)")
            _ = FileManager.default.createFile(atPath: out.path, contents: nil)
            _ = FileManager.default.createFile(atPath: err.path, contents: nil)
            let p = Process()
            p.executableURL = binary
            p.arguments = arguments
            p.standardOutput = try FileHandle(forWritingTo: out)
            p.standardError = try FileHandle(forWritingTo: err)
            p.standardInput = FileHandle.nullDevice
            var env = ProcessInfo.processInfo.environment
            env["SWIFT_BACKTRACE"] = "enable=no"
            for (k, v) in ["RANK": "\(rank)", "WORLD_SIZE": "\(world)", "LOCAL_RANK": "\(rank)", "MASTER_ADDR": "127.0.0.1",
                           "MASTER_PORT": "\(port)"].merging(environment, uniquingKeysWith: { $1 }) { env[k] = v.isEmpty ? nil : v }
            p.environment = env
            try p.run()
            (processes, outs, errs) = (processes + [p], outs + [out], errs + [err])
        }
        var start = Date()
        let deadline = Date().addingTimeInterval(timeout)
        var ended = [Double?](repeating: nil, count: world)
        var killed = false
        while ended.contains(where: { $0 == nil }) {
            if let kill, !killed, let text = try? String(contentsOf: outs[kill.rank], encoding: .utf8), kill.when(text) {
                Foundation.kill(processes[kill.rank].processIdentifier, SIGKILL)
                killed = true
                start = Date()
            }
            for r in 0..<world where ended[r] == nil && !processes[r].isRunning { ended[r] = Date().timeIntervalSince(start) }
            if Date() > deadline { for p in processes where p.isRunning { p.terminate() } }
            usleep(20_000)
        }
        return (0..<world).map { r in
            processes[r].waitUntilExit()
            return Finished(status: processes[r].terminationStatus,
                            stdout: (try? String(contentsOf: outs[r], encoding: .utf8)) ?? "",
                            stderr: (try? String(contentsOf: errs[r], encoding: .utf8)) ?? "", seconds: ended[r] ?? 0)
        }
    }
}

@Suite("c10d process groups through the binary", .serialized)
struct DistributedCollectiveTests {
    /// Every value by hand: rank r all-reduces (r + 1) * [1, 2, 3], all-gathers [10 r, 10 r + 1], broadcasts
    /// 100 + r from the last rank; sum(c * gather(x)) with c = 1...2W gives rank r the gradient W * c[2r, 2r + 1];
    /// parameter i's gradient (r + 1) * i averages to (1 + ... + W) / W * i through c10d's Reducer; a parameter
    /// only rank 0's loss reaches averages 1 with the others' 0; one no loss reaches keeps no gradient, and
    /// when a second step reaches only it, its gradient (r + 1) averages.
    @Test func collectivesGiveHandValues() throws {
        for world in [2, 3] {
            let ranks = try Ranks.run(["dist-selftest"], world: world, timeout: 60)
            for (rank, r) in ranks.enumerated() {
                #expect(r.status == 0, "rank \(rank): \(r.stderr.prefix(500))")
                let row = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
                let w = Float(world)
                let rankSum = Float((1...world).reduce(0, +))
                let allReduce: [Float] = [1 * rankSum, 2 * rankSum, 3 * rankSum]
                var allGather: [Float] = []
                for k in 0..<world { allGather += [Float(10 * k), Float(10 * k + 1)] }
                let gatherGrad: [Float] = [w * Float(2 * rank + 1), w * Float(2 * rank + 2)]
                var averaged: [[Float]] = []
                for i in 1...3 { averaged.append([Float](repeating: rankSum / w * Float(i), count: i + 1)) }
                averaged += [[1 / w], [], []]
                #expect(row["rank"] as? Int == rank)
                #expect(row["all_reduce"] as? [Float] == allReduce)
                #expect(row["all_gather"] as? [Float] == allGather)
                #expect(row["broadcast"] as? [Float] == [Float(100 + world - 1)])
                #expect(row["gather_grad"] as? [Float] == gatherGrad)
                // read as Double, then rounded to Float: NSNumber bridges 0.33333334 to Float only when exact
                let floats = { (key: String) in (row[key] as? [[Double]])?.map { $0.map(Float.init) } }
                #expect(floats("averaged") == averaged)
                // the next step's unused parameters differ (the Reducer then reports to DDP's logger)
                #expect(floats("second_step") == [[], [], [], [], [rankSum / w]])
                // DDP's buckets of the 5 trained parameters (8, 12, 16, 4, 4 bytes) from the first: [8], [12], [16],
                // [4, 4]; all-reduced last first
                #expect(row["buckets"] as? [Int] == [8, 16, 12, 8])
            }
        }
    }

    /// A rank killed between collectives: the other exits non-zero well within 60 s, naming it; both ways
    /// round (rank 0 also hosts the store).
    @Test func lostRankIsNamed() throws {
        for victim in [1, 0] {
            let ranks = try Ranks.run(["dist-selftest", "--barriers", "600"], timeout: 90,
                                      kill: (rank: victim, when: { $0.contains("\"rank\"") }))
            let survivor = ranks[1 - victim]
            #expect(survivor.status != 0)
            #expect(survivor.seconds < 60, "took \(survivor.seconds) s")
            #expect(survivor.stderr.contains("lost rank \(victim)"), "\(survivor.stderr.suffix(600))")
        }
    }

    /// `train.device=cuda` with 2 ranks needs NCCL (Gloo takes CPU tensors): without it the rank stops before
    /// connecting, naming what is missing (here, a CPU-only libtorch).
    @Test func cudaWithoutNCCLIsRefused() throws {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let run = FileManager.default.temporaryDirectory.appendingPathComponent("nccl-\(UUID().uuidString)")
        let r = try Ranks.run(["train", "--config", repository.appendingPathComponent("configs/demo.yaml").path, "--run-dir", run.path,
                               "train.device=cuda"], world: 1, environment: ["WORLD_SIZE": "2"], timeout: 30)
        #expect(r[0].status != 0)
        #expect(r[0].stderr.contains("[rank0]: Error: train.device: cuda with 2 ranks needs the NCCL backend, and "), "\(r[0].stderr.prefix(400))")
        let cpuOnly = !FileManager.default.fileExists(atPath: repository.appendingPathComponent(".libtorch/torch/lib/libtorch_cuda.so").path)
        if cpuOnly {
            #expect(r[0].stderr.contains("this libtorch is CPU-only (no libtorch_cuda.so, where c10d's ProcessGroupNCCL lives); "
                + "use train.device=cpu (Gloo)"), "\(r[0].stderr.prefix(400))")
        }
        #expect(r[0].seconds < 20, "refused before connecting: \(r[0].seconds) s")
    }

    /// The environment is checked by name before anything connects.
    @Test func partialEnvironmentIsRefused() throws {
        let torch = ["RANK": "", "WORLD_SIZE": "", "LOCAL_RANK": "", "MASTER_ADDR": "", "MASTER_PORT": ""]
        let cases: [([String: String], String)] = [
            (["MASTER_ADDR": "", "MASTER_PORT": ""], "MASTER_ADDR, MASTER_PORT are not set"),
            (["RANK": "2", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"], "RANK=2: expected 0...1, below WORLD_SIZE=2"),
            (["RANK": "0", "WORLD_SIZE": "two", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"], "WORLD_SIZE='two': expected an integer"),
            (["RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "70000"], "MASTER_PORT=70000: expected 1...65535"),
            (torch.merging(["SLURM_PROCID": "0", "SLURM_NTASKS": "2"]) { $1 }, "SLURM_PROCID is set but SLURM_LOCALID is not"),
            (torch.merging(["SLURM_PROCID": "1", "SLURM_NTASKS": "2", "SLURM_LOCALID": "1", "SLURM_LAUNCH_NODE_IPADDR": ""]) { $1 },
             "neither is set"),
        ]
        for (env, message) in cases {
            let r = try Ranks.run(["dist-selftest"], world: 1, environment: env, timeout: 30)
            #expect(r[0].status != 0)
            #expect(r[0].stderr.contains(message), "\(env): \(r[0].stderr.prefix(400))")
        }
    }
}
