import Foundation
import Testing
import Torch
@testable import BrainData

/// `Fixtures/nsd_bad` holds one fault per subject: 1 NaN/inf betas, 2 a column-count mismatch, 3 a
/// training sample pointing past the last betas row.
@Suite struct BetasValidationTests {
    let root = fixture("nsd_bad")

    @Test func nonFiniteBetasAreRefusedNamingTheirRows() throws {
        let ds = try NSDDataset(root: root)
        #expect(dataErrorMessage { _ = try ds.subject(1) }
            == "\(root.path)/betas_all_subj01_fp32_renorm.hdf5: dataset 'betas' has 1 NaN and 2 inf values in 3 rows: "
            + "1, 3, 4; expected finite betas (set data.nan_policy=zero to replace them by 0)")
    }

    @Test func nonFiniteBetasCanBeReplacedByZeroAndAreCounted() throws {
        let ds = try NSDDataset(root: root, options: NSDOptions(nanPolicy: .zero))
        let subject = try ds.subject(1)
        let v = subject.betas.size(1)
        var expected = (0..<6).flatMap { r in (0..<v).map { Float(r * 1000 + $0) } }
        for (r, c) in [(1, 2), (3, 0), (4, 5)] { expected[r * v + c] = 0 }
        #expect(subject.betas.toArray(Float.self) == expected)
        #expect(subject.replacedNonFinite == 3)
        #expect(try NSDDataset(root: fixture("nsd"), options: NSDOptions(nanPolicy: .zero)).subject(1).replacedNonFinite == 0)
    }

    /// The generator put NaN at (1, 2), inf at (3, 0) and -inf at (4, 5).
    @Test func nonFiniteScanCountsNaNAndInfByRow() throws {
        let betas = try HDF5File(root.appendingPathComponent("betas_all_subj01_fp32_renorm.hdf5")).dataset("betas")
        #expect(try BetasValidation.nonFinite(betas) == BetasValidation.NonFinite(nan: 1, inf: 2, rows: [1, 3, 4]))
        let clean = try HDF5File(fixture("nsd/betas_all_subj01_fp32_renorm.hdf5")).dataset("betas")
        #expect(try BetasValidation.nonFinite(clean) == BetasValidation.NonFinite())
    }

    /// Rows across several read blocks (1024 rows each), and more bad rows than a message lists.
    @Test func nonFiniteRowsAcrossBlocks() throws {
        let dir = try temporaryFolder("betas")
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("betas.hdf5")
        let rows = 2 * BetasValidation.blockRows + 10
        var values = [Float](repeating: 1, count: rows * 2)
        let bad = [3, 1023, 1024, 1500, 2047, 2048, 2050, 2051, 2052, 2053, 2054, 2055]  // 12 rows
        for (n, r) in bad.enumerated() { values[r * 2 + n % 2] = n % 3 == 0 ? .nan : -.infinity }
        let writer = try HDF5Writer(creating: url)
        try writer.write("betas", Tensor(values, shape: [rows, 2]))
        try writer.close()
        let betas = try HDF5File(url).dataset("betas")
        let found = try BetasValidation.nonFinite(betas)
        #expect(found == BetasValidation.NonFinite(nan: 4, inf: 8, rows: bad))
        #expect(found.summary == "4 NaN and 8 inf values in 12 rows: 3, 1023, 1024, 1500, 2047, 2048, 2050, 2051, "
            + "2052, 2053 and 2 more")
        #expect(dataErrorMessage { _ = try BetasValidation.load(betas) }
            == "\(url.path): dataset 'betas' has \(found.summary); expected finite betas (set data.nan_policy=zero "
            + "to replace them by 0)")
        let (loaded, replaced) = try BetasValidation.load(betas, dtype: .bfloat16, nanPolicy: .zero)
        #expect(replaced == 12)
        #expect(loaded.dtype == .bfloat16 && loaded.shape == [rows, 2])
        #expect(loaded.to(.float32).sum().item() == Double(rows * 2 - 12))
    }

    /// `data check` reports them per subject, with their rows (it used to report no problem).
    @Test func dataCheckReportsNonFiniteBetas() throws {
        let check = DataRootCheck(root: root)
        #expect(check.subjects.first?.nonFinite == BetasValidation.NonFinite(nan: 1, inf: 2, rows: [1, 3, 4]))
        #expect(check.problems.contains("\(root.path)/betas_all_subj01_fp32_renorm.hdf5: dataset 'betas' has 1 NaN and "
            + "2 inf values in 3 rows: 1, 3, 4"))
        #expect(check.report.contains("non-finite"))
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
