import CNIfTI
import Foundation
import Torch

/// Writes 3-D volumes as NIfTI-1 single files through libnifti (gzip when the name ends in `.gz`).
public enum NIfTIWriter {
    /// Writes `volume`, indexed `[i, j, k]` as nibabel returns it (i varies fastest on disk), as int16 or
    /// float32 (the tensor's dtype decides; other dtypes are written as float32). `affine` maps `(i, j, k, 1)`
    /// to millimetres (rows x, y, z); by default `voxelSize` mm voxels centred on the origin. The sform and
    /// qform both carry it (scanner-anatomical code), units mm.
    public static func write(_ volume: Tensor, to url: URL, voxelSize: Double = 1.8,
                             affine: [[Double]]? = nil) throws
    {
        let shape = volume.shape
        guard shape.count == 3, shape.allSatisfy({ $0 > 0 }) else {
            throw DataError("\(url.path): NIfTI volume must be 3-D and non-empty, got shape \(shape)")
        }
        let int16 = volume.dtype == .int16
        let dtype: DType = int16 ? .int16 : .float32
        let affine = affine ?? Self.centredAffine(shape: shape, voxelSize: voxelSize)
        guard affine.count == 3, affine.allSatisfy({ $0.count == 4 }) else {
            throw DataError("\(url.path): affine must be 3 rows of 4 values")
        }
        var dims: [Int64] = [3, Int64(shape[0]), Int64(shape[1]), Int64(shape[2]), 1, 1, 1, 1]
        guard let nim = nifti_make_new_nim(&dims, Int32(int16 ? NIFTI_TYPE_INT16 : NIFTI_TYPE_FLOAT32), 0) else {
            throw DataError("\(url.path): libnifti could not allocate a \(shape) image")
        }
        defer { nifti_image_free(nim) }
        // Disk order is Fortran order: reversing the axes and taking C order gives i fastest.
        let bytes = volume.to(dtype).permute(2, 1, 0).contiguous().bytes()
        guard let data = malloc(bytes.count) else { throw DataError("\(url.path): out of memory") }
        bytes.withUnsafeBytes { data.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) }
        free(nim.pointee.data)
        nim.pointee.data = data

        var m = nifti_dmat44()
        withUnsafeMutableBytes(of: &m.m) { raw in
            let p = raw.bindMemory(to: Double.self)
            for r in 0..<4 { for c in 0..<4 { p[r * 4 + c] = r < 3 ? affine[r][c] : (c == 3 ? 1 : 0) } }
        }
        for a in 0..<3 {
            let column = (0..<3).map { affine[$0][a] }
            let size = (column.map { $0 * $0 }.reduce(0, +)).squareRoot()
            withUnsafeMutableBytes(of: &nim.pointee.pixdim) { $0.bindMemory(to: Double.self)[a + 1] = size }
        }
        withUnsafeMutableBytes(of: &nim.pointee.pixdim) { raw in
            let p = raw.bindMemory(to: Double.self)
            nim.pointee.dx = p[1]; nim.pointee.dy = p[2]; nim.pointee.dz = p[3]
        }
        nim.pointee.sto_xyz = m
        nim.pointee.sto_ijk = nifti_dmat44_inverse(m)
        nim.pointee.sform_code = Int32(NIFTI_XFORM_SCANNER_ANAT)
        var qfac = 1.0
        nifti_dmat44_to_quatern(m, &nim.pointee.quatern_b, &nim.pointee.quatern_c, &nim.pointee.quatern_d,
                                &nim.pointee.qoffset_x, &nim.pointee.qoffset_y, &nim.pointee.qoffset_z,
                                nil, nil, nil, &qfac)
        nim.pointee.qfac = qfac
        nim.pointee.qto_xyz = m
        nim.pointee.qto_ijk = nifti_dmat44_inverse(m)
        nim.pointee.qform_code = Int32(NIFTI_XFORM_SCANNER_ANAT)
        nim.pointee.xyz_units = Int32(NIFTI_UNITS_MM)
        nim.pointee.nifti_type = Int32(NIFTI_FTYPE_NIFTI1_1)

        try? FileManager.default.removeItem(at: url)
        guard nifti_set_filenames(nim, url.path, 0, 1) == 0 else {
            throw DataError("\(url.path): libnifti does not accept this file name (use .nii or .nii.gz)")
        }
        nifti_image_write(nim)
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw DataError("\(url.path): libnifti failed to write the image")
        }
    }

    /// `voxelSize` mm voxels along i, j, k with the grid's centre at the origin.
    public static func centredAffine(shape: [Int], voxelSize: Double) -> [[Double]] {
        var rows: [[Double]] = []
        for r in 0..<3 {
            var row = [Double](repeating: 0, count: 4)
            row[r] = voxelSize
            row[3] = -Double(shape[r] - 1) / 2 * voxelSize
            rows.append(row)
        }
        return rows
    }
}
