import CTorch

/// DistributedDataParallel's gradient engine, c10d's `Reducer`, over a process group: hooks on the parameters'
/// gradient accumulators all-reduce each bucket of gradients while backward is still running, and backward
/// returns with every gradient averaged over the ranks. The buckets are DDP's: parameters in order, the first
/// `firstBucketBytes` in a bucket of their own, the rest in buckets of `bucketBytes`, all-reduced from the last
/// parameters to the first (the order backward produces their gradients).
public final class GradientReducer: @unchecked Sendable {
    let handle: ct_reducer
    public let group: ProcessGroup
    /// The parameters it averages (those that require a gradient), in the caller's order.
    public let parameters: [Tensor]
    /// Each bucket's size in bytes, in the order they are all-reduced.
    public let bucketBytes: [Int]

    /// - Parameters:
    ///   - findUnusedParameters: DDP's `find_unused_parameters`: before each backward the loss's graph is walked
    ///     for parameters it does not reach, so that their buckets need not wait for them; a parameter that no
    ///     rank's loss reached keeps no gradient, one that some ranks' did gets the average (the others count 0).
    public init(parameters: [Tensor], group: ProcessGroup, firstBucketBytes: Int = 1 << 20, bucketBytes: Int = 25 << 20,
                findUnusedParameters: Bool = true) throws {
        let trained = parameters.filter(\.requiresGrad)
        var hs = trained.map { Optional($0.handle) }
        var out: ct_reducer?
        guard ct_reducer_create(group.handle, &hs, Int32(hs.count), Int64(firstBucketBytes), Int64(bucketBytes),
                                findUnusedParameters ? 1 : 0, &out) == 0, let out else {
            throw TorchError(String(cString: ct_last_error()))
        }
        handle = out
        var count: Int32 = 0
        var sizes = [Int64](repeating: 0, count: max(trained.count, 1))
        _ = ct_reducer_buckets(out, &sizes, Int32(sizes.count), &count)
        (self.group, self.parameters, self.bucketBytes) = (group, trained, sizes.prefix(Int(count)).map(Int.init))
    }
    deinit { ct_reducer_free(handle) }

    /// `loss.backward()`, with the parameters' gradients averaged over the ranks when it returns (every rank
    /// must call it once a step). Returns the seconds from the last gradient being ready to the end of
    /// backward: the all-reduce that backward did not hide.
    @discardableResult
    public func backward(_ loss: Tensor) throws -> Double {
        var exposed = 0.0
        guard ct_reducer_backward(handle, loss.handle, &exposed) == 0 else {
            throw TorchError(String(cString: ct_last_error()))
        }
        return exposed
    }
}
