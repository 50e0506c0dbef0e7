import Foundation
import Testing
@testable import Torch

/// Inputs libFuzzer found that crashed the tensor readers (`make fuzz`), now refused with a clear error.
@Suite struct FuzzSerializationTests {
    /// An empty axis makes the element count 0, but libtorch still multiplies the other sizes into the
    /// strides and aborted with "Stride calculation overflowed" (found in .npy; safetensors shares the check).
    @Test func emptyShapesWhoseStridesOverflowAreRefused() throws {
        let npy = NpyTests.npy(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 1099511627776, 1099511627776), }")
        #expect(NpyTests.message { try Npy.decode(npy, source: "m.npy") }
            == "m.npy: shape (0, 1099511627776, 1099511627776) is too large")

        let folder = try SerializationFixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = try SafetensorsTests.file(
            in: folder, header: "{\"a\": {\"dtype\": \"F32\", \"shape\": [0, 1099511627776, 1099511627776], \"data_offsets\": [0, 0]}}")
        #expect(SafetensorsTests.message { try Safetensors.read(url) }
            == "\(url.path): tensor 'a': shape [0, 1099511627776, 1099511627776] is too large")
        // An empty axis with sizes that fit still reads: shape (0, 2**20, 2**20), no data.
        let fits = NpyTests.npy(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 1048576, 1048576), }")
        #expect(try Npy.decode(fits).shape == [0, 1_048_576, 1_048_576])
    }
}
