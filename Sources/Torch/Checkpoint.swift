import CTorch

/// Activation checkpointing, like `torch.utils.checkpoint`: `body` runs without keeping its intermediate
/// tensors, and runs again during the backward pass (from the same random-generator and autocast state, so
/// dropout draws the same masks) to compute its gradients. Same values and gradients, less memory, one more
/// forward of the block per step.
///
/// - Parameters:
///   - inputs: the tensors `body` receives (detached copies during the recomputation).
///   - parameters: every other tensor `body` reads that needs a gradient (a module's `parameters()`); body
///     reads them itself, they are listed so that their gradients flow through the checkpoint.
///   - outputs: how many tensors `body` returns.
///   - enabled: false runs `body` on `inputs` as a plain call (a model's checkpointing switch).
/// Without gradient recording, `body` simply runs on `inputs` too.
public func checkpoint(_ inputs: [Tensor], parameters: @autoclosure () -> [Tensor], outputs: Int, enabled: Bool = true,
                       _ body: @escaping ([Tensor]) -> [Tensor]) -> [Tensor]
{
    guard enabled, Torch.isGradEnabled else { return body(inputs) }
    let parameters = parameters()
    let box = Unmanaged.passRetained(CheckpointBody(body, outputs: outputs)).toOpaque()
    var results = [ct_tensor?](repeating: nil, count: outputs)
    let status = inputs.map { Optional($0.handle) }.withUnsafeBufferPointer { ins in
        parameters.map { Optional($0.handle) }.withUnsafeBufferPointer { params in
            results.withUnsafeMutableBufferPointer { outs in
                ct_checkpoint(checkpointTrampoline, box, checkpointRelease, ins.baseAddress, Int64(inputs.count),
                              params.baseAddress, Int64(parameters.count), outs.baseAddress, Int64(outputs))
            }
        }
    }
    // the inputs and parameters were borrowed for the call; keep them alive until it returned
    withExtendedLifetime((inputs, parameters)) {}
    if status != 0 { return (0..<outputs).map { _ in TorchErrorScope.failed() } }
    return results.map { Tensor(handle: $0!) }
}

/// The closure that the shim calls back, kept alive by the graph node (released through `checkpointRelease`).
private final class CheckpointBody {
    let body: ([Tensor]) -> [Tensor]
    let outputs: Int
    init(_ body: @escaping ([Tensor]) -> [Tensor], outputs: Int) {
        self.body = body
        self.outputs = outputs
    }
}

private let checkpointTrampoline: ct_checkpoint_fn = { context, inputs, count, outputs, outputCount in
    let box = Unmanaged<CheckpointBody>.fromOpaque(context!).takeUnretainedValue()
    let tensors = (0..<Int(count)).map { Tensor(handle: inputs![$0]!) }  // owned here from now on
    let results = box.body(tensors)
    guard results.count == Int(outputCount) else { return 1 }
    for (i, t) in results.enumerated() {
        var copy: ct_tensor?
        if ct_shallow_clone(t.handle, &copy) != 0 { return 1 }
        outputs![i] = copy  // the shim takes this handle
    }
    return 0
}

private let checkpointRelease: @convention(c) (UnsafeMutableRawPointer?) -> Void = { context in
    Unmanaged<CheckpointBody>.fromOpaque(context!).release()
}
