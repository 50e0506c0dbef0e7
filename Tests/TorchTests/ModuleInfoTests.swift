import Testing
@testable import Torch

/// Declares one of everything a module can hold, interleaved, so the order rules show.
private final class Block: Module {
    @ModuleInfo(key: "q_proj") var q: Linear
    @ParameterInfo var scale: Tensor
    @ModuleInfo var layers: [Linear]
    @BufferInfo(key: "running_mean") var mean: Tensor
    @ModuleInfo var extra: Linear?
    @ParameterInfo var offset: Tensor?
    let width: Int

    init(extra: Bool) {
        width = 2
        _q.wrappedValue = Linear(2, 3)
        scale = Tensor.ones([3])
        layers = [Linear(3, 3, bias: false), Linear(3, 2, bias: false)]
        _mean.wrappedValue = Tensor.zeros([3])
        self.extra = extra ? Linear(2, 2) : nil
        offset = nil
        super.init()
    }
}

/// A subclass: PyTorch registers what `super().__init__()` declares first.
private class Base: Module {
    @ParameterInfo var first: Tensor
    init(first: Tensor) {
        self.first = first
        super.init()
    }
}
private final class Derived: Base {
    @ParameterInfo var second: Tensor
    @ModuleInfo var head: Linear
    init() {
        second = Tensor.zeros([1])
        head = Linear(1, 1)
        super.init(first: Tensor.zeros([2]))
    }
}

/// A module whose author forgot the wrappers on `weight` and `inner`.
private final class Forgetful: Module {
    @ParameterInfo var bias: Tensor
    let weight: Tensor
    let inner: Linear
    let shape: [Int]
    override init() {
        bias = Tensor.zeros([2])
        weight = Tensor.zeros([2, 2])
        inner = Linear(2, 2)
        shape = [2, 2]
        super.init()
    }
}

@Suite struct ModuleInfoTests {
    @Test func ownParametersComeFirstThenChildrenInDeclarationOrder() {
        let block = Block(extra: true)
        #expect(block.namedParameters().map(\.name) == [
            "scale", "q_proj.weight", "q_proj.bias", "layers.0.weight", "layers.1.weight", "extra.weight", "extra.bias",
        ])
        #expect(block.namedBuffers().map(\.name) == ["running_mean"])
        #expect(block.namedModules().map(\.name) == ["", "q_proj", "layers", "layers.0", "layers.1", "extra"])
        #expect(block.namedChildren.map(\.name) == ["q_proj", "layers", "extra"])
        #expect(block.parameters().allSatisfy { $0.requiresGrad })
        #expect(!block.mean.requiresGrad)
        #expect(block.parameterCount == 3 + (2 * 3 + 3) + 9 + 6 + (4 + 2))
    }

    @Test func absentOptionalsAreNoEntries() {
        let block = Block(extra: false)
        #expect(!block.namedParameters().map(\.name).contains { $0.hasPrefix("extra") || $0 == "offset" })
        #expect(block.namedModules().map(\.name) == ["", "q_proj", "layers", "layers.0", "layers.1"])
        #expect(block.extra == nil && block.offset == nil)
    }

    @Test func superclassPropertiesComeFirst() {
        #expect(Derived().namedParameters().map(\.name) == ["first", "second", "head.weight", "head.bias"])
    }

    @Test func assigningAfterConstructionUpdatesTheTree() {
        let block = Block(extra: false)
        block.extra = Linear(2, 2, bias: false)
        block.layers = [Linear(3, 3)]
        #expect(block.namedParameters().map(\.name) == [
            "scale", "q_proj.weight", "q_proj.bias", "layers.0.weight", "layers.0.bias", "extra.weight",
        ])
        block.eval()
        #expect(block.namedModules().allSatisfy { !$0.module.training })
    }

    @Test func propertiesLeftOutOfTheTreeAreFound() {
        #expect(Forgetful().unreachableProperties() == ["Forgetful.weight", "Forgetful.inner"])
        #expect(Block(extra: true).unreachableProperties().isEmpty)
        #expect(Sequential(Linear(2, 2), Lambda { $0 }).unreachableProperties().isEmpty)
    }

    @Test func sanitizeStripsAWrapperPrefixFromEveryKeyOnceOneKeyMatchesUnderIt() {
        let block = Block(extra: false)
        let w = Tensor.zeros([3, 2]), b = Tensor.zeros([3]), stray = Tensor.zeros([1])
        let out = block.sanitize(weights: ["module.q_proj.weight": w, "model.q_proj.bias": b, "module.other": stray,
                                           "model.module.scale": b, "model.module.more": stray, "outer.scale": b])
        #expect(Set(out.keys) == ["q_proj.weight", "q_proj.bias", "other", "scale", "more", "outer.scale"])
        #expect(out["q_proj.weight"] === w && out["other"] === stray)
        // Under no wrapper that fits, a prefixed key stays as it is.
        #expect(Set(block.sanitize(weights: ["module.other": stray]).keys) == ["module.other"])
        // An exact key keeps its place; its prefixed twin stays foreign.
        let both = block.sanitize(weights: ["scale": b, "module.scale": stray])
        #expect(both["scale"] === b && both["module.scale"] === stray)
    }

    /// A DistributedDataParallel checkpoint (every key under `module.`) names what does not fit in the
    /// model's own names, the stray key too; the old default left it as `module.stray`.
    @Test func aWrappedCheckpointNamesMissingAndUnexpectedKeysAlike() {
        let source = Block(extra: true)
        var foreign: [String: Tensor] = [:]
        for (name, t) in source.stateDict() { foreign["module." + name] = t }
        var stray = foreign
        stray["module.stray.weight"] = Tensor.zeros([1])
        #expect(throws: Module.LoadError.self) { try Block(extra: true).load(stateDict: stray) }
        #expect(Self.message { try Block(extra: true).load(stateDict: stray) }
            == "the weights do not fit the model:\nunexpected keys: stray.weight")
        var missing = foreign
        missing["module.layers.0.weight"] = nil
        #expect(Self.message { try Block(extra: true).load(stateDict: missing) }
            == "the weights do not fit the model:\nmissing keys: layers.0.weight")
        missing["module.extra.bias"] = nil
        missing["model.module.stray"] = Tensor.zeros([1])
        #expect(Self.message { try Block(extra: true).load(stateDict: missing) }
            == "the weights do not fit the model:\nmissing keys: layers.0.weight, extra.bias\nunexpected keys: model.module.stray")
    }

    static func message(_ body: () throws -> Any) -> String? {
        do { _ = try body() } catch { return "\(error)" }
        return nil
    }

    @Test func loadingADataParallelStateDictFillsEveryParameter() throws {
        let source = Block(extra: true), target = Block(extra: true)
        var foreign: [String: Tensor] = [:]
        for (name, t) in source.stateDict() { foreign["module." + name] = t }
        let report = try target.load(stateDict: foreign)
        #expect(report.isClean, "\(report)")
        for ((name, a), (_, b)) in zip(source.namedParameters(), target.namedParameters()) {
            #expect(a.toArray(Float.self) == b.toArray(Float.self), "\(name)")
        }
    }

    @Test func misShapedAndMissingWeightsAreNamedByTheirDottedKeys() {
        let block = Block(extra: true)
        var state = block.stateDict()
        state["layers.1.weight"] = Tensor.zeros([3, 3])
        state["extra.bias"] = nil
        let error = #expect(throws: Module.LoadError.self) { try block.load(stateDict: state) }
        #expect(error?.description == """
            the weights do not fit the model:
            missing keys: extra.bias
            layers.1.weight: expected shape [2, 3], found [3, 3]
            """)
    }

    /// `setData` is `t.data = src`, the primitive of `Module.to(device:)`: the module's own tensor object (the
    /// one an optimiser holds) takes the new dtype and values and stays a leaf that requires grad. (Only the
    /// CPU exists here, so the device move itself runs on GPU machines.)
    @Test func setDataReplacesTheValuesOfTheSameParameter() {
        let layer = Linear(3, 2)
        let weight = layer.weight
        let replacement = Tensor([1, 2, 3, 4, 5, 6] as [Double], shape: [2, 3])
        weight.setData(replacement)
        #expect(layer.weight === weight)
        #expect(layer.weight.dtype == .float64)
        #expect(layer.weight.toArray(Double.self) == [1, 2, 3, 4, 5, 6])
        #expect(layer.weight.requiresGrad)
        layer.to(device: .cpu)
        #expect(layer.weight === weight)
    }
}
