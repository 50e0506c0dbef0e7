import Foundation
import Testing
import Torch
@testable import BrainData

/// Where a file is expected, a FIFO or a folder is refused before it is opened (opening a FIFO for
/// reading blocks until a writer appears: `train` used to hang forever on a FIFO given as betas).
@Suite struct RegularFileTests {
    @Test func everyReaderRefusesAFIFO() throws {
        let dir = try temporaryFolder("fifo")
        defer { try? FileManager.default.removeItem(at: dir) }
        let fifo = dir.appendingPathComponent("pipe")
        #expect(mkfifo(fifo.path, 0o600) == 0)
        let path = fifo.path
        #expect(dataErrorMessage { _ = try HDF5File(fifo) }
            == "\(path): is a FIFO (named pipe), not a regular file (expected an HDF5 file)")
        #expect(dataErrorMessage { _ = try NIfTIImage(fifo) }
            == "\(path): is a FIFO (named pipe), not a regular file (expected a NIfTI image)")
        #expect(dataErrorMessage { _ = try TarReader(fifo) }
            == "\(path): is a FIFO (named pipe), not a regular file (expected a tar shard)")
        #expect(dataErrorMessage { _ = try Npy.read(fifo) } == "\(path): is a FIFO (named pipe), not a regular file")
        #expect(dataErrorMessage { _ = try Safetensors.read(fifo) } == "\(path): is a FIFO (named pipe), not a regular file")
    }

    @Test func aFolderIsNotAFile() throws {
        let dir = try temporaryFolder("folder")
        defer { try? FileManager.default.removeItem(at: dir) }
        #expect(dataErrorMessage { _ = try HDF5File(dir) }
            == "\(dir.path): is a folder, not a regular file (expected an HDF5 file)")
        #expect(dataErrorMessage { _ = try TarReader(dir) }
            == "\(dir.path): is a folder, not a regular file (expected a tar shard)")
    }

    /// A FIFO in place of a subject's betas file stops loading with the subject's file named.
    @Test func aFIFOAsBetasIsAnErrorNotAHang() throws {
        let root = try temporaryCopy(of: "nsd")
        defer { try? FileManager.default.removeItem(at: root.deletingLastPathComponent()) }
        let betas = root.appendingPathComponent("betas_all_subj02_fp32_renorm.hdf5")
        try FileManager.default.removeItem(at: betas)
        #expect(mkfifo(betas.path, 0o600) == 0)
        #expect(dataErrorMessage { _ = try NSDDataset(root: root).subject(2) }
            == "\(betas.path): is a FIFO (named pipe), not a regular file (expected an HDF5 file)")
        #expect(DataRootCheck(root: root).problems
            == [noIndices(root), "\(betas.path): is a FIFO (named pipe), not a regular file (expected an HDF5 file)"])
    }
}

/// What `data check` says of the fixture roots, which have no `COCO_73k_subj_indices.hdf5`.
func noIndices(_ root: URL) -> String {
    "\(root.path)/COCO_73k_subj_indices.hdf5: no such file; expected datasets subj01, subj02, ... (the image id of each "
        + "trial), which the shards are checked against"
}

/// Roots that used to load or check without a word while training on less (or wrong) data (issue 9).
@Suite struct SilentDataLossTests {
    func copy() throws -> (root: URL, layout: NSDLayout) {
        let root = try temporaryCopy(of: "nsd")
        return (root, NSDLayout(root: root))
    }

    @Test func anEmptyShardIsALostSessionNotAnEmptyOne() throws {
        let (root, layout) = try copy()
        defer { try? FileManager.default.removeItem(at: root.deletingLastPathComponent()) }
        let shard = layout.trainFolder(1).appendingPathComponent("1.tar")
        try Data().write(to: shard)
        #expect(dataErrorMessage { _ = try NSDDataset(root: root).trainTrials(1) }
            == "\(shard.path): an empty file; expected webdataset samples (sample<digits>.behav.npy, ...)")
        try writeShard(shard, [])
        #expect(dataErrorMessage { _ = try NSDDataset(root: root).subject(1) }
            == "\(shard.path): a tar archive with no members; expected webdataset samples (sample<digits>.behav.npy, ...)")
        try writeShard(layout.oldTest(2), [])
        #expect(DataRootCheck(root: root).problems.contains(
            "\(layout.oldTest(2).path): a tar archive with no members; expected webdataset samples (sample<digits>.behav.npy, ...)"))
    }

    @Test func aMissingSessionShardIsAGap() throws {
        let (root, layout) = try copy()
        defer { try? FileManager.default.removeItem(at: root.deletingLastPathComponent()) }
        let first = layout.trainFolder(1).appendingPathComponent("0.tar")
        try FileManager.default.removeItem(at: first)
        #expect(dataErrorMessage { _ = try NSDDataset(root: root).trainTrials(1) }
            == "\(first.path): no such file, but \(layout.trainFolder(1).path) holds 1.tar; expected the sessions' "
            + "shards 0.tar to 1.tar without gaps")
    }

    /// NSD's raw int16 betas are scaled by 300: integer betas are refused, not trained on.
    @Test func integerBetasAreRefused() throws {
        let (root, layout) = try copy()
        defer { try? FileManager.default.removeItem(at: root.deletingLastPathComponent()) }
        let betas = try HDF5File(layout.betas(2)).dataset("betas").read()
        let writer = try HDF5Writer(creating: layout.betas(2))
        try writer.write("betas", betas, dtype: .int64)
        try writer.close()
        let message = "\(layout.betas(2).path): dataset 'betas' holds int64 values; expected float32 betas (MindEye2's "
            + "fp32_renorm release; float16 or float64 are read too)"
        #expect(dataErrorMessage { _ = try NSDDataset(root: root).subject(2) } == message)
        #expect(DataRootCheck(root: root).problems.contains(message))
    }

    @Test func dataCheckReportsMissingFilesAndBadTargets() throws {
        let (root, layout) = try copy()
        defer { try? FileManager.default.removeItem(at: root.deletingLastPathComponent()) }
        try FileManager.default.removeItem(at: layout.betas(2))
        // the file is closed (the dataset released) before it is rewritten
        let (shape, dtype, read) = try { () throws -> ([Int], DType, Tensor) in
            let targets = try HDF5File(layout.targetsHDF5).dataset("targets")
            return (targets.shape, targets.dtype, try targets.read())
        }()
        let image = try NSDDataset(root: root).trainTrials(1)[0].image
        var values = read.to(.float32)
        let flat = values.reshape(-1)
        flat[image * shape[1] * shape[2] + 1] = Tensor(scalar: .nan)
        values = flat.reshape(shape)
        let writer = try HDF5Writer(creating: layout.targetsHDF5)
        try writer.write("targets", values, dtype: dtype)
        try writer.close()
        let check = DataRootCheck(root: root, targetShape: ([shape[1], shape[2] + 1], "width of the test"))
        #expect(check.problems == [
            "\(layout.betas(2).path): no such file, but the root holds shards or a mask of subj02; expected its betas "
                + "(trials, voxels)",
            "\(layout.targetsHDF5.path): 'targets' has shape \(shape); expected (images, \(shape[1]), \(shape[2] + 1)), "
                + "the width of the test",
            "\(layout.subjectIndices.path): no such file; expected datasets subj01, subj02, ... (the image id of each "
                + "trial), which the shards are checked against",
            "\(layout.targetsHDF5.path): 'targets' has 1 NaN and 0 inf values in 1 row: \(image) (rows are image ids); "
                + "expected finite CLIP targets",
        ])
        #expect(check.targetsNonFinite.rows == [image])
    }
}
