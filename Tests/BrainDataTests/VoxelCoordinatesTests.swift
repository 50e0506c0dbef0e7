import Foundation
import Testing
import Torch
@testable import BrainData

@Suite struct VoxelCoordinatesTests {
    /// A 4 x 3 x 5 mask with three voxels and a known sform; the expected values are computed by hand.
    @Test func rawNormalizedAndMillimetresMatchAHandComputation() throws {
        let volume = Tensor.zeros([4, 3, 5], dtype: .int16)
        for (i, j, k) in [(3, 2, 4), (0, 0, 0), (1, 2, 0)] { volume[i, j, k] = Tensor(scalar: 1, dtype: .int16) }
        let affine: [[Double]] = [[2, 0, 0, -10], [0, 3, 0, 5], [0, 0, -1.5, 7]]
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mask-\(UUID().uuidString).nii.gz")
        defer { try? FileManager.default.removeItem(at: url) }
        try NIfTIWriter.write(volume, to: url, affine: affine)

        let mask = try NIfTIImage(url)
        let raw = mask.maskCoordinates(equalTo: 1)
        // np.argwhere order (k fastest)
        #expect(raw.toArray(Int64.self) == [0, 0, 0, 1, 2, 0, 3, 2, 4])
        // 2·i / (n - 1) - 1 with n - 1 = 3, 2, 4
        let normalized = mask.normalized(raw)
        #expect(normalized.dtype == .float32)
        let wantNormalized: [Double] = [-1, -1, -1, -1.0 / 3, 1, -1, 1, 1, 1]
        #expect(zip(normalized.toArray(Double.self), wantNormalized).allSatisfy { abs($0 - $1) < 1e-6 })
        // x = 2i - 10, y = 3j + 5, z = -1.5k + 7
        let mm = mask.millimetres(raw)
        #expect(mm.toArray(Double.self) == [-10, 5, 7, -8, 11, 7, -4, 11, 1])
    }

    @Test func anAxisOfLengthOneNormalizesToZero() throws {
        let volume = Tensor.ones([3, 1, 2], dtype: .int16)
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("mask-\(UUID().uuidString).nii")
        defer { try? FileManager.default.removeItem(at: url) }
        try NIfTIWriter.write(volume, to: url)
        let mask = try NIfTIImage(url)
        let normalized = mask.normalized(mask.maskCoordinates(equalTo: 1))
        #expect(normalized.toArray(Double.self) == [-1, 0, -1, -1, 0, 1, 0, 0, -1, 0, 0, 1, 1, 0, -1, 1, 0, 1])
    }
}
