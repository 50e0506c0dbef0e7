import Foundation
import Torch

/// Where this process stands in a multi-process run, read from the environment the way torch.distributed's
/// `env://` reads it (torchrun and `voxelformer train --nproc-per-node` set these), or from SLURM's.
public struct Rendezvous: Equatable, Sendable {
    public var rank: Int
    public var worldSize: Int
    /// The rank among this machine's processes (the CUDA device index under NCCL).
    public var localRank: Int
    /// Where rank 0 (or torchrun's agent) hosts the TCP store.
    public var masterAddress: String
    public var masterPort: Int
    /// torchrun's agent already hosts the store on the master port (TORCHELASTIC_USE_AGENT_STORE); rank 0
    /// then connects to it like the others.
    public var launcherHostsStore: Bool
    /// Scopes our keys in a shared store; torchrun's restarts each get their own.
    public var storePrefix: String

    public init(rank: Int, worldSize: Int, localRank: Int, masterAddress: String, masterPort: Int,
                launcherHostsStore: Bool = false, storePrefix: String = "voxelformer/0/") {
        (self.rank, self.worldSize, self.localRank) = (rank, worldSize, localRank)
        (self.masterAddress, self.masterPort) = (masterAddress, masterPort)
        (self.launcherHostsStore, self.storePrefix) = (launcherHostsStore, storePrefix)
    }

    /// The variables torch.distributed's `env://` reads; `LOCAL_RANK` is optional (0 when absent).
    public static let torchKeys = ["RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT"]

    /// nil when the environment describes no multi-process run (no `RANK`/`WORLD_SIZE`, no `SLURM_PROCID`,
    /// or a world of one). Throws, naming the variables, when it describes one only partly or wrongly.
    /// Under SLURM (`srun`) the ranks come from `SLURM_PROCID`, `SLURM_NTASKS`, `SLURM_LOCALID`; the master
    /// from `MASTER_ADDR` or else `SLURM_LAUNCH_NODE_IPADDR`, its port from `MASTER_PORT` or else
    /// 29500 + the job id modulo 1000 (the same for every task of a job, apart between jobs on a node).
    public static func fromEnvironment(_ env: [String: String] = ProcessInfo.processInfo.environment) throws -> Rendezvous? {
        let restart = env["TORCHELASTIC_RESTART_COUNT"] ?? "0"
        let agentStore = env["TORCHELASTIC_USE_AGENT_STORE"]?.lowercased() == "true"
        if env["RANK"] != nil || env["WORLD_SIZE"] != nil {
            let missing = torchKeys.filter { (env[$0] ?? "").isEmpty }
            guard missing.isEmpty else {
                throw ConfigError("the environment describes a multi-process run only partly: \(missing.joined(separator: ", ")) "
                    + "\(missing.count == 1 ? "is" : "are") not set (torch.distributed's env:// needs \(torchKeys.joined(separator: ", ")); "
                    + "torchrun and `voxelformer train --nproc-per-node N` set them all)")
            }
            let world = try integer(env, "WORLD_SIZE", min: 1)
            let rank = try integer(env, "RANK", min: 0, below: (world, "WORLD_SIZE"))
            let local = env["LOCAL_RANK"] == nil ? 0 : try integer(env, "LOCAL_RANK", min: 0, below: (world, "WORLD_SIZE"))
            let port = try integer(env, "MASTER_PORT", min: 1, max: 65535)
            guard world > 1 else { return nil }
            return Rendezvous(rank: rank, worldSize: world, localRank: local, masterAddress: env["MASTER_ADDR"]!,
                              masterPort: port, launcherHostsStore: agentStore, storePrefix: "voxelformer/\(restart)/")
        }
        guard env["SLURM_PROCID"] != nil else { return nil }
        let slurmKeys = ["SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"]
        let missing = slurmKeys.filter { (env[$0] ?? "").isEmpty }
        guard missing.isEmpty else {
            throw ConfigError("SLURM_PROCID is set but \(missing.joined(separator: ", ")) \(missing.count == 1 ? "is" : "are") not: "
                + "run the ranks with srun (it sets \(slurmKeys.joined(separator: ", ")))")
        }
        let world = try integer(env, "SLURM_NTASKS", min: 1)
        let rank = try integer(env, "SLURM_PROCID", min: 0, below: (world, "SLURM_NTASKS"))
        let local = try integer(env, "SLURM_LOCALID", min: 0, below: (world, "SLURM_NTASKS"))
        guard world > 1 else { return nil }
        guard let address = [env["MASTER_ADDR"], env["SLURM_LAUNCH_NODE_IPADDR"]].compactMap({ $0 }).first(where: { !$0.isEmpty }) else {
            throw ConfigError("under SLURM the master's address comes from MASTER_ADDR or SLURM_LAUNCH_NODE_IPADDR, and neither is set "
                + "(export MASTER_ADDR=$(scontrol show hostnames \"$SLURM_JOB_NODELIST\" | head -n 1))")
        }
        let port: Int
        if env["MASTER_PORT"] != nil {
            port = try integer(env, "MASTER_PORT", min: 1, max: 65535)
        } else {
            port = 29500 + (env["SLURM_JOB_ID"].flatMap(Int.init) ?? 0) % 1000
        }
        return Rendezvous(rank: rank, worldSize: world, localRank: local, masterAddress: address, masterPort: port,
                          storePrefix: "voxelformer/\(env["SLURM_RESTART_COUNT"] ?? "0")/")
    }

    static func integer(_ env: [String: String], _ key: String, min: Int, max: Int = .max,
                        below: (Int, String)? = nil) throws -> Int {
        let text = env[key] ?? ""
        guard let v = Int(text.trimmingCharacters(in: .whitespaces)) else {
            throw ConfigError("\(key)='\(text)': expected an integer")
        }
        guard v >= min && v <= max else {
            throw ConfigError("\(key)=\(v): expected \(max == .max ? "\(min) or more" : "\(min)...\(max)")")
        }
        if let (limit, name) = below, v >= limit {
            throw ConfigError("\(key)=\(v): expected 0...\(limit - 1), below \(name)=\(limit)")
        }
        return v
    }

    /// The backend for tensors on `device`, as torch.distributed's default picks it: Gloo on CPU, NCCL on CUDA.
    /// Throws, naming what is missing, when this build has no NCCL.
    public func backend(for device: ComputeDevice) throws -> ProcessGroup.Backend {
        guard device == .cuda else { return .gloo }
        guard ProcessGroup.ncclAvailable else {
            let why = Torch.cudaIsAvailable
                ? "this build's shim was compiled without c10d's ProcessGroupNCCL (Package.swift compiles it when "
                    + "libtorch_cuda.so, nccl.h and cuda_runtime_api.h are found beside libtorch)"
                : "this libtorch is CPU-only (no libtorch_cuda.so, where c10d's ProcessGroupNCCL lives)"
            throw ConfigError("train.device: cuda with \(worldSize) ranks needs the NCCL backend, and \(why); "
                + "use train.device=cpu (Gloo)")
        }
        return .nccl
    }

    /// Connects to the store (hosting it on rank 0 unless the launcher does) and joins the group of `device`'s
    /// backend (`backend(for:)`, checked before anything connects). `timeout` bounds the wait for the other
    /// ranks and every collective afterwards.
    public func join(timeout: Double, device: ComputeDevice = .cpu) throws -> ProcessGroup {
        let hosts = rank == 0 && !launcherHostsStore
        let backend = try backend(for: device)
        do {
            let store = try TCPStore(host: masterAddress, port: masterPort, isMaster: hosts, worldSize: worldSize,
                                     prefix: storePrefix, timeout: timeout)
            return backend == .nccl
                ? try ProcessGroup.nccl(store: store, rank: rank, worldSize: worldSize, timeout: timeout)
                : try ProcessGroup.gloo(store: store, rank: rank, worldSize: worldSize, timeout: timeout)
        } catch let error as TorchError {
            throw ConfigError("rank \(rank) of \(worldSize) could not join the process group at \(masterAddress):\(masterPort) "
                + "within \(Int(timeout)) s: \(error.message.split(separator: "\n").first ?? "")")
        }
    }
}
