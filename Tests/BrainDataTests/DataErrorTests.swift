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
            == ["\(betas.path): is a FIFO (named pipe), not a regular file (expected an HDF5 file)"])
    }
}
