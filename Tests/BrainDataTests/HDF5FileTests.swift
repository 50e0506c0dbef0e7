import Foundation
import Testing
import Torch
@testable import BrainData

@Suite struct HDF5FileTests {
    let url = fixture("hdf5/types.hdf5")

    @Test func listsRootKeysInNameOrder() throws {
        let file = try HDF5File(url)
        #expect(file.keys == ["cube", "f16", "f32", "f64", "flags", "group", "i16", "i32", "i64", "i8", "scalar", "u16", "u64", "u8"])
    }

    @Test func readsFloatDatasetsWithTheirDtypeAndShape() throws {
        let file = try HDF5File(url)
        let expected = try fixtureJSON("hdf5/types.json")
        for (name, dtype, shape) in [("f16", DType.float16, [5, 3]), ("f32", .float32, [6, 4]), ("f64", .float64, [4, 2])] {
            let ds = try file.dataset(name)
            #expect(ds.shape == shape)
            #expect(ds.dtype == dtype)
            let t = try ds.read()
            #expect(t.dtype == dtype)
            #expect(t.shape == shape)
            #expect(t.toArray(Double.self) == doubles(expected[name]))
        }
    }

    @Test func readsIntegersAndBools() throws {
        let file = try HDF5File(url)
        let i8 = try file.dataset("i8").read()
        #expect(i8.dtype == .int8)
        #expect(i8.toArray(Int64.self) == [-128, -1, 0, 1, 127])
        let u8 = try file.dataset("u8").read()
        #expect(u8.dtype == .uint8)
        #expect(u8.toArray(Int64.self) == [0, 1, 200, 255])
        let i16 = try file.dataset("i16").read()
        #expect(i16.dtype == .int16 && i16.shape == [2, 2])
        #expect(i16.toArray(Int64.self) == [-300, 2, 3, 30000])
        let i32 = try file.dataset("i32").read()
        #expect(i32.dtype == .int32)
        #expect(i32.toArray(Int64.self) == [-70000, 0, 70000])
        let i64 = try file.dataset("i64").read()
        #expect(i64.dtype == .int64)
        #expect(i64.toArray(Int64.self) == [-(1 << 40), 5, 7, 1 << 40])
        let u16 = try file.dataset("u16").read()
        #expect(u16.dtype == .int32)
        #expect(u16.toArray(Int64.self) == [0, 65535])
        let flags = try file.dataset("flags").read()
        #expect(flags.dtype == .bool)
        #expect(flags.to(.int64).toArray(Int64.self) == [1, 0, 0, 1, 1])
        #expect(try file.dataset("group/inner").read().toArray(Float.self) == [1.5, 2.5])
    }

    @Test func readsSingleRowsAndRowSetsInTheRequestedOrder() throws {
        let ds = try HDF5File(url).dataset("f32")
        let all = try fixtureJSON("hdf5/types.json")
        let values = doubles(all["f32"])
        func row(_ r: Int) -> [Double] { Array(values[(r * 4)..<(r * 4 + 4)]) }
        let one = try ds.readRow(4)
        #expect(one.shape == [4])
        #expect(one.toArray(Double.self) == row(4))
        let set = try ds.readRows([5, 0, 2, 3, 0])
        #expect(set.shape == [5, 4])
        #expect(set.toArray(Double.self) == [5, 0, 2, 3, 0].flatMap(row))
        let sorted = try ds.readRows([1, 2, 4])
        #expect(sorted.toArray(Double.self) == [1, 2, 4].flatMap(row))
        let range = try ds.readRows(2..<5)
        #expect(range.shape == [3, 4])
        #expect(range.toArray(Double.self) == [2, 3, 4].flatMap(row))
        let f16 = try HDF5File(url).dataset("f16").readRows([3, 1])
        #expect(f16.dtype == .float16)
        let f16All = doubles(all["f16"])
        #expect(f16.toArray(Double.self) == Array(f16All[9..<12]) + Array(f16All[3..<6]))
    }

    @Test func readsAHyperslabOfAChunkedDataset() throws {
        let ds = try HDF5File(url).dataset("cube")
        let cube = doubles(try fixtureJSON("hdf5/types.json")["cube"])  // (5, 4, 3)
        let block = try ds.readHyperslab(start: [1, 2, 1], count: [3, 2, 2])
        #expect(block.shape == [3, 2, 2])
        var expected: [Double] = []
        for i in 1..<4 { for j in 2..<4 { for k in 1..<3 { expected.append(cube[i * 12 + j * 3 + k]) } } }
        #expect(block.toArray(Double.self) == expected)
    }

    @Test func missingFileIsADataError() {
        let missing = fixture("hdf5/nope.hdf5")
        #expect(dataErrorMessage { _ = try HDF5File(missing) } == "\(missing.path): no such file (expected an HDF5 file)")
    }

    @Test func truncatedAndCorruptFilesAreDataErrors() {
        for name in ["truncated.hdf5", "not_hdf5.hdf5"] {
            let u = fixture("hdf5/" + name)
            #expect(dataErrorMessage { _ = try HDF5File(u) } == "\(u.path): not a readable HDF5 file (truncated or corrupt)")
        }
    }

    @Test func wrongKeyListsTheKeysPresent() throws {
        let file = try HDF5File(url)
        #expect(dataErrorMessage { _ = try file.dataset("betas") }
            == "\(url.path): no dataset 'betas' (keys present: cube, f16, f32, f64, flags, group, i16, i32, i64, i8, scalar, u16, u64, u8)")
        #expect(dataErrorMessage { _ = try file.dataset("group/missing") }
            == "\(url.path): no dataset 'group/missing' (keys present: cube, f16, f32, f64, flags, group, i16, i32, i64, i8, scalar, u16, u64, u8)")
    }

    @Test func outOfRangeRowsAndHyperslabsAreDataErrors() throws {
        let ds = try HDF5File(url).dataset("f32")
        #expect(dataErrorMessage { _ = try ds.readRows([0, 6]) } == "\(url.path): dataset 'f32' has 6 rows; row 6 is out of range")
        #expect(dataErrorMessage { _ = try ds.readRows(4..<7) }
            == "\(url.path): dataset 'f32' has 6 rows; rows 4..<7 are out of range")
        #expect(dataErrorMessage { _ = try ds.readHyperslab(start: [0, 3], count: [1, 2]) }
            == "\(url.path): dataset 'f32' has shape [6, 4]; hyperslab start [0, 3] count [1, 2] is out of range")
    }

    @Test func unsupportedElementTypesAreDataErrors() throws {
        let file = try HDF5File(url)
        #expect(dataErrorMessage { _ = try file.dataset("u64") }
            == "\(url.path): dataset 'u64' has an element type this reader does not support "
            + "(expected float16/32/64, an integer or bool)")
    }

    @Test func readsScalarDatasets() throws {
        let ds = try HDF5File(url).dataset("scalar")
        #expect(ds.shape == [])
        let t = try ds.read()
        #expect(t.shape == [])
        #expect(t.item() == 2.75)
        #expect(dataErrorMessage { _ = try ds.readRows([0]) } == "\(url.path): dataset 'scalar' is a scalar and has no rows")
    }
}
