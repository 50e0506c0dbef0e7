import CTorch
import Foundation

/// How the process's host (CPU) memory is allocated.
///
/// glibc maps each block above its mmap threshold (32 MiB at most) on its own and unmaps it when freed, so
/// every large tensor of every training step faults and zeroes its pages afresh: at the prior's sizes
/// (attention scores of 135 MB, feed-forward activations of 109 MB) that is a third of the step.
/// `keepFreedMemory()` serves large blocks from the heap and keeps freed memory in the process for the
/// next step, as PyTorch's caching allocator does for GPU memory. The process's resident size then stays
/// at its peak until it exits, and its peak can be higher: the heap's free holes serve only blocks that fit.
/// Training calls it before the first step unless `train.activation_checkpointing` (the setting that
/// puts memory first) is on; `VOXELFORMER_MALLOC=system` leaves glibc's defaults. It applies to the main
/// thread's heap, where the training step allocates: glibc gives other threads heaps of at most 64 MiB and
/// still maps anything larger on its own there.
public enum HostMemory {
    /// The environment variable whose value `system` keeps glibc's defaults.
    public static let variable = "VOXELFORMER_MALLOC"

    /// Applies the setting unless the environment says `VOXELFORMER_MALLOC=system`. Returns whether it
    /// applied (never on a C library other than glibc). Call it before the first large allocation.
    @discardableResult
    public static func keepFreedMemory(environment: [String: String] = ProcessInfo.processInfo.environment) -> Bool {
        if environment[variable] == "system" { return false }
        return ct_keep_freed_memory() == 1
    }

    /// Bytes glibc holds in its heaps (`arena`), the part of them in use (`inUse`), and bytes in separately
    /// mapped blocks (`mapped`); nil on another C library.
    public static var usage: (arena: Int, inUse: Int, mapped: Int)? {
        var arena: Int64 = 0, inUse: Int64 = 0, mapped: Int64 = 0
        guard ct_malloc_info(&arena, &inUse, &mapped) == 1 else { return nil }
        return (Int(arena), Int(inUse), Int(mapped))
    }
}
