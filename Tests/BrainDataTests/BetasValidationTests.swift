import Foundation
import Testing
import Torch
@testable import BrainData

/// `Fixtures/nsd_bad` holds one fault per subject: 1 NaN/inf betas, 2 a column-count mismatch, 3 a
/// training sample pointing past the last betas row.
@Suite struct BetasValidationTests {
    let root = fixture("nsd_bad")

    @Test func nonFiniteBetasReportCountAndPositions() throws {
        let ds = try NSDDataset(root: root)
        #expect(dataErrorMessage { _ = try ds.subject(1) }
            == "\(root.path)/betas_all_subj01_fp32_renorm.hdf5: dataset 'betas' has 3 non-finite values (NaN or inf), "
            + "first at (row, column) (1, 2), (3, 0), (4, 5); set replaceNonFinite to replace them by 0")
    }

    @Test func nonFiniteBetasCanBeReplacedByZero() throws {
        let ds = try NSDDataset(root: root, options: NSDOptions(replaceNonFinite: true))
        let betas = try ds.subject(1).betas
        let v = betas.size(1)
        var expected = (0..<6).flatMap { r in (0..<v).map { Float(r * 1000 + $0) } }
        for (r, c) in [(1, 2), (3, 0), (4, 5)] { expected[r * v + c] = 0 }
        #expect(betas.toArray(Float.self) == expected)
    }

    @Test func maskVoxelCountMustMatchBetasColumns() throws {
        let ds = try NSDDataset(root: root)
        let voxels = (try fixtureJSON("nsd.json")["subj02"] as! [String: Any])["voxels"] as! Int
        #expect(dataErrorMessage { _ = try ds.subject(2) }
            == "\(root.path)/nsddata/ppdata/subj02/func1pt8mm/roi/nsdgeneral.nii.gz: the mask has \(voxels) voxels "
            + "equal to 1 but \(root.path)/betas_all_subj02_fp32_renorm.hdf5 dataset 'betas' has \(voxels + 1) "
            + "columns; expected one column per mask voxel")
    }

    @Test func betasRowOutOfRangeNamesTheShardAndSample() throws {
        let ds = try NSDDataset(root: root)
        #expect(dataErrorMessage { _ = try ds.subject(3) }
            == "\(root.path)/wds/subj03/train/0.tar: sample 'sample000000001' refers to betas row 6, but "
            + "\(root.path)/betas_all_subj03_fp32_renorm.hdf5 dataset 'betas' has 6 rows")
    }

    @Test func wrongBetasKeyListsTheKeysPresent() throws {
        let file = try HDF5File(fixture("nsd/clip_targets.hdf5"))
        #expect(dataErrorMessage { _ = try file.dataset("betas") }
            == "\(fixture("nsd/clip_targets.hdf5").path): no dataset 'betas' (keys present: targets)")
    }
}
