import CNIfTI
import Foundation
import Torch

/// A NIfTI-1 or NIfTI-2 volume (`.nii` or `.nii.gz`) read through libnifti2.
///
/// NIfTI stores voxels in Fortran order (i fastest). `data` is indexed `[i, j, k]` like nibabel's
/// `img.get_fdata()`, so its row-major order has k fastest, as `np.argwhere` walks it.
public struct NIfTIImage: @unchecked Sendable {
    public let url: URL
    /// The grid size per axis (`dim[1...ndim]`), e.g. `[81, 104, 83]`.
    public let shape: [Int]
    /// NIfTI's `datatype` code (2 uint8, 4 int16, 8 int32, 16 float32, 64 float64, 256 int8, 512 uint16, ...).
    public let datatypeCode: Int
    /// 1 for NIfTI-1, 2 for NIfTI-2.
    public let version: Int
    /// Voxel (i, j, k, 1) to millimetres: the sform when `sform_code > 0`, else the qform (as nibabel).
    public let affine: [[Double]]
    /// The voxels indexed `[i, j, k, ...]`, with `scl_slope`/`scl_inter` applied when the header sets them
    /// (then float64, else the stored dtype; uint16 widens to int32 and uint32 to int64).
    public let data: Tensor

    private static let lock = NSLock()

    public init(_ url: URL) throws {
        self.url = url
        try DataError.checkRegularFile(url, expected: "a NIfTI image")
        var headerVersion: Int32 = 0
        let image: UnsafeMutablePointer<nifti_image>? = NIfTIImage.lock.withLock {
            nifti_set_debug_level(0)
            // nifti_type does not tell NIfTI-2 apart (libnifti2 reports 1), so ask the header reader.
            guard let header = nifti_read_header(url.path, &headerVersion, 1) else { return nil }
            defer { free(header) }
            // The reader only warns about a bad header, and nifti_image_read trusts a NIfTI-2 one (a dim[0]
            // past 7 overflows its stack), so a header that does not look good stops here.
            let good = headerVersion == 2
                ? nifti_hdr2_looks_good(header.assumingMemoryBound(to: nifti_2_header.self))
                : nifti_hdr1_looks_good(header.assumingMemoryBound(to: nifti_1_header.self))
            guard good != 0 else { return nil }
            return nifti_image_read(url.path, 0)
        }
        guard let image else {
            throw DataError("\(url.path): not a readable NIfTI-1 or NIfTI-2 image (missing, truncated or corrupt)")
        }
        defer { nifti_image_free(image) }
        // The header is checked before libnifti allocates and reads the voxels it declares.
        let (grid, stored, widened) = try Self.checkHeader(image.pointee, path: url.path)
        guard NIfTIImage.lock.withLock({ nifti_image_load(image) }) == 0, image.pointee.data != nil else {
            throw DataError("\(url.path): not a readable NIfTI-1 or NIfTI-2 image (missing, truncated or corrupt)")
        }
        let nim = image.pointee
        shape = grid
        datatypeCode = Int(nim.datatype)
        version = Int(headerVersion)
        let matrix = nim.sform_code > 0 ? nim.sto_xyz : nim.qto_xyz
        let flat = withUnsafeBytes(of: matrix.m) { Array($0.bindMemory(to: Double.self)) }
        affine = (0..<4).map { r in (0..<4).map { c in flat[r * 4 + c] } }

        let count = Int(nim.nvox)
        let raw = Data(bytes: nim.data, count: count * stored.byteSize)
        // Fortran order: the file's fastest axis is i, so the row-major shape is reversed.
        var volume = raw.withUnsafeBytes { Tensor(bytes: $0, dtype: stored, shape: grid.reversed()) }
        if let widened {
            // Unsigned values read as signed: add 2^bits where negative.
            let bits = Double(stored.byteSize * 8)
            volume = volume.to(widened)
            volume = Tensor.where(volume .< Tensor(scalar: 0, dtype: widened),
                                  volume + Tensor(scalar: Foundation.pow(2, bits), dtype: widened), volume)
        }
        volume = volume.permute(Array((0..<grid.count).reversed())).contiguous()
        let slope = nim.scl_slope, inter = nim.scl_inter
        if slope != 0, slope.isFinite, !(slope == 1 && inter == 0) {
            volume = volume.to(.float64) * slope + inter
        }
        data = volume
    }

    /// The raw `(i, j, k)` indices of the voxels equal to `value`, shape `(V, 3)` int64, in the row-major
    /// order of `np.argwhere(data == value)` (k fastest): column `v` of the NSD betas is voxel `v` here.
    public func maskCoordinates(equalTo value: Double = 1) -> Tensor {
        (data.to(.float64) .== Tensor(scalar: value, dtype: .float64)).nonzero()
    }

    /// `coordinates` (V, 3) voxel indices mapped through the affine to millimetres, shape (V, 3) float32.
    public func millimetres(_ coordinates: Tensor) -> Tensor {
        let rotation = Tensor(affine[0..<3].flatMap { $0[0..<3] }, shape: [3, 3])  // (3, 3)
        let translation = Tensor(affine[0..<3].map { $0[3] })  // (3,)
        return (coordinates.to(.float64).matmul(rotation.T) + translation).to(.float32)
    }

    /// The number of voxels equal to `value`.
    public func count(equalTo value: Double = 1) -> Int {
        (data.to(.float64) .== Tensor(scalar: value, dtype: .float64)).sum().itemInt()
    }

    /// The grid and dtypes of a header read without its data, after checking that the grid is 1 to 7
    /// positive sizes, the datatype is one we read, and the voxels fit in the file: for `.nii.gz`, in what
    /// deflate can expand the file to (at most 1032:1), so a forged size never becomes a huge allocation.
    static func checkHeader(_ nim: nifti_image, path: String) throws -> (grid: [Int], stored: DType, widened: DType?) {
        func fail(_ message: String) -> DataError { DataError("\(path): corrupt NIfTI header: \(message)") }
        let ndim = Int(nim.ndim)
        guard (1...7).contains(ndim) else { throw fail("\(ndim) dimensions, expected 1 to 7") }
        let dims = withUnsafeBytes(of: nim.dim) { Array($0.bindMemory(to: Int64.self)) }
        let grid = (1...ndim).map { Int(dims[$0]) }
        var count = 1
        for n in grid {
            guard n >= 1 else { throw fail("grid \(grid) has a size below 1") }
            let (product, overflow) = count.multipliedReportingOverflow(by: n)
            guard !overflow else { throw fail("grid \(grid) is too large") }
            count = product
        }
        guard Int(nim.nvox) == count else { throw fail("nvox \(nim.nvox) does not match grid \(grid)") }

        let (stored, widened): (DType, DType?)
        switch Int(nim.datatype) {
        case 2: (stored, widened) = (.uint8, nil)
        case 4: (stored, widened) = (.int16, nil)
        case 8: (stored, widened) = (.int32, nil)
        case 16: (stored, widened) = (.float32, nil)
        case 64: (stored, widened) = (.float64, nil)
        case 256: (stored, widened) = (.int8, nil)
        case 512: (stored, widened) = (.int16, .int32)  // reinterpreted after reading
        case 768: (stored, widened) = (.int32, .int64)
        case 1024: (stored, widened) = (.int64, nil)
        default:
            throw DataError("\(path): NIfTI datatype \(nim.datatype) is not supported "
                + "(expected uint8, int8, int16, uint16, int32, uint32, int64, float32 or float64)")
        }
        let (bytes, overflow) = count.multipliedReportingOverflow(by: stored.byteSize)
        guard !overflow else { throw fail("grid \(grid) is too large") }

        let dataPath = nim.iname.map { String(cString: $0) } ?? path
        let fileSize = ((try? FileManager.default.attributesOfItem(atPath: dataPath))?[.size] as? NSNumber)?.intValue ?? 0
        let offset = Int(nim.iname_offset)
        let compressed = dataPath.hasSuffix(".gz")
        let available = compressed ? fileSize.multipliedReportingOverflow(by: 1032).partialValue : fileSize - offset
        guard offset >= 0, bytes <= available else {
            throw fail("grid \(grid) of \(stored) needs \(bytes) bytes from offset \(offset), but "
                + (compressed ? "a \(fileSize)-byte gzip file cannot hold them" : "the file holds \(fileSize) bytes"))
        }
        return (grid, stored, widened)
    }
}
