import Foundation
import Torch

/// Subject anatomy: each subject's grid holds a warped ellipsoid whose points map onto the template's unit
/// ball. A grid voxel `x` goes to `p = R ((x - c) / r)` (rotation `R`, centre `c`, radii `r`) and then to
/// the template point `u = p + 0.15 * sin(p B + beta) C` (a smooth displacement). The ROI is `|u| < 1`,
/// the rest of the brain `|u| < 1.6`. Radii, rotation, warp, centre and grid size are the subject's own,
/// so voxel counts, shapes and positions differ while neighbouring voxels see nearby template points.
extension SyntheticNSD {
    static func makeSubject(number: Int, config: SyntheticNSDConfig, testIds: [Int], ownIds: [Int],
                            tuning: (Tensor) -> Tensor) -> SyntheticSubject
    {
        let r = Tensor.randn([16], dtype: .float64).toArray(Double.self)
        let size = Foundation.exp(0.2 * r[0])
        var shape = (1...3).map { Foundation.exp(0.25 * r[$0]) }
        let norm = Foundation.pow(shape.reduce(1, *), 1.0 / 3)
        shape = shape.map { $0 / norm }
        let scale = Foundation.pow(3 * Double(config.voxels) * size / (4 * Double.pi), 1.0 / 3)
        let radii = shape.map { $0 * scale }
        let rotation = rotationMatrix(r[4] * 0.3, r[5] * 0.3, r[6] * 0.3)
        let rmax = radii.max()!
        let dims = (0..<3).map { Int((2 * brainRadius * rmax * 1.25).rounded(.up)) + 4 + Int(abs(r[7 + $0]) * 2) }
        let centre = (0..<3).map { Double(dims[$0] - 1) / 2 + r[10 + $0] }
        let warpB = Tensor.randn([3, 3]) * 2.0
        let warpBeta = Tensor.rand([3]) * (2 * Double.pi)
        let warpC = Tensor.randn([3, 3]) * (1 / 3.0.squareRoot())

        let grid = gridPoints(dims)                                                      // (P, 3)
        let p = ((grid - Tensor(centre.map(Float.init))) / Tensor(radii.map(Float.init)))
            .matmul(Tensor(rotation.map(Float.init), shape: [3, 3]).T)
        let u = p + (p.matmul(warpB) + warpBeta).sin().matmul(warpC) * warpStrength      // (P, 3)
        let (mask, voxels, flat) = roiMask(r2: u.square().sum(1), dims: dims)
        let template = u.indexSelect(0, flat)

        var sequence = testIds.flatMap { Array(repeating: $0, count: config.testRepeats) }
        sequence += ownIds.flatMap { Array(repeating: $0, count: config.trainRepeats) }
        let order = Tensor.randperm(sequence.count).toArray(Int.self)
        return SyntheticSubject(number: number, mask: mask, voxelIndices: voxels, templateCoordinates: template,
                                tuning: tuning(template), trialImages: order.map { sequence[$0] },
                                trialsPerSession: config.trialsPerSession)
    }

    /// Every point of a `dims` grid as float32 (x, y, z), x varying slowest: (P, 3), P = nx * ny * nz.
    static func gridPoints(_ dims: [Int]) -> Tensor {
        let (nx, ny, nz) = (dims[0], dims[1], dims[2])
        let xs = Tensor.arange(nx, dtype: .float32).reshape([nx, 1, 1]).expand([nx, ny, nz])
        let ys = Tensor.arange(ny, dtype: .float32).reshape([1, ny, 1]).expand([nx, ny, nz])
        let zs = Tensor.arange(nz, dtype: .float32).reshape([1, 1, nz]).expand([nx, ny, nz])
        return Tensor.stack([xs, ys, zs], dim: 3).reshape([nx * ny * nz, 3])
    }

    /// The subject's mask from each grid point's squared template radius `r2` (P): 1 in the ROI
    /// (`r2 < roiRadius²`), 0 in the rest of the brain (`< brainRadius²`), -1 outside, shaped `dims`; with
    /// the ROI's voxel indices (V, 3) and their positions in the flattened grid (V).
    static func roiMask(r2: Tensor, dims: [Int]) -> (mask: Tensor, voxels: Tensor, flat: Tensor) {
        let (ny, nz) = (dims[1], dims[2])
        let mask = ((r2 .< roiRadius * roiRadius).to(.int16) + (r2 .< brainRadius * brainRadius).to(.int16) - 1)
            .reshape(dims)
        let voxels = (mask .== 1).nonzero()
        let flat = voxels.select(1, 0) * (ny * nz) + voxels.select(1, 1) * nz + voxels.select(1, 2)
        return (mask, voxels, flat)
    }

    /// `Rz(a) Ry(b) Rx(c)`, row-major.
    static func rotationMatrix(_ a: Double, _ b: Double, _ c: Double) -> [Double] {
        let (ca, sa, cb, sb, cc, sc) = (cos(a), sin(a), cos(b), sin(b), cos(c), sin(c))
        return [
            ca * cb, ca * sb * sc - sa * cc, ca * sb * cc + sa * sc,
            sa * cb, sa * sb * sc + ca * cc, sa * sb * cc - ca * sc,
            -sb, cb * sc, cb * cc,
        ]
    }
}
