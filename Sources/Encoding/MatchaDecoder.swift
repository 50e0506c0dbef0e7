import Torch

/// One U-Net level as Matcha's `nn.ModuleList([resnet, transformer_blocks, resample])`: keys "0", "1"
/// (a list of blocks), and "2" (Downsample1D, Upsample1D or a plain Conv1d(k3, p1) at the last level;
/// absent in the middle levels).
public final class UNetLevel: Module {
    @ModuleInfo(key: "0") public var resnet: ResnetBlock1D
    @ModuleInfo(key: "1") public var blocks: [Module]
    @ModuleInfo(key: "2") public var resample: Module?

    init(resnet: ResnetBlock1D, blocks: [Module], resample: Module?) {
        _resnet.wrappedValue = resnet
        _blocks.wrappedValue = blocks
        _resample.wrappedValue = resample
        super.init()
    }

    /// resnet, then the blocks over (B, T, C): x (B, C_in, T), mask (B, 1, T) -> (B, C_out, T)
    func body(_ x: Tensor, mask: Tensor, time: Tensor) -> Tensor {
        var h = resnet(x, mask: mask, time: time).transpose(1, 2)
        let sequenceMask = mask.squeeze(1)  // (B, T)
        for block in blocks { h = (block as! any MaskedSequenceBlock)(h, mask: sequenceMask) }
        return h.transpose(1, 2)
    }
    func resampled(_ x: Tensor) -> Tensor { (resample as! any UnaryLayer)(x) }
}

/// Matcha-TTS's U-Net vector-field estimator (`Decoder` in `matcha/models/components/decoder.py`):
/// input [x; mu] on channels, a sinusoidal time embedding through `time_mlp`, levels of ResnetBlock1D +
/// transformer or conformer blocks with one stride-2 downsample per level but the last, middle blocks,
/// the mirrored up path with skip connections, `final_block` and the 1×1 `final_proj`.
///
/// Names: `time_mlp.linear_{1,2}`, `down_blocks.{i}.{0,1,2}`, `mid_blocks.{i}.{0,1}`, `up_blocks.{i}.{0,1,2}`,
/// `final_block.block.{0,1}`, `final_proj`. Init is Matcha's: Kaiming normal (ReLU gain) on every Conv1d
/// and Linear weight, zero biases; transposed convolutions keep PyTorch's default.
public final class MatchaDecoder: Module {
    @ModuleInfo(key: "time_mlp") public var timeMLP: TimestepEmbedding
    @ModuleInfo(key: "down_blocks") public var downBlocks: [UNetLevel]
    @ModuleInfo(key: "mid_blocks") public var midBlocks: [UNetLevel]
    @ModuleInfo(key: "up_blocks") public var upBlocks: [UNetLevel]
    @ModuleInfo(key: "final_block") public var finalBlock: Block1D
    @ModuleInfo(key: "final_proj") public var finalProj: Conv1d
    public let inChannels: Int, outChannels: Int
    public let config: MatchaDecoderConfig

    public init(inChannels: Int, outChannels: Int, _ config: MatchaDecoderConfig) {
        (self.inChannels, self.outChannels, self.config) = (inChannels, outChannels, config)
        let channels = config.channels, timeDim = 4 * channels[0]
        func blocks(_ kind: MatchaBlockType, _ dim: Int) -> [Module] {
            (0..<config.nBlocks).map { _ -> Module in
                switch kind {
                case .transformer:
                    BasicTransformerBlock(dim, heads: config.numHeads, headDim: config.attentionHeadDim, dropout: config.dropout)
                case .conformer:
                    ConformerBlock(dim, heads: config.numHeads, headDim: config.attentionHeadDim, dropout: config.dropout)
                }
            }
        }
        _timeMLP.wrappedValue = TimestepEmbedding(inChannels, timeDim)
        var c = inChannels
        _downBlocks.wrappedValue = channels.enumerated().map { i, out in
            let last = i == channels.count - 1
            defer { c = out }
            return UNetLevel(resnet: ResnetBlock1D(c, out, timeEmbedDim: timeDim), blocks: blocks(config.downBlockType, out),
                             resample: last ? Conv1d(out, out, kernelSize: 3, padding: 1) : Downsample1D(out))
        }
        let mid = channels[channels.count - 1]
        _midBlocks.wrappedValue = (0..<config.numMidBlocks).map { _ in
            UNetLevel(resnet: ResnetBlock1D(mid, mid, timeEmbedDim: timeDim), blocks: blocks(config.midBlockType, mid), resample: nil)
        }
        let ups = channels.reversed() + [channels[0]]
        _upBlocks.wrappedValue = (0..<(ups.count - 1)).map { i in
            let out = ups[i + 1], last = i == ups.count - 2
            return UNetLevel(resnet: ResnetBlock1D(2 * ups[i], out, timeEmbedDim: timeDim), blocks: blocks(config.upBlockType, out),
                             resample: last ? Conv1d(out, out, kernelSize: 3, padding: 1) : Upsample1D(out))
        }
        _finalBlock.wrappedValue = Block1D(channels[0], channels[0])
        _finalProj.wrappedValue = Conv1d(channels[0], outChannels, kernelSize: 1)
        super.init()
        for (_, m) in namedModules() {
            if let conv = m as? Conv1d {
                Init.kaimingNormal_(conv.weight)
                conv.bias.map(Init.zeros_)
            } else if let linear = m as? Linear {
                Init.kaimingNormal_(linear.weight)
                linear.bias.map(Init.zeros_)
            }
        }
    }

    /// x (B, C_x, T), mask (B, 1, T), mu (B, C_mu, T) with C_x + C_mu = in_channels, t (B) or a scalar
    /// -> the velocity (B, out_channels, T), zero on padded frames. T must be a multiple of
    /// `config.lengthMultiple` (see `LatentCFM.padded`).
    public func callAsFunction(_ x: Tensor, mask: Tensor, mu: Tensor, t: Tensor) -> Tensor {
        let n = x.shape[2]
        precondition(x.shape[1] + mu.shape[1] == inChannels && mu.shape[2] == n && mask.shape == [x.shape[0], 1, n],
                     "MatchaDecoder: x \(x.shape), mu \(mu.shape), mask \(mask.shape) do not make (B, \(inChannels), T) with a (B, 1, T) mask")
        precondition(n % config.lengthMultiple == 0,
                     "MatchaDecoder: T = \(n) is not a multiple of \(config.lengthMultiple) (each level but the last halves it); pad it")
        var time = timeMLP(sinusoidalPosEmb(t, dim: inChannels))  // (B or 1, 4·channels[0])
        if time.shape[0] != x.shape[0] { time = time.expand([x.shape[0], time.shape[1]]) }
        var h = Tensor.cat([x, mu], dim: 1)
        var hiddens: [Tensor] = [], masks = [mask]
        for level in downBlocks {
            let m = masks[masks.count - 1]
            h = level.body(h, mask: m, time: time)
            hiddens.append(h)
            h = level.resampled(h * m)
            masks.append(m.slice(2, step: 2))
        }
        masks.removeLast()
        var m = masks[masks.count - 1]
        for level in midBlocks { h = level.body(h, mask: m, time: time) }
        for level in upBlocks {
            m = masks.removeLast()
            h = level.body(Tensor.cat([h, hiddens.removeLast()], dim: 1), mask: m, time: time)
            h = level.resampled(h * m)
        }
        return finalProj(finalBlock(h, mask: m) * m) * mask
    }
}
