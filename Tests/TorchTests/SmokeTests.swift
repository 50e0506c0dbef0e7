import Testing
@testable import Torch

@Test func addBroadcastsAScalar() {
    let t = Tensor([1.0, 2.0, 3.0] as [Float]) + 1
    #expect(t.toArray(Float.self) == [2, 3, 4])
    #expect(t.shape == [3])
}
