import Foundation
import Testing
@testable import Torch

/// A float64 tensor of deterministic, irregular values (no random generator involved).
private func values(_ shape: [Int], phase: Double, scale: Double = 1.3) -> Tensor {
    let n = shape.reduce(1, *)
    return Tensor((0..<n).map { Foundation.sin(Double($0) * 1.7 + phase) * scale }, shape: shape)
}

/// Compares the gradients that backward gives for every input with float64 central finite differences
/// (eps 1e-6). A non-scalar output is first reduced against fixed irregular weights, so that gradients that
/// cancel under a plain sum (softmax, normalisation) are still checked.
private func expectGradientsMatchFiniteDifferences(_ inputs: [Tensor], eps: Double = 1e-6, tolerance: Double = 1e-6,
                                                   sourceLocation: SourceLocation = #_sourceLocation,
                                                   _ f: ([Tensor]) -> Tensor)
{
    let leaves = inputs.map { $0.detach().clone().requiresGrad(true) }
    let output = f(leaves)
    let weights = values(output.shape, phase: 0.25, scale: 1)
    func loss(_ xs: [Tensor]) -> Tensor { (f(xs) * weights).sum() }
    loss(leaves).backward()
    for (j, input) in inputs.enumerated() {
        guard let grad = leaves[j].grad else {
            Issue.record("input \(j) got no gradient", sourceLocation: sourceLocation)
            continue
        }
        #expect(grad.shape == input.shape, sourceLocation: sourceLocation)
        let analytic = grad.toArray(Double.self)
        let base = input.toArray(Double.self)
        var worst = 0.0
        for i in base.indices {
            func shifted(_ delta: Double) -> Double {
                var v = base
                v[i] += delta
                var xs = inputs
                xs[j] = Tensor(v, shape: input.shape)
                return Torch.noGrad { loss(xs).item() }
            }
            let numeric = (shifted(eps) - shifted(-eps)) / (2 * eps)
            worst = Swift.max(worst, Swift.abs(numeric - analytic[i]) / Swift.max(1, Swift.abs(numeric)))
        }
        #expect(worst < tolerance, "input \(j): worst relative gradient error \(worst)", sourceLocation: sourceLocation)
        // the check is only meaningful when the gradient is not zero everywhere
        #expect(analytic.contains { Swift.abs($0) > 1e-3 }, "input \(j): gradient is all zero", sourceLocation: sourceLocation)
    }
}

@Suite struct FiniteDifferenceTests {
    @Test func matmul() {
        expectGradientsMatchFiniteDifferences([values([3, 4], phase: 0), values([4, 2], phase: 1)]) { $0[0].matmul($0[1]) }
    }
    @Test func softmaxAndLogSoftmax() {
        expectGradientsMatchFiniteDifferences([values([3, 4], phase: 2)]) { F.softmax($0[0], dim: 1) }
        expectGradientsMatchFiniteDifferences([values([3, 4], phase: 3)]) { F.logSoftmax($0[0], dim: 0) }
    }
    @Test func layerNorm() {
        expectGradientsMatchFiniteDifferences([values([2, 5], phase: 4), values([5], phase: 5), values([5], phase: 6)]) {
            F.layerNorm($0[0], [5], weight: $0[1], bias: $0[2])
        }
    }
    @Test func linear() {
        expectGradientsMatchFiniteDifferences([values([3, 4], phase: 7), values([2, 4], phase: 8), values([2], phase: 9)]) {
            F.linear($0[0], weight: $0[1], bias: $0[2])
        }
    }
    @Test func conv1d() {
        expectGradientsMatchFiniteDifferences([values([1, 2, 6], phase: 10), values([3, 2, 3], phase: 11), values([3], phase: 12)]) {
            F.conv1d($0[0], weight: $0[1], bias: $0[2], stride: 2, padding: 1)
        }
    }
    @Test func scaledDotProductAttention() {
        let mask = Tensor([true, true, false, true, false, true, true, true, true, false, false, true], shape: [3, 4])
        expectGradientsMatchFiniteDifferences([values([1, 3, 4], phase: 13), values([1, 4, 4], phase: 14), values([1, 4, 2], phase: 15)]) {
            F.scaledDotProductAttention($0[0], $0[1], $0[2], mask: mask)
        }
        expectGradientsMatchFiniteDifferences([values([1, 3, 4], phase: 16), values([1, 4, 4], phase: 17), values([1, 4, 2], phase: 18)]) {
            F.scaledDotProductAttention($0[0], $0[1], $0[2], scale: 0.7)
        }
    }
    @Test func crossEntropy() {
        let target = Tensor([1, 0, 4, 2] as [Int])
        expectGradientsMatchFiniteDifferences([values([4, 5], phase: 19)]) {
            F.crossEntropy($0[0], target, labelSmoothing: 0.1)
        }
        let probs = F.softmax(values([4, 5], phase: 20), dim: 1)
        expectGradientsMatchFiniteDifferences([values([4, 5], phase: 21)]) { F.crossEntropy($0[0], probs) }
    }
    @Test func geluAndSilu() {
        expectGradientsMatchFiniteDifferences([values([7], phase: 22, scale: 2.5)]) { F.gelu($0[0]) }
        expectGradientsMatchFiniteDifferences([values([7], phase: 23, scale: 2.5)]) { F.gelu($0[0], approximate: true) }
        expectGradientsMatchFiniteDifferences([values([7], phase: 24, scale: 2.5)]) { F.silu($0[0]) }
    }
    @Test func normalize() {
        expectGradientsMatchFiniteDifferences([values([3, 4], phase: 25)]) { F.normalize($0[0], dim: 1) }
    }
    @Test func logsumexp() {
        expectGradientsMatchFiniteDifferences([values([3, 4], phase: 26)]) { $0[0].logsumexp(1) }
    }
    @Test func scatterReduceSum() {
        let index = Tensor([0, 2, 2, 1, 2, 2, 0, 1] as [Int], shape: [2, 4])
        expectGradientsMatchFiniteDifferences([values([3, 4], phase: 27), values([2, 4], phase: 28)]) {
            $0[0].scatterReduce(0, index, $0[1], .sum)
        }
    }
    @Test func gather() {
        let index = Tensor([0, 3, 3, 1, 2, 2, 0, 0, 1] as [Int], shape: [3, 3])
        expectGradientsMatchFiniteDifferences([values([3, 4], phase: 29)]) { $0[0].gather(1, index) }
    }
}

@Suite struct AutogradTests {
    @Test func backwardFillsLeafGradients() {
        let x = Tensor([1, -2, 3] as [Double])
        #expect(x.requiresGrad == false)
        #expect(x.requiresGrad(true) === x)
        #expect(x.requiresGrad)
        #expect(x.grad == nil)
        let y = (x * x).sum()
        #expect(y.requiresGrad)
        #expect(y.gradFnName == "SumBackward0")
        #expect(x.gradFnName == nil)
        // numbers reach libtorch the way Python passes them, so the graph records PyTorch's nodes
        #expect((x * 2).gradFnName == "MulBackward0")
        #expect((x + 1).gradFnName == "AddBackward0")
        #expect((x / 2).gradFnName == "DivBackward0")
        #expect((2 - x).gradFnName == "RsubBackward1")
        #expect((2 / x).gradFnName == "MulBackward0")
        #expect(x.pow(2).gradFnName == "PowBackward0")
        #expect(x.mean().gradFnName == "MeanBackward0")
        #expect(x.sum(0).gradFnName == "SumBackward1")
        y.backward()
        #expect(x.grad?.toArray(Double.self) == [2, -4, 6])
        // a second pass accumulates
        (x * 3).sum().backward()
        #expect(x.grad?.toArray(Double.self) == [5, -1, 9])
        x.zeroGrad(setToNone: false)
        #expect(x.grad?.toArray(Double.self) == [0, 0, 0])
        x.zeroGrad()
        #expect(x.grad == nil)
        // a non-scalar output takes the incoming gradient
        (x * 2).backward(Tensor([1, 10, 100] as [Double]))
        #expect(x.grad?.toArray(Double.self) == [2, 20, 200])
    }

    @Test func detachAndNoGradStopRecording() {
        let x = Tensor([1, 2] as [Float]).requiresGrad()
        let d = x.detach()
        #expect(d.requiresGrad == false)
        #expect(d.toArray(Float.self) == [1, 2])
        #expect(Torch.isGradEnabled)
        let inside = Torch.noGrad { () -> Tensor in
            #expect(Torch.isGradEnabled == false)
            return x * 2
        }
        #expect(inside.requiresGrad == false)
        #expect(inside.gradFnName == nil)
        #expect(Torch.isGradEnabled)
        #expect((x * 2).requiresGrad)
    }

    @Test func globalNormClippingEqualsPyTorchs() {
        let x = Fixtures.tensor("grad.x")
        let p1 = Fixtures.tensor("grad.p1").requiresGrad(), p2 = Fixtures.tensor("grad.p2").requiresGrad()
        (x.matmul(p1) + p2).pow(2).sum().backward()
        expectClose(p1.grad!, Fixtures.tensor("grad.p1_grad"))
        expectClose(p2.grad!, Fixtures.tensor("grad.p2_grad"))
        let total = clipGradNorm([p1, p2], maxNorm: 1)
        let expectedTotal = Fixtures.number("grad.total_norm")
        #expect(Swift.abs(total - expectedTotal) <= 1e-5 * expectedTotal)
        #expect(total > 1)  // so clipping really scaled the gradients
        expectClose(p1.grad!, Fixtures.tensor("grad.p1_clipped"))
        expectClose(p2.grad!, Fixtures.tensor("grad.p2_clipped"))
        let clippedNorm = Tensor.cat([p1.grad!.flatten(), p2.grad!]).norm().item()
        #expect(Swift.abs(clippedNorm - 1) < 1e-5)
    }
}
