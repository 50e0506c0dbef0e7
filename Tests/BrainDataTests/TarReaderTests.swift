import Foundation
import Testing
import Torch
@testable import BrainData

@Suite struct TarReaderTests {
    @Test func readsWebdatasetShardsWithAPaxHeaderPerMember() throws {
        let reader = try TarReader(fixture("tar/webdataset.tar"))
        let members = try reader.members()
        let exts = ["behav.npy", "past_behav.npy", "future_behav.npy", "olds_behav.npy"]
        #expect(members.map(\.name) == (0..<3).flatMap { n in exts.map { String(format: "sample%09d.", n) + $0 } })
        // each sample of 4 members takes exactly 12,800 bytes (PAX header + ustar header + data per member)
        #expect(members.map(\.offset) == ints(try fixtureJSON("tar/tar.json")["offsets"]))
        #expect(members[4].offset - members[0].offset == 12_800)
        #expect(members.map(\.data.count) == Array(repeating: [264, 2168, 2168, 536], count: 3).flatMap { $0 })
        // the members are NumPy v1.0 files
        #expect(members[0].data.prefix(8) == Data([0x93] + Array("NUMPY".utf8) + [1, 0]))
    }

    @Test func groupsMembersBySampleKey() throws {
        let samples = try TarReader(fixture("tar/webdataset.tar")).samples()
        #expect(samples.map(\.key) == ["sample000000000", "sample000000001", "sample000000002"])
        #expect(samples[1].members.keys.sorted() == ["behav.npy", "future_behav.npy", "olds_behav.npy", "past_behav.npy"])
        #expect(samples[1].members["olds_behav.npy"]?.count == 536)
    }

    @Test func splitsKeysAtTheFirstDotOfTheFileName() {
        #expect(TarReader.splitKey("sample000000001.behav.npy") == ("sample000000001", "behav.npy"))
        #expect(TarReader.splitKey("a.b/sample7.past_behav.npy") == ("a.b/sample7", "past_behav.npy"))
        #expect(TarReader.splitKey("README") == ("README", ""))
    }

    @Test func readsPlainUstar() throws {
        let members = try TarReader(fixture("tar/ustar.tar")).members()
        #expect(members.map(\.name) == ["a.txt", "dir/b.bin", "empty.txt"])
        #expect(members[0].data == Data("hello".utf8))
        #expect(members[1].data == Data(Array(repeating: Array(0...255).map(UInt8.init), count: 3).flatMap { $0 }))
        #expect(members[2].data.isEmpty)
        #expect(members.map(\.offset) == [0, 1024, 2560])
    }

    @Test func readsGNULongNames() throws {
        let members = try TarReader(fixture("tar/gnu_long.tar")).members()
        let longName = try fixtureJSON("tar/tar.json")["long_name"] as! String
        #expect(longName.count > 100)
        #expect(members.map(\.name) == [longName, "short.txt"])
        #expect(members[1].data == Data("after the long name".utf8))
        #expect(members[0].data.count == 128 + 24)
    }

    @Test func truncatedTarNamesTheFileMemberAndOffset() throws {
        let url = fixture("tar/truncated.tar")
        #expect(dataErrorMessage { _ = try TarReader(url).members() }
            == "\(url.path): truncated tar: member 'sample000000001.behav.npy' at offset 12800 needs 264 bytes of data "
            + "from offset 14336, but the file ends at 14436")
    }

    @Test func missingTarIsADataError() {
        let url = fixture("tar/nope.tar")
        #expect(dataErrorMessage { _ = try TarReader(url) } == "\(url.path): no such file (expected a tar shard)")
    }
}

@Suite struct TarTruncationTests {
    /// A copy of the first `count` bytes of the webdataset fixture in a temporary file.
    func prefix(_ count: Int) throws -> URL {
        let data = try Data(contentsOf: fixture("tar/webdataset.tar"))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("braindata-cut-\(count)-\(UUID()).tar")
        try data.prefix(count).write(to: url)
        return url
    }

    @Test func cutAfterAnExtendedHeaderGivesTheMembersOffset() throws {
        let url = try prefix(12_800 + 1024)
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(dataErrorMessage { _ = try TarReader(url).members() }
            == "\(url.path): truncated tar: the member at offset 12800 ends after its "
            + "extended header (file ends at 13824)")
    }

    @Test func cutInsideAHeaderGivesItsOffset() throws {
        let url = try prefix(12_800 + 200)
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(dataErrorMessage { _ = try TarReader(url).members() }
            == "\(url.path): truncated tar: incomplete header at offset 12800 (file ends at 13000)")
    }

    @Test func aCutAtASampleBoundaryWithoutTheEndMarkerKeepsTheWholeSamples() throws {
        let url = try prefix(12_800)
        defer { try? FileManager.default.removeItem(at: url) }
        #expect(try TarReader(url).samples().map(\.key) == ["sample000000000"])
    }
}
