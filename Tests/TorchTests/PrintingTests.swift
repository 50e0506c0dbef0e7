import Testing
@testable import Torch

/// `description` against `str(t)` from PyTorch 2.13 for the tensors in `generate_ops.py`'s `prints`.
@Suite struct PrintingTests {
    /// matrix, integer floats, int64, bool, 0-d, float64, requires_grad, sci, 3-D, summarised, ...
    static let printed = Fixtures.ops.keys.filter { $0.hasPrefix("print.") && Fixtures.ops[$0]?.values != nil }.sorted()

    /// The argument list above cannot quietly shrink: every `print.*` entry of the fixture with values is
    /// in it, and the three without are the grad_fn ones `gradFnSuffixes` reads, so an entry whose values
    /// stopped decoding would fail here instead of dropping out of the run.
    @Test func everyPrintedFixtureIsChecked() {
        let all = Set(Fixtures.ops.keys.filter { $0.hasPrefix("print.") })
        #expect(!Self.printed.isEmpty)
        #expect(all.subtracting(Self.printed) == ["print.grad_fn_mul", "print.grad_fn_sum", "print.long_suffix_grad"])
    }

    @Test(arguments: printed)
    func descriptionEqualsPyTorchsStr(_ name: String) {
        let e = Fixtures.entry(name)
        var t = Fixtures.tensor(name)
        if let original = e.dtype_original { t = t.to(Fixtures.dtype(named: original)) }
        if e.requires_grad == true { t.requiresGrad = true }
        #expect(t.description == e.text!)
    }

    @Test func gradFnSuffixes() {
        let g = Tensor([1, 2] as [Float]).requiresGrad()
        #expect((g * 2).description == Fixtures.text("print.grad_fn_mul"))
        #expect((g * 2).sum().description == Fixtures.text("print.grad_fn_sum"))
        let long = (Tensor.arange(10, dtype: .float64) * 1.1).requiresGrad()
        #expect(long.description == Fixtures.text("print.long_suffix_grad"))
    }

    @Test func handWrittenForms() {
        #expect(Tensor([1, 2, 3] as [Int]).description == "tensor([1, 2, 3])")
        #expect(Tensor([0.5, 1] as [Float], shape: [2, 1]).description == "tensor([[0.5000],\n        [1.0000]])")
        #expect("\(Tensor(scalar: 2))" == "tensor(2.)")
        // a transposed (non-contiguous) tensor prints in logical order
        #expect(Tensor([1, 2, 3, 4] as [Int], shape: [2, 2]).T.description == "tensor([[1, 3],\n        [2, 4]])")
    }
}
