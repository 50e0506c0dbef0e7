import Testing
import Torch
import VoxelFormer

/// Activation checkpointing (`train.activation_checkpointing`) must not change the step: the same loss and the
/// same gradient for every parameter as the plain path, with dropout and DropPath on (the recomputation
/// replays the forward's random draws). Fixture-free: the plain path is the reference.
@Suite(.serialized) struct ActivationCheckpointTests {
    /// A small model with every random part on: dropout 0.3, DropPath up to 0.3, ToMe merging with carried sizes.
    static let small: ModelConfig = {
        var c = ModelConfig()
        (c.encoderHiddenDim, c.decoderHiddenDim, c.clipSeqDim, c.clipEmbDim, c.tomeR) = (16, 24, 4, 8, 3)
        (c.drop, c.dropPathRate, c.nBlocksDecoder, c.natDepth) = (0.3, 0.3, 2, 2)
        c.tomeCarrySizes = true
        return c
    }()

    /// The loss and each parameter's gradient after one forward and backward from seed 7.
    static func step(checkpointing: Bool) -> (loss: Double, grads: [(String, Tensor)]) {
        Torch.manualSeed(0)
        let model = VoxelFormerModel(small)
        model.train()
        model.activationCheckpointing = checkpointing
        let voxels = Tensor.randn([3, 1, 20])
        let coords = Tensor.cat([81, 104, 83].map { Tensor.randint(0, $0, [20, 1]) }, dim: 1).to(.float32)
        Torch.manualSeed(7)
        let (backbone, clip) = model(voxels, coords: coords)
        let loss = backbone.square().mean() + clip.sin().sum()
        loss.backward()
        return (loss.item(), model.namedParameters().map { ($0.name, $0.tensor.grad ?? Tensor.zeros($0.tensor.shape)) })
    }

    @Test func voxelFormerGradientsEqualThePlainPath() {
        let plain = Self.step(checkpointing: false)
        let recomputed = Self.step(checkpointing: true)
        #expect(plain.loss == recomputed.loss)
        #expect(plain.grads.map(\.0) == recomputed.grads.map(\.0))
        var nonzero = 0
        for ((name, a), (_, b)) in zip(plain.grads, recomputed.grads) {
            let diff = (a - b).abs().max().item()
            #expect(diff <= 1e-6 * max(1, a.abs().max().item()), "\(name): gradients differ by \(diff)")
            if a.abs().max().item() > 0 { nonzero += 1 }
        }
        // the comparison is mostly of nonzero gradients (clip_head, unused, and a few others are zero)
        #expect(nonzero > plain.grads.count / 2)
    }

    @Test func priorGradientsEqualThePlainPath() {
        func step(_ checkpointing: Bool) -> (Double, [(String, Tensor)]) {
            Torch.manualSeed(0)
            var c = PriorConfig()
            (c.dim, c.depth, c.dimHead, c.heads, c.numTokens) = (32, 2, 40, 2, 4)
            let prior = DiffusionPrior(c)
            prior.train()
            prior.activationCheckpointing = checkpointing
            let backbone = Tensor.randn([2, 4, 32]).requiresGrad()
            let target = Tensor.randn([2, 4, 32])
            Torch.manualSeed(3)
            let loss = prior.loss(backbone: backbone, target: target)
            loss.backward()
            let grads = prior.namedParameters().map { ($0.name, $0.tensor.grad ?? Tensor.zeros($0.tensor.shape)) }
            return (loss.item(), grads + [("backbone", backbone.grad!)])
        }
        let (plainLoss, plain) = step(false)
        let (loss, recomputed) = step(true)
        #expect(plainLoss == loss)
        for ((name, a), (_, b)) in zip(plain, recomputed) {
            let diff = (a - b).abs().max().item()
            #expect(diff <= 1e-6 * max(1, a.abs().max().item()), "\(name): gradients differ by \(diff)")
        }
    }

    /// In evaluation the option changes nothing: the blocks run as they are, with the plain path's values.
    @Test func evaluationAndNoGradRunThePlainPath() {
        Torch.manualSeed(0)
        let model = VoxelFormerModel(Self.small)
        model.eval()
        model.activationCheckpointing = true
        let voxels = Tensor.randn([2, 1, 20])
        let coords = Tensor.cat([81, 104, 83].map { Tensor.randint(0, $0, [20, 1]) }, dim: 1).to(.float32)
        let a = model(voxels, coords: coords).clipVoxels
        model.activationCheckpointing = false
        let b = model(voxels, coords: coords).clipVoxels
        #expect((a - b).abs().max().item() == 0)
    }
}
