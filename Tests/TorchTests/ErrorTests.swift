import Testing
@testable import Torch

/// libtorch failures inside `withTorchError` are thrown with libtorch's own message.
@Suite struct ErrorTests {
    private func message(_ body: () -> Void) -> String? {
        do {
            try withTorchError { body() }
            return nil
        } catch let error as TorchError {
            return error.message
        } catch {
            return "unexpected \(error)"
        }
    }

    @Test func matmulOfMismatchedShapes() {
        let m = message { _ = Tensor.zeros([2, 3]).matmul(Tensor.zeros([4, 5])) }
        #expect(m?.contains("mat1 and mat2 shapes cannot be multiplied (2x3 and 4x5)") == true, "\(m ?? "no error")")
    }

    @Test func reshapeToAWrongSize() {
        let m = message { _ = Tensor.zeros([2, 3]).reshape(5, 5) }
        #expect(m?.contains("shape '[5, 5]' is invalid for input of size 6") == true, "\(m ?? "no error")")
    }

    @Test func viewOfANonContiguousTensor() {
        let m = message { _ = Tensor.zeros([2, 3]).T.view(6) }
        #expect(m?.contains("view size is not compatible with input tensor's size and stride") == true, "\(m ?? "no error")")
    }

    @Test func catWithMismatchedDimensions() {
        let m = message { _ = Tensor.cat([Tensor.zeros([2, 3]), Tensor.zeros([2, 4])], dim: 0) }
        #expect(m?.contains("Sizes of tensors must match except in dimension 0. Expected size 3 but got size 4 for tensor number 1 in the list.") == true,
                "\(m ?? "no error")")
    }

    @Test func indexOutOfRange() {
        let m = message { _ = Tensor.zeros([3, 2])[5] }
        #expect(m?.contains("select(): index 5 out of range for tensor of size [3, 2] at dimension 0") == true, "\(m ?? "no error")")
        let g = message { _ = Tensor.zeros([3]).indexSelect(0, Tensor([7] as [Int])) }
        #expect(g?.contains("index out of range in self") == true, "\(g ?? "no error")")
    }

    @Test func dimensionOutOfRange() {
        let m = message { _ = Tensor.zeros([3, 2]).sum(4) }
        #expect(m?.contains("Dimension out of range (expected to be in range of [-2, 1], but got 4)") == true, "\(m ?? "no error")")
    }

    @Test func broadcastOfIncompatibleShapes() {
        let m = message { _ = Tensor.zeros([3]) + Tensor.zeros([4]) }
        #expect(m?.contains("The size of tensor a (3) must match the size of tensor b (4) at non-singleton dimension 0") == true,
                "\(m ?? "no error")")
    }

    @Test func theFirstFailureIsTheOneThrown() {
        let m = message {
            _ = Tensor.zeros([2, 3]).reshape(7)
            _ = Tensor.zeros([2, 3]).matmul(Tensor.zeros([4, 5]))
        }
        #expect(m?.contains("shape '[7]' is invalid for input of size 6") == true, "\(m ?? "no error")")
    }

    @Test func nestedScopesReportToTheInnermost() throws {
        var inner: TorchError?
        let outerResult = try withTorchError { () -> [Float] in
            do {
                try withTorchError { _ = Tensor.zeros([2]).reshape(3) }
            } catch let e as TorchError {
                inner = e
            }
            // the inner failure does not reach the outer scope
            return (Tensor.ones([2]) * 3).toArray(Float.self)
        }
        #expect(inner?.message.contains("shape '[3]' is invalid for input of size 2") == true)
        #expect(outerResult == [3, 3])
        // an outer failure after a clean inner scope is still reported
        let outer = message {
            _ = try? withTorchError { _ = Tensor.ones([2]) + 1 }
            _ = Tensor.zeros([2]).reshape(5)
        }
        #expect(outer?.contains("shape '[5]' is invalid for input of size 2") == true, "\(outer ?? "no error")")
    }

    @Test func anErrorDoesNotLeakIntoALaterScope() throws {
        #expect(message { _ = Tensor.zeros([2]).reshape(3) } != nil)
        let clean = try withTorchError { Tensor.arange(4).reshape(2, 2).sum().itemInt() }
        #expect(clean == 6)
    }

    @Test func errorsCarryEqualMessages() {
        #expect(TorchError("x") == TorchError("x"))
        #expect(TorchError("boom").description == "boom")
    }
}
