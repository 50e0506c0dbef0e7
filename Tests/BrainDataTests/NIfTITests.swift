import Foundation
import Testing
import Torch
@testable import BrainData

@Suite struct NIfTITests {
    @Test(arguments: ["mask_5x6x7.nii.gz", "mask_4x3x5_nifti2.nii"])
    func matchesNibabel(name: String) throws {
        let expected = try fixtureJSON("nifti/nifti.json")[name] as! [String: Any]
        let image = try NIfTIImage(fixture("nifti/" + name))
        #expect(image.shape == ints(expected["shape"]))
        #expect(image.data.shape == ints(expected["shape"]))
        #expect(image.data.toArray(Double.self) == doubles(expected["values"]))
        #expect(zip(image.affine.flatMap { $0 }, doubles(expected["affine"])).allSatisfy { abs($0 - $1) < 1e-6 })
        let coords = image.maskCoordinates(equalTo: 1)
        #expect(coords.dtype == .int64)
        #expect(coords.shape == [expected["count"] as! Int, 3])
        #expect(coords.toArray(Int64.self).map(Int.init) == ints(expected["coords"]))
        #expect(image.count(equalTo: 1) == expected["count"] as! Int)
        let mm = image.millimetres(coords)
        #expect(mm.dtype == .float32)
        let want = doubles(expected["mm"])
        #expect(zip(mm.toArray(Double.self), want).allSatisfy { abs($0 - $1) < 1e-4 })
    }

    @Test func readsVersionAndDatatype() throws {
        let one = try NIfTIImage(fixture("nifti/mask_5x6x7.nii.gz"))
        #expect(one.version == 1)
        #expect(one.datatypeCode == 4)
        #expect(one.data.dtype == .int16)
        let two = try NIfTIImage(fixture("nifti/mask_4x3x5_nifti2.nii"))
        #expect(two.version == 2)
        #expect(two.datatypeCode == 16)
        #expect(two.data.dtype == .float32)
    }

    @Test func missingAndCorruptFilesAreDataErrors() {
        let missing = fixture("nifti/nope.nii.gz")
        #expect(dataErrorMessage { _ = try NIfTIImage(missing) } == "\(missing.path): no such file (expected a NIfTI image)")
        let corrupt = fixture("hdf5/not_hdf5.hdf5")
        #expect(dataErrorMessage { _ = try NIfTIImage(corrupt) }
            == "\(corrupt.path): not a readable NIfTI-1 or NIfTI-2 image (missing, truncated or corrupt)")
    }
}
