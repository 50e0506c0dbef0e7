import Foundation
import Testing
import Torch
@testable import BrainData

/// `embed --voxels --coords` inputs, written in the test with our .npy writer.
@Suite struct RawVoxelsTests {
    func load(voxels: Tensor, coordinates: Tensor) throws -> (String?, URL, URL) {
        let dir = try temporaryFolder("raw")
        defer { try? FileManager.default.removeItem(at: dir) }
        let v = dir.appendingPathComponent("voxels.npy"), c = dir.appendingPathComponent("coords.npy")
        try Npy.write(voxels, to: v)
        try Npy.write(coordinates, to: c)
        return (dataErrorMessage { _ = try RawVoxels.load(voxels: v, coordinates: c) }, v, c)
    }

    let coords3 = Tensor([0, 0, 1, 0, 1, 0, 2, 2, 2] as [Int64], shape: [3, 3])

    @Test func goodInputsComeBackAsFloat32() throws {
        let dir = try temporaryFolder("raw")
        defer { try? FileManager.default.removeItem(at: dir) }
        let v = dir.appendingPathComponent("voxels.npy"), c = dir.appendingPathComponent("coords.npy")
        try Npy.write(Tensor([1, 2, 3, 4, 5, 6] as [Double], shape: [2, 3]), to: v)
        try Npy.write(coords3, to: c)
        let raw = try RawVoxels.load(voxels: v, coordinates: c)
        #expect(raw.voxels.shape == [2, 1, 3] && raw.voxels.dtype == .float32)
        #expect(raw.voxels.toArray(Float.self) == [1, 2, 3, 4, 5, 6])
        #expect(raw.coordinates.toArray(Float.self) == [0, 0, 1, 0, 1, 0, 2, 2, 2])
    }

    /// Zero rows or a 1-D array used to reach the model and abort inside libtorch (SIGILL).
    @Test func emptyAndOneDimensionalVoxelsAreErrors() throws {
        var (message, v, _) = try load(voxels: Tensor.zeros([0, 3]), coordinates: coords3)
        #expect(message == "\(v.path): shape [0, 1, 3]; expected (B, 1, V) or (B, V) with at least one trial and one voxel")
        (message, v, _) = try load(voxels: Tensor.zeros([3]), coordinates: coords3)
        #expect(message == "\(v.path): shape [3]; expected (B, 1, V) or (B, V) with at least one trial and one voxel")
        (message, v, _) = try load(voxels: Tensor.zeros([2, 0]), coordinates: Tensor.zeros([0, 3]))
        #expect(message == "\(v.path): shape [2, 1, 0]; expected (B, 1, V) or (B, V) with at least one trial and one voxel")
    }

    @Test func coordinatesMustMatchTheVoxels() throws {
        var (message, _, c) = try load(voxels: Tensor.zeros([2, 4]), coordinates: coords3)
        #expect(message == "\(c.path): shape [3, 3]; expected (4, 3), one (i, j, k) per voxel of voxels.npy")
        (message, _, c) = try load(voxels: Tensor.zeros([2, 3]), coordinates: Tensor.zeros([9]))
        #expect(message == "\(c.path): shape [9]; expected (3, 3), one (i, j, k) per voxel of voxels.npy")
    }

    @Test func nonFiniteInputsAreErrors() throws {
        var (message, v, c) = try load(voxels: Tensor([1, .nan, 3, .infinity, 5, 6] as [Float], shape: [2, 3]),
                                       coordinates: coords3)
        #expect(message == "\(v.path): 2 NaN or inf values; expected finite numbers")
        (message, v, c) = try load(voxels: Tensor.zeros([2, 3]), coordinates: Tensor([0, 0, .nan, 0, 1, 0, 2, 2, 2] as [Float], shape: [3, 3]))
        #expect(message == "\(c.path): 1 NaN or inf values; expected finite numbers")
    }

    /// `np.save('coords.npy', np.argwhere(mask))` writes Fortran order (fixture from the Torch tests).
    @Test func argwhereCoordinatesAreAccepted() throws {
        let argwhere = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("TorchTests/Fixtures/serialization/argwhere.npy")
        let dir = try temporaryFolder("raw")
        defer { try? FileManager.default.removeItem(at: dir) }
        let v = dir.appendingPathComponent("voxels.npy")
        try Npy.write(Tensor.zeros([1, 4]), to: v)
        let raw = try RawVoxels.load(voxels: v, coordinates: argwhere)
        #expect(raw.coordinates.toArray(Float.self) == [0, 1, 2, 1, 0, 4, 2, 3, 0, 2, 3, 1])
    }
}
