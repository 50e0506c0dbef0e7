@preconcurrency import CHDF5
import Foundation
import Torch

/// Serialises every libhdf5 call: Debian's serial libhdf5 is not built thread-safe, and the prefetcher
/// reads on a background thread.
enum HDF5Library {
    static let lock = NSRecursiveLock()
    nonisolated(unsafe) private static var opened = false

    /// Runs `body` under the library lock, after initialising libhdf5 and silencing its own error printing
    /// (every failure becomes a `DataError` instead).
    static func locked<R>(_ body: () throws -> R) rethrows -> R {
        lock.lock()
        defer { lock.unlock() }
        if !opened {
            opened = true
            H5open()
            H5Eset_auto2(0 /* H5E_DEFAULT */, nil, nil)
        }
        return try body()
    }
}

/// An HDF5 file opened read-only through libhdf5's C API. Datasets are read a row, a row set or a
/// hyperslab at a time, so a 100 GB file never has to fit in memory.
public final class HDF5File: @unchecked Sendable {
    public let url: URL
    let id: hid_t

    public init(_ url: URL) throws {
        self.url = url
        try DataError.checkRegularFile(url, expected: "an HDF5 file")
        let id = HDF5Library.locked { H5Fopen(url.path, 0 /* H5F_ACC_RDONLY */, 0 /* H5P_DEFAULT */) }
        guard id >= 0 else {
            throw DataError("\(url.path): not a readable HDF5 file (truncated or corrupt)")
        }
        self.id = id
    }

    deinit { HDF5Library.locked { _ = H5Fclose(id) } }

    /// The names of the objects at the file's root, in HDF5's name order.
    public var keys: [String] { HDF5Library.locked { linkNames(of: id) } }

    /// The dataset at `path` (`betas` or `group/name`); a missing one throws a `DataError` listing the keys.
    public func dataset(_ path: String) throws -> HDF5Dataset {
        try HDF5Library.locked {
            var exists = true
            var prefix = ""
            for part in path.split(separator: "/") {
                prefix += prefix.isEmpty ? String(part) : "/" + part
                if H5Lexists(id, prefix, 0) <= 0 { exists = false; break }
            }
            let dset = exists ? H5Dopen2(id, path, 0) : -1
            guard dset >= 0 else {
                let present = linkNames(of: id).joined(separator: ", ")
                throw DataError("\(url.path): no dataset '\(path)' (keys present: \(present))")
            }
            return try HDF5Dataset(file: self, name: path, id: dset)
        }
    }

    private func linkNames(of group: hid_t) -> [String] {
        var info = H5G_info_t()
        guard H5Gget_info(group, &info) >= 0 else { return [] }
        return (0..<info.nlinks).compactMap { i -> String? in
            let n = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, nil, 0, 0)
            guard n >= 0 else { return nil }
            var buffer = [CChar](repeating: 0, count: Int(n) + 1)
            _ = H5Lget_name_by_idx(group, ".", H5_INDEX_NAME, H5_ITER_INC, i, &buffer, Int(n) + 1, 0)
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
    }
}

/// One dataset of an `HDF5File`. Reads return tensors of the matching dtype: float16, float32, float64,
/// int8/16/32/64, uint8, bool (h5py's enum of int8); uint16 and uint32 widen to int32 and int64.
public final class HDF5Dataset: @unchecked Sendable {
    public let file: HDF5File
    public let name: String
    /// The dataset's shape (row = first dimension).
    public let shape: [Int]
    /// The dtype of the tensors this dataset reads into.
    public let dtype: DType
    let id: hid_t
    let memoryType: hid_t
    let ownsMemoryType: Bool

    init(file: HDF5File, name: String, id: hid_t) throws {
        self.file = file
        self.name = name
        self.id = id
        let space = H5Dget_space(id)
        defer { H5Sclose(space) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        var dims = [hsize_t](repeating: 0, count: max(rank, 1))
        H5Sget_simple_extent_dims(space, &dims, nil)
        shape = rank == 0 ? [] : dims.prefix(rank).map(Int.init)

        let fileType = H5Dget_type(id)
        defer { H5Tclose(fileType) }
        guard let (dtype, memoryType, owns) = HDF5Dataset.memoryType(for: fileType) else {
            H5Dclose(id)
            throw DataError("\(file.url.path): dataset '\(name)' has an element type this reader does not support "
                + "(expected float16/32/64, an integer or bool)")
        }
        self.dtype = dtype
        self.memoryType = memoryType
        self.ownsMemoryType = owns
    }

    deinit {
        HDF5Library.locked {
            if ownsMemoryType { _ = H5Tclose(memoryType) }
            _ = H5Dclose(id)
        }
    }

    /// The tensor dtype and the in-memory HDF5 type to read `fileType` with (owned when `true`).
    private static func memoryType(for fileType: hid_t) -> (DType, hid_t, Bool)? {
        let size = H5Tget_size(fileType)
        switch H5Tget_class(fileType) {
        case H5T_FLOAT:
            switch size {
            case 2:
                // libhdf5 1.10 has no native half type: read h5py's IEEE half as it is, little-endian.
                let t = H5Tcopy(fileType)
                H5Tset_order(t, H5T_ORDER_LE)
                return (.float16, t, true)
            case 4: return (.float32, H5T_NATIVE_FLOAT_g, false)
            case 8: return (.float64, H5T_NATIVE_DOUBLE_g, false)
            default: return nil
            }
        case H5T_INTEGER:
            let signed = H5Tget_sign(fileType) == H5T_SGN_2
            switch (size, signed) {
            case (1, true): return (.int8, H5T_NATIVE_INT8_g, false)
            case (1, false): return (.uint8, H5T_NATIVE_UINT8_g, false)
            case (2, true): return (.int16, H5T_NATIVE_INT16_g, false)
            case (2, false), (4, true): return (.int32, H5T_NATIVE_INT32_g, false)
            case (4, false), (8, true): return (.int64, H5T_NATIVE_INT64_g, false)
            default: return nil
            }
        case H5T_ENUM:
            // h5py writes bool as an enum {FALSE = 0, TRUE = 1} over int8.
            guard size == 1, H5Tget_nmembers(fileType) == 2 else { return nil }
            return (.bool, H5Tget_native_type(fileType, H5T_DIR_ASCEND), true)
        default:
            return nil
        }
    }

    private var where_: String { "\(file.url.path): dataset '\(name)'" }
    private var rowShape: [Int] { Array(shape.dropFirst()) }

    /// The whole dataset.
    public func read() throws -> Tensor {
        try HDF5Library.locked { try readSelection(memoryShape: shape) { _ in true } }
    }

    /// Row `row` (the first index), shape `shape[1...]`.
    public func readRow(_ row: Int) throws -> Tensor {
        try readRows([row]).select(0, 0)
    }

    /// Rows `range` as one contiguous hyperslab, shape `(range.count, shape[1...])`.
    public func readRows(_ range: Range<Int>) throws -> Tensor {
        guard let first = shape.first else { throw DataError("\(where_) is a scalar and has no rows") }
        guard range.lowerBound >= 0, range.upperBound <= first else {
            throw DataError("\(where_) has \(first) rows; rows \(range.lowerBound)..<\(range.upperBound) are out of range")
        }
        return try readHyperslab(start: [range.lowerBound] + rowShape.map { _ in 0 }, count: [range.count] + rowShape)
    }

    /// The rows `rows` in the order given (repeats allowed), shape `(rows.count, shape[1...])`. The file is
    /// read once, as the union of the runs of consecutive rows.
    public func readRows(_ rows: [Int]) throws -> Tensor {
        guard let first = shape.first else { throw DataError("\(where_) is a scalar and has no rows") }
        if let bad = rows.first(where: { $0 < 0 || $0 >= first }) {
            throw DataError("\(where_) has \(first) rows; row \(bad) is out of range")
        }
        let unique = Array(Set(rows)).sorted()
        var runs: [(start: Int, count: Int)] = []
        for r in unique {
            if let last = runs.last, last.start + last.count == r {
                runs[runs.count - 1].count += 1
            } else {
                runs.append((r, 1))
            }
        }
        let rest = rowShape.map(hsize_t.init)
        let read = try HDF5Library.locked {
            try readSelection(memoryShape: [unique.count] + rowShape) { space in
                for (n, run) in runs.enumerated() {
                    let start = [hsize_t(run.start)] + rest.map { _ in 0 }
                    let count = [hsize_t(run.count)] + rest
                    if H5Sselect_hyperslab(space, n == 0 ? H5S_SELECT_SET : H5S_SELECT_OR, start, nil, count, nil) < 0 {
                        return false
                    }
                }
                return true
            }
        }
        if unique == rows { return read }
        let position = Dictionary(uniqueKeysWithValues: unique.enumerated().map { ($1, $0) })
        return read.indexSelect(0, Tensor(rows.map { Int64(position[$0]!) }))
    }

    /// The block `start ..< start + count` (one entry per dimension).
    public func readHyperslab(start: [Int], count: [Int]) throws -> Tensor {
        guard start.count == shape.count, count.count == shape.count else {
            throw DataError("\(where_) has \(shape.count) dimensions; a hyperslab needs a start and a count for each")
        }
        for d in 0..<shape.count where start[d] < 0 || count[d] < 0 || start[d] + count[d] > shape[d] {
            throw DataError("\(where_) has shape \(shape); hyperslab start \(start) count \(count) is out of range")
        }
        return try HDF5Library.locked {
            try readSelection(memoryShape: count) { space in
                H5Sselect_hyperslab(space, H5S_SELECT_SET, start.map(hsize_t.init), nil, count.map(hsize_t.init), nil) >= 0
            }
        }
    }

    /// Reads the file selection made by `select` (given the file's dataspace) into a tensor of `memoryShape`.
    private func readSelection(memoryShape: [Int], select: (hid_t) -> Bool) throws -> Tensor {
        let n = memoryShape.reduce(1, *)
        var data = Data(count: n * dtype.byteSize)
        if n > 0 {
            let fileSpace = H5Dget_space(id)
            defer { H5Sclose(fileSpace) }
            guard select(fileSpace) else { throw DataError("\(where_): cannot select the requested elements") }
            let dims = memoryShape.map(hsize_t.init)
            let memorySpace = memoryShape.isEmpty ? H5Screate(H5S_SCALAR) : H5Screate_simple(Int32(dims.count), dims, nil)
            defer { H5Sclose(memorySpace) }
            let status = data.withUnsafeMutableBytes { H5Dread(id, memoryType, memorySpace, fileSpace, 0, $0.baseAddress) }
            guard status >= 0 else { throw DataError("\(where_): read failed (the file may be truncated or corrupt)") }
        }
        return data.withUnsafeBytes { Tensor(bytes: $0, dtype: dtype, shape: memoryShape) }
    }
}
