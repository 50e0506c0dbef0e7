import Foundation
import Torch

/// Loads a subject's betas matrix once, checking it against the mask and the trials that index it. Every
/// failure is a `DataError` naming the file and what was expected.
public enum BetasValidation {
    /// Rows read per HDF5 call: bounds the float32 staging copy while converting to a smaller dtype.
    static let blockRows = 1024

    /// The mask must select exactly one voxel per betas column.
    public static func checkVoxelCount(betas: HDF5Dataset, maskVoxels: Int, mask: URL) throws {
        let columns = betas.shape.count == 2 ? betas.shape[1] : -1
        guard betas.shape.count == 2 else {
            throw DataError("\(betas.file.url.path): dataset '\(betas.name)' has shape \(betas.shape); expected (trials, voxels)")
        }
        // Integer betas (NSD's raw int16 files are scaled by 300) would train on values 300x too large
        guard betas.dtype.isFloatingPoint else {
            throw DataError("\(betas.file.url.path): dataset '\(betas.name)' holds \(betas.dtype) values; expected "
                + "float32 betas (MindEye2's fp32_renorm release; float16 or float64 are read too)")
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

    /// NaN and ±inf values of a betas matrix, counted while reading it in blocks of rows.
    public struct NonFinite: Sendable, Equatable {
        public var nan = 0
        public var inf = 0
        /// Rows holding at least one, ascending.
        public var rows: [Int] = []
        public var count: Int { nan + inf }

        /// `3 NaN and 1 inf values in 2 rows: 1, 4` (at most `listedRows` rows, then how many more).
        public var summary: String {
            let listedRows = BetasValidation.listedRows
            let shown = rows.prefix(listedRows).map(String.init).joined(separator: ", ")
            let more = rows.count > listedRows ? " and \(rows.count - listedRows) more" : ""
            return "\(nan) NaN and \(inf) inf values in \(rows.count) row\(rows.count == 1 ? "" : "s"): \(shown)\(more)"
        }

        /// Adds one block's counts; `start` is the block's first row.
        mutating func add(_ block: Tensor, start: Int) -> Tensor {  // block (b, V) float32; returns (b, V) bool
            let nanMask = block.isnan(), infMask = block.isinf()
            nan += nanMask.sum().itemInt()
            inf += infMask.sum().itemInt()
            let bad = nanMask .|| infMask
            rows += (bad.sum(1) .> 0).nonzero().toArray(Int64.self).map { start + Int($0) }
            return bad
        }
    }

    /// How many rows an error message or report lists.
    public static let listedRows = 10

    /// Counts the NaN and ±inf values of `betas` without keeping the matrix: one block of rows in memory
    /// at a time (a 30,000 x 15,000 float32 file is read as 30 blocks of 60 MB).
    public static func nonFinite(_ betas: HDF5Dataset) throws -> NonFinite {
        var found = NonFinite()
        let rows = betas.shape.first ?? 0
        for start in stride(from: 0, to: rows, by: blockRows) {
            _ = found.add(try betas.readRows(start..<min(start + blockRows, rows)).to(.float32), start: start)
        }
        return found
    }

    /// The whole matrix (trials, voxels) as `dtype`, and how many NaN or ±inf values `nanPolicy` replaced
    /// by 0. Under `.error` they fail, naming their rows.
    public static func load(_ betas: HDF5Dataset, dtype: DType = .float32, nanPolicy: NaNPolicy = .error) throws
        -> (betas: Tensor, replaced: Int)
    {
        let rows = betas.shape.first ?? 0
        var blocks: [Tensor] = []
        var found = NonFinite()
        for start in stride(from: 0, to: rows, by: blockRows) {
            var block = try betas.readRows(start..<min(start + blockRows, rows)).to(.float32)  // (b, V)
            let before = found.count
            let bad = found.add(block, start: start)
            if found.count > before && nanPolicy == .zero { block = block.maskedFill(bad, 0) }
            // Under .error the blocks after a bad one are still read, to name every bad row.
            if nanPolicy == .zero || found.count == 0 { blocks.append(block.to(dtype)) }
        }
        if found.count > 0 && nanPolicy == .error {
            throw DataError("\(betas.file.url.path): dataset '\(betas.name)' has \(found.summary); expected finite "
                + "betas (set data.nan_policy=zero to replace them by 0)")
        }
        if blocks.isEmpty { return (Tensor.zeros([0] + betas.shape.dropFirst(), dtype: dtype), 0) }
        return (blocks.count == 1 ? blocks[0] : Tensor.cat(blocks, dim: 0), found.count)
    }
}
