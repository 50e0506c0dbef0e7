import Foundation
import Testing
import Torch
@testable import BrainX

/// LLaVA's projectors from safetensors files as LLaVA stores them (`model.mm_projector.*`), against the
/// PyTorch modules that wrote them (16 -> 32).
@Suite struct MMProjectorTests {
    @Test(arguments: ["mlp2x_gelu", "linear"]) func projectorMatchesPyTorch(type: String) throws {
        let projector = try MMProjector.load(contentsOf: Fixture.url("mm_projector_\(type).safetensors"))
        #expect(projector.type == MMProjectorType(type))
        #expect(projector.inDim == 16 && projector.outDim == 32)
        let cases = try Fixture.cases()
        let out = Torch.noGrad { projector(try! #require(cases["projector.input"])) }
        expectClose(out, try #require(cases["projector.\(type)"]), "\(type)")
    }

    /// LLaVA-1.5's names: Linears at Sequential indices 0 and 2; the llava-hf names load onto them.
    @Test func namesAreLLaVAs() throws {
        let projector = MMProjector()
        #expect(projector.namedParameters().map(\.name)
            == ["mm_projector.0.weight", "mm_projector.0.bias", "mm_projector.2.weight", "mm_projector.2.bias"])
        #expect(projector.parameterCount == 1024 * 4096 + 4096 + 4096 * 4096 + 4096)
        #expect(MMProjector(.linear).namedParameters().map(\.name) == ["mm_projector.weight", "mm_projector.bias"])
        let file = try Safetensors.read(Fixture.url("mm_projector_mlp2x_gelu.safetensors"))
        let hf = Dictionary(uniqueKeysWithValues: file.map {
            ($0.key.replacingOccurrences(of: "model.mm_projector.0", with: "multi_modal_projector.linear_1")
                .replacingOccurrences(of: "model.mm_projector.2", with: "multi_modal_projector.linear_2"), $0.value)
        })
        #expect(hf.keys.sorted().first == "multi_modal_projector.linear_1.bias")
        let small = MMProjector(.llava15, inDim: 16, outDim: 32)
        #expect(try small.load(stateDict: hf).isClean)
    }

    @Test func filesWithoutAProjectorOrWithBadShapesAreRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("brainx-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let empty = dir.appendingPathComponent("empty.safetensors")
        try Safetensors.write(["vision_tower.weight": Tensor.zeros([2])], to: empty)
        let error = #expect(throws: SerializationError.self) { try MMProjector.load(contentsOf: empty) }
        #expect(error?.message == "\(empty.path): no LLaVA projector weights: expected mm_projector.0.weight (mlp2x_gelu) or mm_projector.weight (linear), under any prefix such as model.")
        var weights = try Safetensors.read(Fixture.url("mm_projector_mlp2x_gelu.safetensors"))
        weights["model.mm_projector.2.weight"] = Tensor.zeros([32, 31])
        let bad = dir.appendingPathComponent("bad.safetensors")
        try Safetensors.write(weights, to: bad)
        let shape = #expect(throws: SerializationError.self) { try MMProjector.load(contentsOf: bad) }
        #expect(shape?.message.contains("mm_projector.2.weight: expected shape [32, 32], found [32, 31]") == true)
        #expect(MMProjectorType("mlp3x_gelu") == .mlpGELU(depth: 3) && MMProjectorType("mlpx_gelu") == nil)
    }
}
