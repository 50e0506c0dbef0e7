import Testing
import Torch

/// `HostMemory.keepFreedMemory()`: large tensors come from glibc's heap and their memory stays there when
/// they are freed, instead of a mapping of their own that is unmapped on free (glibc's default above 32 MiB).
@Suite(.serialized) struct HostMemoryTests {
    @Test func systemLeavesGlibcsDefaults() {
        #expect(HostMemory.keepFreedMemory(environment: ["VOXELFORMER_MALLOC": "system"]) == false)
    }

    /// 48 MiB: above glibc's largest mmap threshold (32 MiB), so by default a mapping of its own, and below the
    /// 64 MiB of a heap that a thread other than the main one gets (tests run on such threads; there glibc
    /// maps anything larger whatever the setting, while the main thread's heap has no such bound).
    @Test func largeTensorsComeFromTheHeapAndStayThereWhenFreed() throws {
        #expect(HostMemory.keepFreedMemory(environment: [:]))
        let bytes = 48 << 20
        let before = try #require(HostMemory.usage)
        var tensor: Tensor? = Tensor.ones([bytes / 4])  // written, so its pages are resident
        let during = try #require(HostMemory.usage)
        #expect(tensor?.count == bytes / 4)
        #expect(during.mapped - before.mapped < bytes / 2, "the tensor got a mapping of its own: \(before) -> \(during)")
        // In use, not the heaps' size: a heap may already hold free space that the tensor takes.
        #expect(during.inUse - before.inUse >= bytes, "the heap did not serve the tensor: \(before) -> \(during)")
        tensor = nil
        let after = try #require(HostMemory.usage)
        #expect(after.arena >= during.arena, "the heap shrank when the tensor was freed: \(during) -> \(after)")
    }
}
