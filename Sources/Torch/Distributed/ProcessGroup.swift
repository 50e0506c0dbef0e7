import CTorch
import Foundation

/// torch.distributed's key-value store over TCP (c10d's `TCPStore`): rank 0 (or the launcher) hosts it,
/// every rank connects; the process group finds its peers through it. Every failure throws `TorchError`
/// with c10d's message.
public final class TCPStore: @unchecked Sendable {
    let handle: ct_store
    public let host: String
    /// The port it listens on (the one picked when created with port 0).
    public let port: Int
    /// Prepended to every key (torch's `PrefixStore`), so a launcher's store can be shared.
    public let prefix: String

    /// - Parameters:
    ///   - isMaster: listen on `port` (0: a free one) instead of connecting to `host:port`.
    ///   - timeout: seconds to wait for the master (workers) or for a key.
    public init(host: String, port: Int, isMaster: Bool, worldSize: Int, prefix: String = "", timeout: Double) throws {
        var out: ct_store?
        guard ct_tcp_store_create(host, Int32(port), isMaster ? 1 : 0, Int32(worldSize), prefix,
                                  Int64(timeout * 1000), &out) == 0, let out else {
            throw TorchError(String(cString: ct_last_error()))
        }
        handle = out
        var p: Int32 = 0
        _ = ct_store_port(out, &p)
        (self.host, self.port, self.prefix) = (host, Int(p), prefix)
    }
    deinit { ct_store_free(handle) }

    public func set(_ key: String, _ value: [UInt8]) throws {
        try call(ct_store_set(handle, key, value, value.count))
    }
    /// Waits up to the store's timeout for `key`.
    public func get(_ key: String) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var length = 0
        try call(ct_store_get(handle, key, &buffer, buffer.count, &length))
        if length > buffer.count {
            buffer = [UInt8](repeating: 0, count: length)
            try call(ct_store_get(handle, key, &buffer, buffer.count, &length))
        }
        return Array(buffer.prefix(length))
    }
    /// Adds `delta` to the integer at `key` (created at 0) and returns the sum; `add(key, 0)` reads it.
    @discardableResult
    public func add(_ key: String, _ delta: Int) throws -> Int {
        var out: Int64 = 0
        try call(ct_store_add(handle, key, Int64(delta), &out))
        return Int(out)
    }
}

/// A thread that adds 1 to the store's `heartbeat/<rank>` every `interval` seconds, on its own connection;
/// `ProcessGroup.lostRanks` reads the counters to name ranks that stopped. Stops when released.
public final class Heartbeat: @unchecked Sendable {
    let handle: ct_heartbeat
    public init(store: TCPStore, rank: Int, interval: Double) throws {
        var out: ct_heartbeat?
        guard ct_heartbeat_start(store.host, Int32(store.port), store.prefix, Int32(rank), Int64(interval * 1000), &out) == 0,
              let out else { throw TorchError(String(cString: ct_last_error())) }
        handle = out
    }
    deinit { ct_heartbeat_stop(handle) }
}

/// A c10d process group (Gloo on CPU, NCCL on CUDA): the collectives of torch.distributed, each waited for. A lost peer
/// or the timeout throws `TorchError` with c10d's message; nothing aborts the process.
public final class ProcessGroup: @unchecked Sendable {
    /// c10d's backends: Gloo (CPU tensors) and NCCL (CUDA tensors).
    public enum Backend: String, Sendable {
        case gloo = "Gloo", nccl = "NCCL"
    }

    let handle: ct_process_group
    public let backend: Backend
    public let rank: Int
    public let worldSize: Int
    public let store: TCPStore
    /// Seconds a collective may wait for its peers.
    public let timeout: Double

    /// Joins the Gloo group of `worldSize` ranks that meet in `store` (as `init_process_group("gloo")`).
    public static func gloo(store: TCPStore, rank: Int, worldSize: Int, timeout: Double) throws -> ProcessGroup {
        var out: ct_process_group?
        guard ct_pg_gloo_create(store.handle, Int32(rank), Int32(worldSize), Int64(timeout * 1000), &out) == 0, let out else {
            throw TorchError(String(cString: ct_last_error()))
        }
        return ProcessGroup(handle: out, backend: .gloo, rank: rank, worldSize: worldSize, store: store, timeout: timeout)
    }

    /// Whether this build has c10d's NCCL backend (a CUDA libtorch with NCCL's headers when it was compiled).
    public static var ncclAvailable: Bool { ct_pg_nccl_available() != 0 }

    /// Joins the NCCL group of `worldSize` ranks that meet in `store` (as `init_process_group("nccl")`); its
    /// collectives take CUDA tensors. Throws when this build has no NCCL backend (`ncclAvailable`).
    public static func nccl(store: TCPStore, rank: Int, worldSize: Int, timeout: Double) throws -> ProcessGroup {
        var out: ct_process_group?
        guard ct_pg_nccl_create(store.handle, Int32(rank), Int32(worldSize), Int64(timeout * 1000), &out) == 0, let out else {
            throw TorchError(String(cString: ct_last_error()))
        }
        return ProcessGroup(handle: out, backend: .nccl, rank: rank, worldSize: worldSize, store: store, timeout: timeout)
    }

    init(handle: ct_process_group, backend: Backend, rank: Int, worldSize: Int, store: TCPStore, timeout: Double) {
        (self.handle, self.backend, self.rank, self.worldSize, self.store, self.timeout) = (handle, backend, rank, worldSize, store, timeout)
    }
    deinit { ct_pg_free(handle) }

    /// Sums each tensor over the ranks, in place (`all_reduce(op=SUM)`); each must be contiguous.
    public func allReduceSum(_ tensors: [Tensor]) throws {
        let hs = tensors.map { Optional($0.handle) }
        try call(hs.withUnsafeBufferPointer { ct_pg_allreduce_sum(handle, UnsafeMutablePointer(mutating: $0.baseAddress), Int32(hs.count)) })
    }

    /// Every rank's `tensor` (same shape on every rank), concatenated along dim 0 in rank order:
    /// (worldSize * d0, ...). No gradient flows through it.
    public func allGather(_ tensor: Tensor) throws -> Tensor {
        var out: ct_tensor?
        try call(ct_pg_allgather(handle, tensor.handle, &out))
        return Tensor(handle: out!)
    }

    /// Overwrites `tensor` on every rank with `root`'s, in place.
    public func broadcast(_ tensor: Tensor, root: Int) throws {
        try call(ct_pg_broadcast(handle, tensor.handle, Int32(root)))
    }

    /// Returns once every rank has reached it; `timeout` (seconds) overrides the group's for this call.
    public func barrier(timeout: Double? = nil) throws {
        try call(ct_pg_barrier(handle, Int64((timeout ?? 0) * 1000)))
    }

    /// The ranks whose `Heartbeat` counter did not move within `window` seconds, read from the store; every
    /// rank when the store itself is gone (its host, rank 0 or the launcher, then is what was lost).
    public func lostRanks(window: Double) -> [Int]? {
        func read() -> [Int]? { try? (0..<worldSize).map { try store.add("heartbeat/\($0)", 0) } }
        guard let before = read() else { return nil }
        Thread.sleep(forTimeInterval: window)
        guard let after = read() else { return nil }
        return (0..<worldSize).filter { $0 != rank && after[$0] == before[$0] }
    }
}

private func call(_ status: Int32) throws {
    if status != 0 { throw TorchError(String(cString: ct_last_error())) }
}
