import Torch

/// Stage 1 of the encoding direction, MedARC's `MultiSubjectConvLinearEncoder` (the "mean anchor"):
/// each feature stream goes through its own `LinearConv` (Linear D_i → d, then a depthwise temporal
/// convolution), the streams' layer means are summed (not averaged), and a shared decoder plus one decoder
/// per subject map the (N, T, d) embedding to parcels.
///
/// Names (MedARC's state dict): `feat_embeds.{i}.fc.*`, `feat_embeds.{i}.conv.{weight,bias,attn_mask}`
/// (or `feat_embeds.{i}.{weight,bias}` when `encoder_kernel_size` ≤ 1), `feat_pool.weight` (linear pool
/// only), `shared_decoder.*`, `subject_decoders.{s}.*`.
public final class MultiSubjectConvLinearEncoder: Module {
    /// `LinearConv` or `Linear` per stream.
    @ModuleInfo(key: "feat_embeds") public var featEmbeds: [Module]
    @ModuleInfo(key: "feat_pool") public var featPool: LinearPoolLatent?
    @ModuleInfo(key: "shared_decoder") public var sharedDecoder: Linear?
    @ModuleInfo(key: "subject_decoders") public var subjectDecoders: [Linear]?
    public let config: ConvLinearEncoderConfig

    public init(_ config: ConvLinearEncoderConfig) {
        self.config = config
        let d = config.embedDim, k = config.encoderKernelSize
        _featEmbeds.wrappedValue = config.featDims.map { f -> Module in
            k > 1 ? LinearConv(f.dim, d, kernelSize: k, causal: config.encoderCausal,
                               positive: config.encoderPositive, blockwise: config.encoderBlockwise)
                : Linear(f.dim, d)
        }
        _featPool.wrappedValue = config.globalPool == .linear
            ? LinearPoolLatent(embedDim: d, featureCount: config.featDims.map(\.layers).reduce(0, +)) : nil
        _sharedDecoder.wrappedValue = config.withSharedDecoder ? Linear(d, config.targetDim) : nil
        _subjectDecoders.wrappedValue = config.withSubjectDecoders
            ? (0..<config.numSubjects).map { _ in Linear(d, config.targetDim) } : nil
        super.init()
        // MedARC's `_init_weights`: trunc_normal(std 0.02) on every Linear and DepthConv1d weight, zero biases.
        for (_, m) in namedModules() {
            if let linear = m as? Linear {
                Init.truncNormal_(linear.weight, std: 0.02)
                linear.bias.map(Init.zeros_)
            } else if let conv = m as? DepthConv1d {
                Init.truncNormal_(conv.weight, std: 0.02)
                conv.bias.map(Init.zeros_)
            }
        }
    }

    /// The streams' summed embedding: features[i] (N, T, D_i) or (N, T, L_i, D_i) -> (N, T, d).
    public func embed(_ features: [Tensor]) -> Tensor {
        precondition(features.count == featEmbeds.count,
                     "MultiSubjectConvLinearEncoder: \(features.count) feature streams for \(featEmbeds.count)")
        let streams = zip(features, featEmbeds).enumerated().map { i, pair -> Tensor in
            let (x, layer) = pair
            let f = config.featDims[i]
            precondition((x.ndim == 3 && f.layers == 1 || x.ndim == 4 && x.shape[2] == f.layers) && x.shape.last == f.dim,
                         "MultiSubjectConvLinearEncoder: stream \(i) takes (N, T, \(f.layers > 1 ? "\(f.layers), " : "")\(f.dim)), got \(x.shape)")
            let layered = x.ndim == 3 ? x.unsqueeze(1) : x.transpose(1, 2)  // (N, L, T, D)
            return (layer as! any UnaryLayer)(layered)  // (N, L, T, d)
        }
        if let featPool {
            return featPool(Tensor.cat(streams, dim: 1).transpose(1, 2))  // (N, T, L, d) -> (N, T, d)
        }
        return streams.dropFirst().reduce(streams[0].mean(1)) { $0 + $1.mean(1) }
    }

    /// features -> predicted parcels (N, S, T, V), subjects in the config's order.
    public func callAsFunction(_ features: [Tensor]) -> Tensor {
        let x = embed(features)  // (N, T, d)
        let (n, t) = (x.shape[0], x.shape[1])
        var out: Tensor?
        if let sharedDecoder {
            out = sharedDecoder(x).unsqueeze(1).expand([n, config.numSubjects, t, config.targetDim])
        }
        if let subjectDecoders {
            let subjects = Tensor.stack(subjectDecoders.map { $0(x) }, dim: 1)
            out = out.map { $0 + subjects } ?? subjects
        }
        return out!
    }
}
