@preconcurrency import CHDF5
import Foundation
import Torch

/// Writes HDF5 files readable by h5py with the element types h5py itself would choose: IEEE little-endian
/// floats (float16 built as h5py builds it, since HDF5 1.10 has no predefined half type), 64-bit integers,
/// and bool as h5py's enum of int8 `FALSE = 0`, `TRUE = 1`. Datasets are contiguous and written whole or
/// a block of rows at a time.
public final class HDF5Writer {
    public let url: URL
    private var file: hid_t
    private var datasets: [String: (id: hid_t, dtype: DType, shape: [Int])] = [:]

    /// Creates (or truncates) the file at `url`.
    public init(creating url: URL) throws {
        self.url = url
        file = HDF5Library.locked {
            H5Fcreate(url.path, HDF5Constants.accTrunc, HDF5Constants.default, HDF5Constants.default)
        }
        if file < 0 { throw DataError("\(url.path): cannot create HDF5 file") }
    }

    /// Opens the existing file at `url` for writing more rows into its datasets (see `openDataset`).
    public init(updating url: URL) throws {
        self.url = url
        try DataError.checkRegularFile(url, expected: "an HDF5 file")
        file = HDF5Library.locked { H5Fopen(url.path, 0x0001 /* H5F_ACC_RDWR */, HDF5Constants.default) }
        if file < 0 { throw DataError("\(url.path): not an HDF5 file that can be opened for writing (truncated or corrupt)") }
    }

    deinit { try? close() }

    /// Opens the existing dataset `name` for `write(_:rows:at:)`; it must have `shape` and hold `dtype`.
    public func openDataset(_ name: String, dtype: DType, shape: [Int]) throws {
        try HDF5Library.locked {
            guard datasets[name] == nil else { return }
            let id = H5Lexists(file, name, 0) > 0 ? H5Dopen2(file, name, HDF5Constants.default) : -1
            guard id >= 0 else { throw DataError("\(url.path): no dataset '\(name)'") }
            let space = H5Dget_space(id)
            defer { H5Sclose(space) }
            var dims = [hsize_t](repeating: 0, count: max(Int(H5Sget_simple_extent_ndims(space)), 0))
            H5Sget_simple_extent_dims(space, &dims, nil)
            let type = H5Dget_type(id)
            defer { H5Tclose(type) }
            let expected = try Self.fileType(dtype, for: "\(url.path): dataset '\(name)'")
            defer { H5Tclose(expected) }
            guard dims.map({ Int($0) }) == shape, H5Tequal(type, expected) > 0 else {
                H5Dclose(id)
                throw DataError("\(url.path): dataset '\(name)' has shape \(dims.map { Int($0) }); expected \(shape) of \(dtype)")
            }
            datasets[name] = (id, dtype, shape)
        }
    }

    /// Writes what libhdf5 buffers (raw data and metadata) to the file, so a later kill loses nothing written.
    public func flush() throws {
        try HDF5Library.locked {
            guard file >= 0, H5Fflush(file, H5F_SCOPE_GLOBAL) >= 0 else { throw DataError("\(url.path): flushing failed") }
        }
    }

    /// Creates dataset `name` (at the root) of `dtype` and `shape`, filled later with `write(_:rows:at:)`.
    /// Object times are not recorded (h5py's `track_times=False`), so equal content gives equal bytes.
    public func createDataset(_ name: String, dtype: DType, shape: [Int]) throws {
        try HDF5Library.locked { try unlockedCreateDataset(name, dtype: dtype, shape: shape) }
    }

    private func unlockedCreateDataset(_ name: String, dtype: DType, shape: [Int]) throws {
        guard file >= 0 else { throw DataError("\(url.path): file already closed") }
        guard datasets[name] == nil else { throw DataError("\(url.path): dataset '\(name)' exists already") }
        let type = try Self.fileType(dtype, for: "\(url.path): dataset '\(name)'")
        defer { H5Tclose(type) }
        var dims = shape.map { hsize_t($0) }
        let space = H5Screate_simple(Int32(dims.count), &dims, nil)
        defer { H5Sclose(space) }
        let properties = H5Pcreate(H5P_CLS_DATASET_CREATE_ID_g)
        defer { H5Pclose(properties) }
        H5Pset_obj_track_times(properties, false)
        let id = H5Dcreate2(file, name, type, space, HDF5Constants.default, properties, HDF5Constants.default)
        if id < 0 { throw DataError("\(url.path): cannot create dataset '\(name)' of shape \(shape)") }
        datasets[name] = (id, dtype, shape)
    }

    /// Writes `rows` (shape `(n, shape[1...])`, converted to the dataset's dtype) at rows `start ..< start+n`.
    public func write(_ name: String, rows: Tensor, at start: Int) throws {
        try HDF5Library.locked { try unlockedWrite(name, rows: rows, at: start) }
    }

    private func unlockedWrite(_ name: String, rows: Tensor, at start: Int) throws {
        guard let ds = datasets[name] else { throw DataError("\(url.path): no dataset '\(name)' to write") }
        let shape = rows.shape
        guard shape.count == ds.shape.count, Array(shape.dropFirst()) == Array(ds.shape.dropFirst()),
              start >= 0, start + (shape.first ?? 0) <= (ds.shape.first ?? 0)
        else {
            throw DataError("\(url.path): dataset '\(name)' of shape \(ds.shape) cannot take rows of shape "
                + "\(shape) at row \(start)")
        }
        let data = rows.to(ds.dtype).contiguous().bytes()
        if ds.shape.isEmpty || shape[0] == 0 {
            if ds.shape.isEmpty { try writeAll(ds.id, ds.dtype, data, name) }
            return
        }
        let fileSpace = H5Dget_space(ds.id)
        defer { H5Sclose(fileSpace) }
        var offset = [hsize_t](repeating: 0, count: shape.count)
        offset[0] = hsize_t(start)
        var count = shape.map { hsize_t($0) }
        H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, &offset, nil, &count, nil)
        let memSpace = H5Screate_simple(Int32(count.count), &count, nil)
        defer { H5Sclose(memSpace) }
        let type = try Self.fileType(ds.dtype, for: name)
        defer { H5Tclose(type) }
        let status = data.withUnsafeBytes { H5Dwrite(ds.id, type, memSpace, fileSpace, HDF5Constants.default, $0.baseAddress) }
        if status < 0 { throw DataError("\(url.path): writing rows \(start)..<\(start + shape[0]) of '\(name)' failed") }
    }

    /// Creates dataset `name` holding `tensor` (its shape and, unless given, its dtype).
    public func write(_ name: String, _ tensor: Tensor, dtype: DType? = nil) throws {
        let dtype = dtype ?? tensor.dtype
        try createDataset(name, dtype: dtype, shape: tensor.shape)
        if tensor.ndim == 0 {
            try HDF5Library.locked { try writeAll(datasets[name]!.id, dtype, tensor.to(dtype).bytes(), name) }
        } else {
            try write(name, rows: tensor, at: 0)
        }
    }

    /// Closes every dataset and the file; later calls do nothing.
    public func close() throws {
        try HDF5Library.locked { try unlockedClose() }
    }

    private func unlockedClose() throws {
        for (_, ds) in datasets { H5Dclose(ds.id) }
        datasets = [:]
        guard file >= 0 else { return }
        let status = H5Fclose(file)
        file = -1
        if status < 0 { throw DataError("\(url.path): closing the HDF5 file failed") }
    }

    private func writeAll(_ id: hid_t, _ dtype: DType, _ data: Data, _ name: String) throws {
        let type = try Self.fileType(dtype, for: name)
        defer { H5Tclose(type) }
        let status = data.withUnsafeBytes {
            H5Dwrite(id, type, HDF5Constants.all, HDF5Constants.all, HDF5Constants.default, $0.baseAddress)
        }
        if status < 0 { throw DataError("\(url.path): writing '\(name)' failed") }
    }

    /// A new HDF5 type id (the caller closes it) for `dtype`, as h5py would store it.
    static func fileType(_ dtype: DType, for what: String) throws -> hid_t {
        switch dtype {
        case .float32: return H5Tcopy(H5T_IEEE_F32LE_g)
        case .float64: return H5Tcopy(H5T_IEEE_F64LE_g)
        case .int64: return H5Tcopy(H5T_STD_I64LE_g)
        case .float16:
            let t = H5Tcopy(H5T_IEEE_F32LE_g)
            H5Tset_fields(t, 15, 10, 5, 0, 10)
            H5Tset_size(t, 2)
            H5Tset_ebias(t, 15)
            return t
        case .bool:
            let t = H5Tenum_create(H5T_NATIVE_SCHAR_g)
            var no: Int8 = 0, yes: Int8 = 1
            H5Tenum_insert(t, "FALSE", &no)
            H5Tenum_insert(t, "TRUE", &yes)
            return t
        default:
            throw DataError("\(what): HDF5 writing supports float16, float32, float64, int64 and bool, not \(dtype)")
        }
    }
}

/// HDF5's macro constants that Swift cannot import (they expand to function calls or casts).
enum HDF5Constants {
    static let accTrunc: UInt32 = 0x0002
    static let `default`: hid_t = 0
    static let all: hid_t = 0
}
