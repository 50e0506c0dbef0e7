import ArgumentParser
import Foundation
import Torch
import Training

/// Joins the process group the environment describes (torchrun's, SLURM's, `--nproc-per-node`'s), with the
/// backend for `device` (Gloo on CPU, NCCL on CUDA), or nil for a single-process run. VOXELFORMER_DIST_TIMEOUT
/// (seconds, default 120) bounds the wait for the other ranks and each collective; a rank that dies is noticed
/// sooner, when its connections close.
func joinProcessGroup(device: ComputeDevice = .cpu) throws -> DataParallel? {
    guard let rendezvous = try Rendezvous.fromEnvironment() else { return nil }
    let env = ProcessInfo.processInfo.environment["VOXELFORMER_DIST_TIMEOUT"]
    guard let timeout = env.map({ Double($0) }) ?? 120, timeout > 0 else {
        throw ValidationError("VOXELFORMER_DIST_TIMEOUT='\(env ?? "")': expected a positive number of seconds")
    }
    return try DataParallel(group: try rendezvous.join(timeout: timeout, device: device))
}

/// "[rank1]: " in a rank of a multi-process run (the environment says so), "" otherwise: the prefix
/// torch.distributed gives its ranks' log lines, put on this process's notes and errors so that the lines of
/// ranks sharing a terminal can be told apart.
enum RankPrefix {
    static let current: String = {
        guard let rendezvous = (try? Rendezvous.fromEnvironment()) ?? nil else { return "" }
        return "[rank\(rendezvous.rank)]: "
    }()

    /// Every line of `text` with the prefix.
    static func lines(_ text: String) -> String {
        current.isEmpty ? text : text.split(separator: "\n", omittingEmptySubsequences: false).map { current + $0 }.joined(separator: "\n")
    }
}

/// `voxelformer train --nproc-per-node N`: runs N copies of this command on this machine as ranks 0...N-1
/// (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR=127.0.0.1, a free MASTER_PORT), as torchrun does. Returns the
/// exit status: 0 when every rank succeeded, else the first failed rank's.
enum LocalLauncher {
    static func launch(ranks: Int, arguments: [String]) throws -> Int32 {
        let port = try freePort()
        let processes: [Process] = try (0..<ranks).map { rank in
            let p = Process()
            p.executableURL = URL(fileURLWithPath: Bundle.main.executablePath ?? CommandLine.arguments[0])
            p.arguments = arguments
            var env = ProcessInfo.processInfo.environment
            for (k, v) in ["RANK": rank, "WORLD_SIZE": ranks, "LOCAL_RANK": rank, "LOCAL_WORLD_SIZE": ranks, "MASTER_PORT": port] {
                env[k] = String(v)
            }
            env["MASTER_ADDR"] = "127.0.0.1"
            p.environment = env
            try p.run()
            return p
        }
        // Ctrl-C reaches every rank (one process group); the ranks agree to stop after the same step.
        signal(SIGINT, SIG_IGN)
        // SIGTERM (a scheduler, a test's timeout) goes on to the ranks, which would otherwise be left running.
        signal(SIGTERM, SIG_IGN)
        let terminate = DispatchSource.makeSignalSource(signal: SIGTERM, queue: .global())
        let children = Children(processes)
        terminate.setEventHandler { for p in children.processes where p.isRunning { p.terminate() } }
        terminate.resume()
        defer { terminate.cancel() }
        var failed: (rank: Int, status: Int32)?
        var running = Set(0..<ranks)
        while !running.isEmpty {
            for rank in running where !processes[rank].isRunning {
                running.remove(rank)
                let p = processes[rank]
                let status = p.terminationReason == .uncaughtSignal ? 128 + p.terminationStatus : p.terminationStatus
                if status != 0 && failed == nil {
                    failed = (rank, status)
                    FileHandle.standardError.write(Data("voxelformer: rank \(rank) exited with status \(status); the other ranks stop when they notice\n".utf8))
                }
            }
            usleep(50_000)
        }
        return failed?.status ?? 0
    }

    /// The ranks, for the signal handler's queue (it only reads `isRunning` and sends SIGTERM).
    final class Children: @unchecked Sendable {
        let processes: [Process]
        init(_ processes: [Process]) { self.processes = processes }
    }

    /// A port nothing listens on now (the kernel's pick for port 0), as torchrun's standalone mode picks one.
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw ValidationError("--nproc-per-node: cannot open a socket to find a free port") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw ValidationError("--nproc-per-node: cannot bind a socket on 127.0.0.1 to find a free port") }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Checks c10d on this machine: run as two or more ranks (torchrun, or RANK/WORLD_SIZE/MASTER_ADDR/
/// MASTER_PORT), each prints one JSON line of collective results; the tests compare them with hand values.
struct DistributedSelfTest: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dist-selftest", abstract: "Run c10d's collectives once as one rank (for tests).", shouldDisplay: false)

    @Option(help: "After the checks, this many barriers 0.1 s apart (the lost-rank test kills a rank meanwhile).")
    var barriers = 0

    func run() throws {
        guard let parallel = try joinProcessGroup() else {
            throw ValidationError("dist-selftest runs as one rank of two or more: set RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT")
        }
        let (r, w) = (Double(parallel.rank), parallel.worldSize)
        // all-reduce: rank r sends (r + 1) * [1, 2, 3]
        let summed = Tensor([1, 2, 3].map { Float($0) * Float(r + 1) })
        try parallel.group.allReduceSum([summed])
        // all-gather: rank r sends [10 r, 10 r + 1]
        let gathered = try parallel.gather(Tensor([Float(10 * r), Float(10 * r + 1)]))
        // broadcast from the last rank: 100 + rank
        let broadcast = Tensor([Float(100 + r)])
        try parallel.group.broadcast(broadcast, root: w - 1)
        // the gradient through the gather: d/dx sum(c * gather(x)) = W * c[local rows], c = 1...2W
        let x = Tensor([Float(r), Float(r)]).requiresGrad()
        let c = Tensor((1...(2 * w)).map(Float.init))
        (c * (try parallel.gatherWithGradient(x))).sum().backward()
        // the Reducer's averaging in buckets of 8 bytes (the first) and 12: parameter i's gradient on rank r is
        // (r + 1) * i; a fourth is reached on rank 0 only (gradient 1, the others count 0), a fifth by no rank
        // (no gradient), a sixth is frozen (left out)
        parallel.firstBucketBytes = 8
        parallel.bucketBytes = 12
        let params = (1...3).map { i in Tensor([Float](repeating: 0, count: i + 1)).requiresGrad() }
        let (rankZeroOnly, unused, frozen) = (Tensor([Float(0)]).requiresGrad(), Tensor([Float(0)]).requiresGrad(), Tensor([Float(0)]))
        var loss = params.enumerated().map { i, p in (p * Double((Int(r) + 1) * (i + 1))).sum() }.reduce(frozen.sum(), +)
        if r == 0 { loss = loss + rankZeroOnly.sum() }
        try parallel.backward(loss, parameters: params + [rankZeroOnly, unused, frozen])
        let averaged = (params + [rankZeroOnly, unused, frozen]).map { $0.grad?.toArray(Float.self) ?? [] }
        // a second step reaching only the parameter that was unused: (r + 1) averages, the others get none
        for p in params + [rankZeroOnly, unused] { p.zeroGrad() }
        try parallel.backward(unused.sum() * Double(r + 1), parameters: params + [rankZeroOnly, unused, frozen])
        let second = (params + [rankZeroOnly, unused]).map { $0.grad?.toArray(Float.self) ?? [] }
        try parallel.barrier("self-test")
        let row: [String: Any] = [
            "rank": parallel.rank, "world_size": w, "all_reduce": summed.toArray(Float.self),
            "all_gather": gathered.toArray(Float.self), "broadcast": broadcast.toArray(Float.self),
            "gather_grad": x.grad?.toArray(Float.self) ?? [], "averaged": averaged, "second_step": second,
            "buckets": parallel.reducer?.bucketBytes ?? [],
        ]
        print(String(decoding: try JSONSerialization.data(withJSONObject: row, options: [.sortedKeys]), as: UTF8.self))
        fflush(nil)
        for _ in 0..<barriers {
            try parallel.barrier("self-test loop")
            usleep(100_000)
        }
    }
}
