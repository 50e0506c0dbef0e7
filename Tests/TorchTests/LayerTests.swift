import Foundation
import Testing
@testable import Torch

@Suite struct ModuleTreeTests {
    @Test func parameterNamesAreDottedLikePyTorch() {
        let net = Sequential(Linear(3, 4), Lambda { $0.relu() }, Linear(4, 2))
        #expect(net.namedParameters().map(\.name) == ["0.weight", "0.bias", "2.weight", "2.bias"])
        #expect(net.parameterCount == 3 * 4 + 4 + 4 * 2 + 2)
        #expect(Set(net.stateDict().keys) == ["0.weight", "0.bias", "2.weight", "2.bias"])
        #expect(net.namedModules().map(\.name) == ["", "0", "1", "2"])
        #expect(net.parameters().allSatisfy { $0.requiresGrad })
        let out = net(Tensor.ones([5, 3]))
        #expect(out.shape == [5, 2])
        let nested = Sequential(Sequential(Linear(2, 2, bias: false)), LayerNorm(2))
        #expect(nested.namedParameters().map(\.name) == ["0.0.weight", "1.weight", "1.bias"])
    }

    @Test func trainAndEvalReachEveryChild() {
        let inner = Dropout(0.5)
        let net = Sequential(Linear(2, 2), Sequential(inner))
        #expect(net.training && inner.training)
        net.eval()
        #expect(!net.training)
        #expect(!inner.training)
        #expect(net.namedModules().filter { $0.module.training }.isEmpty)
        net.train()
        #expect(inner.training)
    }
}

@Suite(.serialized) struct LayerInitTests {
    @Test func linearAndConvDefaultsStayWithinOneOverSqrtFanIn() {
        let linear = Linear(64, 300)
        let bound = 1 / 64.0.squareRoot()
        let w = linear.weight.toArray(Float.self).map(Double.init)
        let b = linear.bias!.toArray(Float.self).map(Double.init)
        #expect(w.allSatisfy { Swift.abs($0) <= bound })
        #expect(b.allSatisfy { Swift.abs($0) <= bound })
        // uniform over the whole interval: with 19200 draws the extremes come within 1% of the bound
        #expect(w.map(Swift.abs).max()! > 0.99 * bound)
        let conv = Conv1d(4, 8, kernelSize: 5)  // fan_in = 4 * 5
        let convBound = 1 / 20.0.squareRoot()
        #expect(conv.weight.shape == [8, 4, 5])
        #expect(conv.weight.toArray(Float.self).allSatisfy { Double(Swift.abs($0)) <= convBound })
        #expect(conv.bias!.toArray(Float.self).allSatisfy { Double(Swift.abs($0)) <= convBound })
        #expect(conv.weight.toArray(Float.self).map { Double(Swift.abs($0)) }.max()! > 0.9 * convBound)
    }

    @Test func seededLayersEqualPyTorchsInitialisation() {
        // kaiming_uniform(a=√5) then uniform bias, drawn in PyTorch's order; bounds computed in double may
        // differ from Python's in the last bit, hence the tolerance
        let linearExpected = Tensor.cat([Fixtures.tensor("nn.linear_weight").flatten(), Fixtures.tensor("nn.linear_bias")])
        let linear = SeededDraws.draw(seed: 11, matching: linearExpected) {
            let l = Linear(3, 4)
            return Tensor.cat([l.weight.flatten(), l.bias!])
        }
        expectClose(linear, linearExpected, rtol: 1e-6, atol: 1e-7)
        let convExpected = Tensor.cat([Fixtures.tensor("nn.conv_weight").flatten(), Fixtures.tensor("nn.conv_bias")])
        let conv = SeededDraws.draw(seed: 13, matching: convExpected) {
            let c = Conv1d(2, 3, kernelSize: 3)
            return Tensor.cat([c.weight.flatten(), c.bias!])
        }
        expectClose(conv, convExpected, rtol: 1e-6, atol: 1e-7)
    }

    @Test func embeddingLooksUpRowsOfItsSeededTable() {
        let expected = Fixtures.tensor("nn.embedding_weight")
        let weight = SeededDraws.draw(seed: 12, matching: expected) { Embedding(6, 3).weight }
        expectEqual(weight, expected)
        let table = Embedding(6, 3)
        table.weight.copy_(expected)
        let rows = table(Tensor([5, 0, 2, 2] as [Int], shape: [2, 2]))
        #expect(rows.shape == [2, 2, 3])
        expectEqual(rows, Fixtures.tensor("nn.embedding_lookup"))
        #expect(table.namedParameters().map(\.name) == ["weight"])
    }

    @Test func truncNormalStaysWithinBoundsWithTheTruncatedStd() {
        let t = Tensor.empty([200_000])
        SeededDraws.run(seed: 21) { Init.truncNormal_(t, std: 0.02, a: -0.04, b: 0.04) }
        let v = t.toArray(Float.self).map(Double.init)
        #expect(v.allSatisfy { $0 >= -0.04 && $0 <= 0.04 })
        // a normal cut at ±2σ keeps std σ·sqrt(1 - 2·2φ(2)/(2Φ(2)-1)) = 0.8796σ; with 2e5 draws the sample
        // std has a relative standard error near 0.2%, so 2% is ten standard errors
        let mean = v.reduce(0, +) / Double(v.count)
        let std = (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(v.count)).squareRoot()
        #expect(Swift.abs(std - 0.8796 * 0.02) < 0.02 * 0.8796 * 0.02)
        let meanTolerance: Double = 5 * 0.8796 * 0.02 / Double(v.count).squareRoot()  // 5 standard errors
        #expect(Swift.abs(mean) < meanTolerance)
        #expect(v.map(Swift.abs).max()! > 0.039)
        // timm's usage (std 0.02, bounds ±2 absolute) is an untruncated normal
        let wide = Tensor.empty([200_000])
        SeededDraws.run(seed: 22) { Init.truncNormal_(wide, std: 0.02) }
        let w = wide.toArray(Float.self).map(Double.init)
        let wideStd = (w.map { $0 * $0 }.reduce(0, +) / Double(w.count)).squareRoot()
        #expect(Swift.abs(wideStd - 0.02) < 0.02 * 0.02)
    }

    @Test func kaimingNormalHasStdSqrtTwoOverFanIn() {
        let t = Tensor.empty([256, 1024])  // fan_in 1024
        SeededDraws.run(seed: 23) { Init.kaimingNormal_(t) }
        let v = t.toArray(Float.self).map(Double.init)
        let expected = (2.0 / 1024).squareRoot()
        // 262144 draws: the sample std's relative standard error is 1/sqrt(2n) ≈ 0.14%, so 1% is 7 of them
        let std = (v.map { $0 * $0 }.reduce(0, +) / Double(v.count)).squareRoot()
        #expect(Swift.abs(std - expected) < 0.01 * expected)
        let mean = v.reduce(0, +) / Double(v.count)
        #expect(Swift.abs(mean) < 5 * expected / Double(v.count).squareRoot())
    }
}

@Suite struct NormLayerTests {
    @Test func layerNormForwardEqualsF() {
        let x = Fixtures.tensor("fn.ln_x")
        let ln = LayerNorm(4)
        #expect(ln.namedParameters().map(\.name) == ["weight", "bias"])
        ln.weight!.copy_(Fixtures.tensor("fn.ln_w"))
        ln.bias!.copy_(Fixtures.tensor("fn.ln_b"))
        expectFixture(ln(x), "fn.layer_norm")
        let plain = LayerNorm([3, 4], eps: 1e-3, affine: false)
        #expect(plain.parameterCount == 0)
        expectFixture(plain(x), "fn.layer_norm_2d_plain")
    }

    @Test func groupNormForwardEqualsF() {
        let x = Fixtures.tensor("fn.gn_x")
        let gn = GroupNorm(groups: 3, channels: 6)
        #expect(gn.parameterCount == 12)
        gn.weight.copy_(Fixtures.tensor("fn.gn_w"))
        gn.bias.copy_(Fixtures.tensor("fn.gn_b"))
        expectFixture(gn(x), "fn.group_norm")
        expectFixture(GroupNorm(groups: 2, channels: 6)(x), "fn.group_norm_plain")
    }
}
