import CTorch
import Foundation

/// A failure reported by libtorch (a bad shape, a wrong dtype, ...), carrying libtorch's own message.
public struct TorchError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// Runs `body`, turning libtorch failures inside it into a thrown `TorchError` (the first one) instead of a
/// trap. Outside such a scope a libtorch failure is a programmer's mistake and stops the process with
/// libtorch's message. Tensors produced by failed calls inside the scope are empty placeholders.
public func withTorchError<R>(_ body: () throws -> R) throws -> R {
    let scope = TorchErrorScope.Box()
    let dict = Thread.current.threadDictionary
    let outer = dict[TorchErrorScope.key]
    dict[TorchErrorScope.key] = scope
    defer { dict[TorchErrorScope.key] = outer }
    let result = try body()
    if let message = scope.message { throw TorchError(message) }
    return result
}

enum TorchErrorScope {
    static let key = "voxelformer.torch.errorScope"
    final class Box { var message: String? }

    /// Records `message` in the innermost scope of this thread, or traps when there is none.
    static func report(_ message: String) {
        guard let box = Thread.current.threadDictionary[key] as? Box else {
            fatalError("libtorch: \(message)")
        }
        if box.message == nil { box.message = message }
    }
    /// Reports the shim's last error and returns a placeholder tensor.
    static func failed() -> Tensor {
        report(String(cString: ct_last_error()))
        var out: ct_tensor?
        var empty: [Int64] = [0]
        _ = ct_zeros(&empty, 1, DType.float32.rawValue, 0, 0, &out)
        return Tensor(handle: out!)
    }
}
