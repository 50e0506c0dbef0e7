import Foundation
import Testing
@testable import Torch

@Suite struct ModuleIOTests {
    typealias Fixtures = SerializationFixtures

    /// The Swift twin of the generator's `nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4), nn.Linear(4, 2))`.
    static func model() -> Sequential { Sequential(Linear(3, 4), LayerNorm(4), Linear(4, 2)) }

    @Test func loadsAPyTorchStateDictAndComputesTheSameOutput() throws {
        let model = Self.model()
        let report = try model.loadSafetensors(Fixtures.url("sequential.safetensors"))
        #expect(report.isClean)
        #expect(report.description == "all keys matched")
        let io = try Safetensors.read(Fixtures.url("sequential_io.safetensors"))
        let x = try #require(io["x"]), expected = try #require(io["y"])
        let y = Torch.noGrad { model(x) }
        #expect(y.shape == [2, 2])
        for (a, b) in zip(y.toArray(Float.self), expected.toArray(Float.self)) { #expect(abs(a - b) <= 1e-5) }
    }

    @Test func saveThenLoadRoundTripsExactly() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("model.safetensors")
        Torch.manualSeed(1)
        let saved = Self.model()
        try saved.saveSafetensors(to: url, metadata: ["step": "7"])
        Torch.manualSeed(2)
        let loaded = Self.model()
        #expect(loaded.namedParameters()[0].tensor.bytes() != saved.namedParameters()[0].tensor.bytes())
        #expect(try loaded.loadSafetensors(url).isClean)
        for ((name, a), (_, b)) in zip(saved.namedParameters(), loaded.namedParameters()) {
            #expect(a.bytes() == b.bytes(), "\(name)")
        }
        #expect(try Safetensors.readMetadata(url) == ["step": "7"])
        #expect(try Safetensors.header(of: url).keys.sorted()
            == ["0.bias", "0.weight", "1.bias", "1.weight", "2.bias", "2.weight"])
    }

    /// A file with a missing key, an extra key and a wrong shape.
    static func misfitFile(in folder: URL) throws -> URL {
        let url = folder.appendingPathComponent("misfit.safetensors")
        try Safetensors.write([
            "0.weight": Tensor.zeros([3, 4]),
            "1.weight": Tensor.full([4], 2),
            "1.bias": Tensor.full([4], 3),
            "2.weight": Tensor.zeros([2, 4]),
            "2.bias": Tensor.zeros([2]),
            "3.weight": Tensor.zeros([1]),
        ], to: url)
        return url
    }

    @Test func reportsMissingUnexpectedAndMisshapedKeys() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = try Self.misfitFile(in: folder)
        let text = "missing keys: 0.bias\nunexpected keys: 3.weight\n0.weight: expected shape [4, 3], found [3, 4]"

        let strict = Self.model()
        do {
            try strict.loadSafetensors(url)
            Issue.record("a misfit file loaded under strict")
        } catch let error as Module.LoadError {
            #expect(error.description == "the weights do not fit the model:\n" + text)
        }
        #expect(strict.namedParameters()[2].tensor.toArray(Float.self) == [1, 1, 1, 1])

        let lenient = Self.model()
        let report = try lenient.loadSafetensors(url, strict: false)
        #expect(report.description == text)
        #expect(lenient.namedParameters()[2].name == "1.weight")
        #expect(lenient.namedParameters()[2].tensor.toArray(Float.self) == [2, 2, 2, 2])
        #expect(lenient.namedParameters()[3].tensor.toArray(Float.self) == [3, 3, 3, 3])
    }

    @Test func renameMapsForeignNamesAndDropsOthers() throws {
        let folder = try Fixtures.temporaryFolder()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("foreign.safetensors")
        let python = try Safetensors.read(Fixtures.url("sequential.safetensors"))
        var foreign = Dictionary(uniqueKeysWithValues: python.map { ("model.\($0.key)", $0.value) })
        foreign["model.num_batches_tracked"] = Tensor([5] as [Int64], shape: [])
        try Safetensors.write(foreign, to: url)

        let model = Self.model()
        let report = try model.loadSafetensors(url) { key in
            key.hasSuffix("num_batches_tracked") ? nil : String(key.dropFirst("model.".count))
        }
        #expect(report.isClean)
        for (name, tensor) in model.namedParameters() {
            #expect(tensor.bytes() == python[name]?.bytes(), "\(name)")
        }
        // Without `rename`, sanitize(weights:) strips the `model.` wrapper from every key; the foreign
        // counter is then named as the model's keys are.
        #expect(Self.message { try Self.model().loadSafetensors(url) }
            == "the weights do not fit the model:\nunexpected keys: num_batches_tracked")
    }

    static func message(_ body: () throws -> Any) -> String? {
        do { _ = try body() } catch { return "\(error)" }
        return nil
    }
}
