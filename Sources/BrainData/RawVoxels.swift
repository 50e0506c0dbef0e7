import Foundation
import Torch

/// Brain data given as arrays instead of a data root (`voxelformer embed --voxels --coords`): checked
/// here, where it is loaded, so an empty, 1-D, mismatched or non-finite array is an error naming the file
/// instead of a failure inside libtorch.
public enum RawVoxels {
    /// `voxels` (B, 1, V) or (B, V) and `coordinates` (V, 3) from .npy files (any NumPy layout `Npy`
    /// reads, so `np.save('coords.npy', np.argwhere(mask))` works), as float32 (B, 1, V) and (V, 3).
    public static func load(voxels: URL, coordinates: URL) throws -> (voxels: Tensor, coordinates: Tensor) {
        var v = try read(voxels)
        let c = try read(coordinates)
        if v.ndim == 2 { v = v.unsqueeze(1) }
        guard v.ndim == 3, v.size(1) == 1, v.size(0) >= 1, v.size(2) >= 1 else {
            throw DataError("\(voxels.path): shape \(v.shape); expected (B, 1, V) or (B, V) with at least one trial "
                + "and one voxel")
        }
        guard c.ndim == 2, c.size(1) == 3, c.size(0) == v.size(2) else {
            throw DataError("\(coordinates.path): shape \(c.shape); expected (\(v.size(2)), 3), one (i, j, k) per "
                + "voxel of \(voxels.lastPathComponent)")
        }
        for (url, t) in [(voxels, v), (coordinates, c)] where t.dtype.isFloatingPoint {
            let bad = t.isfinite().logicalNot().sum().itemInt()
            if bad > 0 { throw DataError("\(url.path): \(bad) NaN or inf values; expected finite numbers") }
        }
        return (v.to(.float32), c.to(.float32))
    }

    private static func read(_ url: URL) throws -> Tensor {
        let t: Tensor
        do { t = try Npy.read(url) } catch { throw DataError("\(error)") }
        guard t.dtype != .bool else { throw DataError("\(url.path): dtype bool; expected numbers") }
        return t
    }
}
