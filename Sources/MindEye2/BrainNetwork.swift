import Torch

/// The two-layer MLP of a mixer block: Linear(n, n) -> GELU -> Dropout -> Linear(n, n). Keys are the
/// reference `nn.Sequential` indices ("1" is the parameterless GELU).
public final class MixerMLP: Module, UnaryLayer {
    @ModuleInfo(key: "0") public var fc1: Linear
    @ModuleInfo(key: "2") public var dropout: Dropout
    @ModuleInfo(key: "3") public var fc2: Linear

    public init(_ n: Int, drop: Double) {
        _fc1.wrappedValue = Linear(n, n)
        _dropout.wrappedValue = Dropout(drop)
        _fc2.wrappedValue = Linear(n, n)
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { fc2(dropout(F.gelu(fc1(x)))) }
}

/// A mixer block: LayerNorm(n) then `MixerMLP(n)`, over the last axis (keys "0" and "1").
public final class MixerBlock: Module, UnaryLayer {
    @ModuleInfo(key: "0") public var norm: LayerNorm
    @ModuleInfo(key: "1") public var mlp: MixerMLP

    public init(_ n: Int, drop: Double) {
        _norm.wrappedValue = LayerNorm(n)
        _mlp.wrappedValue = MixerMLP(n, drop: drop)
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor { mlp(norm(x)) }
}

/// The retrieval submodule `clip_proj`, per token: (LN -> GELU -> Linear) three times, all at width E.
/// Keys are the reference `nn.Sequential` indices; GELUs sit at 1, 4 and 7.
public final class ClipProjector: Module, UnaryLayer {
    @ModuleInfo(key: "0") public var norm1: LayerNorm
    @ModuleInfo(key: "2") public var fc1: Linear
    @ModuleInfo(key: "3") public var norm2: LayerNorm
    @ModuleInfo(key: "5") public var fc2: Linear
    @ModuleInfo(key: "6") public var norm3: LayerNorm
    @ModuleInfo(key: "8") public var fc3: Linear

    public init(_ e: Int) {
        _norm1.wrappedValue = LayerNorm(e)
        _fc1.wrappedValue = Linear(e, e)
        _norm2.wrappedValue = LayerNorm(e)
        _fc2.wrappedValue = Linear(e, e)
        _norm3.wrappedValue = LayerNorm(e)
        _fc3.wrappedValue = Linear(e, e)
        super.init()
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        let x = fc1(F.gelu(norm1(x)))
        return fc3(F.gelu(norm3(fc2(F.gelu(norm2(x))))))
    }
}

/// MindEye2's backbone (the reference `BrainNetwork` with seq_len 1, as `Train.ipynb` builds it):
/// residual mixer blocks over the ridge output, `backbone_linear` to the prior's (Q, E) tokens, and the
/// retrieval head `clip_proj` on those tokens. Names: `mixer_blocks1.{k}.*`, `mixer_blocks2.{k}.*`,
/// `backbone_linear.*`, `clip_proj.*`.
///
/// The low-level (blurry) submodule is not built. Its layers belong beside these under the reference
/// names (`blin1`, `bnorm`, `bupsampler`, `b_maps_projector`); it reads `trunk(_:)`'s output, so it can
/// be a module of its own whose layers are registered on this one (`register(module:)` puts them after
/// the declared children, where PyTorch lists them). See docs/mindeye2.md.
public final class BrainNetwork: Module {
    /// Mix the h features of each token.
    @ModuleInfo(key: "mixer_blocks1") public var mixerBlocks1: [MixerBlock]
    /// Mix the seq_len = 1 tokens: LayerNorm(1) of one element is its bias, so each block adds a learned constant.
    @ModuleInfo(key: "mixer_blocks2") public var mixerBlocks2: [MixerBlock]
    @ModuleInfo(key: "backbone_linear") public var backboneLinear: Linear
    @ModuleInfo(key: "clip_proj") public var clipProj: ClipProjector
    public let config: MindEye2Config
    static let seqLen = 1

    public init(_ config: MindEye2Config) {
        self.config = config
        let h = config.hiddenDim
        _mixerBlocks1.wrappedValue = (0..<config.nBlocks).map { _ in MixerBlock(h, drop: config.drop) }
        _mixerBlocks2.wrappedValue = (0..<config.nBlocks).map { _ in MixerBlock(Self.seqLen, drop: config.drop) }
        _backboneLinear.wrappedValue = Linear(h * Self.seqLen, config.clipSeqDim * config.clipEmbDim)
        _clipProj.wrappedValue = ClipProjector(config.clipEmbDim)
        super.init()
    }

    /// The mixer stack: (B, 1, h) -> (B, h), what `backbone_linear` (and the low-level `blin1`) read.
    ///
    /// Reference (`effective_blocks: false`), as its `forward` runs: block k's first half adds to the
    /// previous first-half result (`residual1`) and its second half to the previous second-half result
    /// (`residual2`, first the ridge output). The second half ignores its input (LayerNorm over one
    /// element), so the stack returns ridge + Σ constants and the first halves never reach the output.
    /// They are still computed, as in the reference: they stay in the autograd graph (zero gradients
    /// through LayerNorm(1), so weight decay still shrinks them) and training-mode dropout draws the same
    /// random numbers.
    ///
    /// Fix (`effective_blocks: true`): the usual mixer residuals, each half adding to its own input,
    /// x ← x + block1(x), then x ← x + block2(xᵀ)ᵀ. Same parameters and names, so weights load either way.
    public func trunk(_ x: Tensor) -> Tensor {
        let b = x.shape[0]
        var x = x  // (B, 1, h)
        if config.effectiveBlocks {
            for (block1, block2) in zip(mixerBlocks1, mixerBlocks2) {
                x = x + block1(x)
                x = x + block2(x.permute(0, 2, 1)).permute(0, 2, 1)
            }
        } else {
            var residual1 = x
            var residual2 = x.permute(0, 2, 1)  // (B, h, 1)
            for (block1, block2) in zip(mixerBlocks1, mixerBlocks2) {
                x = block1(x) + residual1
                residual1 = x
                x = block2(x.permute(0, 2, 1)) + residual2  // (B, h, 1)
                residual2 = x
                x = x.permute(0, 2, 1)
            }
        }
        return x.reshape([b, -1])  // (B, h)
    }

    /// ridge output (B, 1, h) -> backbone (B, Q, E) for the diffusion prior, clip_voxels (B, Q, E) for retrieval.
    public func callAsFunction(_ x: Tensor) -> (backbone: Tensor, clipVoxels: Tensor) {
        precondition(x.ndim == 3 && x.shape[1] == Self.seqLen && x.shape[2] == config.hiddenDim,
                     "BrainNetwork: expected (B, 1, \(config.hiddenDim)), got \(x.shape)")
        let features = trunk(x)
        let backbone = backboneLinear(features).reshape([features.shape[0], -1, config.clipEmbDim])  // (B, Q, E)
        return (backbone, clipProj(backbone))
    }
}
