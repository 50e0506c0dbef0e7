import Foundation
import Torch

/// Loads a subject's betas matrix once, checking it against the mask and the trials that index it. Every
/// failure is a `DataError` naming the file and what was expected.
public enum BetasValidation {
    /// Rows read per HDF5 call: bounds the float32 staging copy while converting to a smaller dtype.
    static let blockRows = 1024
    /// How many non-finite positions an error message lists.
    static let listedPositions = 5

    /// The mask must select exactly one voxel per betas column.
    public static func checkVoxelCount(betas: HDF5Dataset, maskVoxels: Int, mask: URL) throws {
        let columns = betas.shape.count == 2 ? betas.shape[1] : -1
        guard betas.shape.count == 2 else {
            throw DataError("\(betas.file.url.path): dataset '\(betas.name)' has shape \(betas.shape); expected (trials, voxels)")
        }
        guard columns == maskVoxels else {
            throw DataError("\(mask.path): the mask has \(maskVoxels) voxels equal to 1 but \(betas.file.url.path) "
                + "dataset '\(betas.name)' has \(columns) columns; expected one column per mask voxel")
        }
    }

    /// Every trial's betas row must exist.
    public static func checkRows(_ trials: [NSDTrial], betas: HDF5Dataset) throws {
        let rows = betas.shape.first ?? 0
        if let bad = trials.first(where: { $0.row < 0 || $0.row >= rows }) {
            throw DataError("\(bad.shard.path): sample '\(bad.key)' refers to betas row \(bad.row), but "
                + "\(betas.file.url.path) dataset '\(betas.name)' has \(rows) rows")
        }
    }

    /// The whole matrix (trials, voxels) as `dtype`. NaN or ±inf values fail with their count and first
    /// (row, column) positions, unless `replaceNonFinite` is set, which replaces them by 0.
    public static func load(_ betas: HDF5Dataset, dtype: DType = .float32, replaceNonFinite: Bool = false) throws -> Tensor {
        let rows = betas.shape.first ?? 0
        var blocks: [Tensor] = []
        var badCount = 0
        var positions: [(Int, Int)] = []
        for start in stride(from: 0, to: rows, by: blockRows) {
            var block = try betas.readRows(start..<min(start + blockRows, rows)).to(.float32)  // (b, V)
            let bad = block.isfinite().logicalNot()
            let n = bad.sum().itemInt()
            if n > 0 {
                badCount += n
                if positions.count < listedPositions {
                    let where_ = bad.nonzero().toArray(Int64.self)  // (n, 2) row-major
                    for i in 0..<min(n, listedPositions - positions.count) {
                        positions.append((start + Int(where_[2 * i]), Int(where_[2 * i + 1])))
                    }
                }
                if replaceNonFinite { block = block.maskedFill(bad, 0) }
            }
            blocks.append(block.to(dtype))
        }
        if badCount > 0 && !replaceNonFinite {
            let listed = positions.map { "(\($0.0), \($0.1))" }.joined(separator: ", ")
            throw DataError("\(betas.file.url.path): dataset '\(betas.name)' has \(badCount) non-finite values "
                + "(NaN or inf), first at (row, column) \(listed); set replaceNonFinite to replace them by 0")
        }
        if blocks.isEmpty { return Tensor.zeros([0] + betas.shape.dropFirst(), dtype: dtype) }
        return blocks.count == 1 ? blocks[0] : Tensor.cat(blocks, dim: 0)
    }
}
