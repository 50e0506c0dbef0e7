import Foundation
import Training
import VoxelFormer

/// A training step with the diffusion prior (`PriorConfig()`, the reference size) at the paper's widths:
/// loss = SoftCLIP + 30 · prior loss on the brain model's backbone, AdamW over the model's and the prior's
/// parameters (the trainer's two groups), gradient clipping on the brain model's parameters only. Timed and
/// measured like `TrainingStep`, beside the same step in PyTorch (`scripts/bench_train_peer.py --prior`).
enum PriorStep {
    static let name = "prior paper V=2048 B=4 r=136 fp32"

    static var benchmarks: [Benchmark] {
        var paper = ModelConfig()
        paper.tomeR = 136
        let setup = TrainingStep.Setup(name: name, model: paper, voxels: 2048, batch: 4, bf16: false, warmup: 1,
                                       timed: 3, prior: PriorConfig())
        return [setup, setup.checkpointed].map { s in Benchmark(name: s.name, summary: TrainingStep.summary(s)) { TrainingStep.run(s) } }
    }
}
