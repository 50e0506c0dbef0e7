import BrainData
import Foundation
import Testing
import Torch
@testable import Training
@testable import VoxelFormer

/// A tiny in-memory decoding problem: targets are a fixed function of a latent per image, voxels a linear
/// read-out of the latent plus noise. Enough structure for the trainer to learn within a few epochs.
final class InMemoryData: TrainingData, @unchecked Sendable {
    let subjects: [Int]
    var trainSubjects: [Int] { subjects }
    var testSubjects: [Int] { subjects }
    let coords: [Int: Tensor]
    let trainVoxels: [Int: Tensor], trainTargets: [Int: Tensor]
    let testVoxels: [Int: Tensor], testTargets: [Int: Tensor], testIDs: [Int: [Int]]

    init(subjects: [Int] = [1, 2], voxels: Int = 40, trainImages: Int = 64, testImages: Int = 24, tokens: Int = 2,
         width: Int = 8, noise: Double = 0.3, seed: UInt64 = 7)
    {
        Torch.manualSeed(seed)
        self.subjects = subjects
        let latent = 6
        let images = trainImages + testImages
        let z = Tensor.randn([images, latent])
        let mix = Tensor.randn([latent, tokens * width])
        let targets = (z.matmul(mix)).tanh().reshape(images, tokens, width)
        var coords: [Int: Tensor] = [:], trV: [Int: Tensor] = [:], trT: [Int: Tensor] = [:]
        var teV: [Int: Tensor] = [:], teT: [Int: Tensor] = [:], teI: [Int: [Int]] = [:]
        for s in subjects {
            coords[s] = Tensor.randint(0, 10, [voxels, 3]).to(.float32)
            let readout = Tensor.randn([latent, voxels])
            let train = Tensor.arange(trainImages)
            trV[s] = (z.indexSelect(0, train).matmul(readout) + Tensor.randn([trainImages, voxels]) * noise).unsqueeze(1)
            trT[s] = targets.indexSelect(0, train)
            // each test image twice, with independent noise
            let ids = (0..<testImages).flatMap { [trainImages + $0, trainImages + $0] }
            let idx = Tensor(ids)
            teV[s] = (z.indexSelect(0, idx).matmul(readout) + Tensor.randn([ids.count, voxels]) * noise).unsqueeze(1)
            teT[s] = targets.indexSelect(0, idx)
            teI[s] = ids
        }
        (self.coords, trainVoxels, trainTargets, testVoxels, testTargets, testIDs) = (coords, trV, trT, teV, teT, teI)
    }

    func coordinates(subject: Int) throws -> Tensor { coords[subject]! }
    func trainTrialCount(subject: Int) -> Int { trainVoxels[subject]!.size(0) }
    func trainBatch(_ batch: Batch) throws -> NSDBatch {
        let idx = Tensor(batch.trials)
        return NSDBatch(subject: batch.subject, voxels: trainVoxels[batch.subject]!.indexSelect(0, idx),
                        targets: trainTargets[batch.subject]!.indexSelect(0, idx), images: batch.trials, rows: batch.trials)
    }
    func testSet(subject: Int) throws -> (voxels: Tensor, targets: Tensor, imageIDs: [Int]) {
        (testVoxels[subject]!, testTargets[subject]!, testIDs[subject]!)
    }
}

func tinyConfig(epochs: Int = 4) -> VoxelFormerConfig {
    var c = VoxelFormerConfig()
    c.model.encoderHiddenDim = 16
    c.model.natDepth = 2
    c.model.numHeads = 2
    c.model.tomeR = 8
    c.model.decoderHiddenDim = 32
    c.model.nBlocksDecoder = 1
    c.model.clipSeqDim = 2
    c.model.clipEmbDim = 8
    c.train.epochs = epochs
    c.train.batchSize = 16
    c.train.maxLR = 3e-3
    c.train.seed = 3
    c.eval.poolSize = 48
    c.eval.pools = 1
    return c
}

func temporaryDirectory() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("vf-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}

@Suite(.serialized) struct TrainerTests {
    @Test func resumingFromACheckpointRepeatsTheUninterruptedLossSequence() throws {
        let config = tinyConfig(epochs: 3)
        // uninterrupted
        let full = try Trainer(config: config, data: InMemoryData(), runDir: temporaryDirectory())
        var fullLosses: [Double] = []
        full.onStep = { fullLosses.append($1) }
        try full.run()

        // stopped in the middle of epoch 2 (BiMixCo's and SoftCLIP's phases both follow), then resumed
        let dir = temporaryDirectory()
        var stopped = config
        stopped.train.maxSteps = full.stepsPerEpoch + 3
        let first = try Trainer(config: stopped, data: InMemoryData(), runDir: dir)
        var resumedLosses: [Double] = []
        first.onStep = { resumedLosses.append($1) }
        try first.run()
        #expect(resumedLosses.count == full.stepsPerEpoch + 3)

        Torch.manualSeed(999)  // the checkpoint must restore the generator, whatever happened in between
        let second = try Trainer(config: config, data: InMemoryData(), runDir: dir)
        try second.resume(from: second.checkpointURL)
        second.onStep = { resumedLosses.append($1) }
        try second.run()
        #expect(fullLosses.count == 3 * full.stepsPerEpoch)
        #expect(resumedLosses == fullLosses)
    }

    @Test func parameterGroupsExemptBiasesAndLayerNormNamedParameters() {
        let model = VoxelFormerModel(tinyConfig().model)
        let groups = VoxelFormerFamily.parameterGroups(model, config: TrainConfig())
        let names = Dictionary(uniqueKeysWithValues: model.namedParameters().map { (ObjectIdentifier($0.tensor), $0.name) })
        let decayed = groups[0].parameters.map { names[ObjectIdentifier($0)]! }
        let exempt = groups[1].parameters.map { names[ObjectIdentifier($0)]! }
        #expect(decayed.contains("brain_encoder.blocks.nat_layers.0.norm1.weight"))
        #expect(decayed.contains("brain_decoder.queries"))
        #expect(exempt.contains("brain_decoder.attention_blocks.0.projector_1.LayerNorm.weight"))
        #expect(exempt.contains("feature_mapper.bias"))
        #expect(!decayed.contains { $0.contains("bias") })
        #expect(decayed.count + exempt.count == model.namedParameters().count)
        #expect(groups[0].weightDecay == 1e-2 && groups[1].weightDecay == 0)
    }
}

@Suite(.serialized) struct PriorTrainingTests {
    func priorConfig(epochs: Int) -> VoxelFormerConfig {
        var c = tinyConfig(epochs: epochs)
        c.train.usePrior = true
        c.prior = PriorConfig(dim: 8, depth: 1, dimHead: 4, numTokens: 2)
        c.prior.samplingSteps = 5
        return c
    }

    @Test func jointTrainingLowersThePriorSamplesErrorOnTestTrials() throws {
        let trainer = try Trainer(config: priorConfig(epochs: 20), data: InMemoryData(), runDir: temporaryDirectory())
        let before = try trainer.evaluate().prior!.subjects.map { $0.mse! }
        try trainer.run()
        let after = try trainer.evaluate().prior!.subjects.map { $0.mse! }
        // The untrained prior's DDIM samples are far from the targets (MSE 0.86 on these unit-scale tokens);
        // 160 joint steps bring them at least 10% closer (0.74 seen).
        for (b, a) in zip(before, after) { #expect(a < 0.9 * b, "test MSE before \(b), after \(a)") }
    }

    @Test func thePriorLossReachesTheBrainModelAndTheCheckpointHoldsThePrior() throws {
        var config = priorConfig(epochs: 3)
        config.train.clipLossScale = 0  // only the prior's loss drives the gradients
        config.train.maxSteps = 1
        let trainer = try Trainer(config: config, data: InMemoryData(), runDir: temporaryDirectory())
        let before = trainer.model.brainDecoder.backboneProj.weight.clone()
        try trainer.run()
        let moved = (trainer.model.brainDecoder.backboneProj.weight - before).abs().max().item()
        #expect(moved > 0)
        let keys = try Safetensors.header(of: trainer.checkpointURL).keys
        #expect(keys.contains("model.diffusion_prior.net.null_brain_embeds"))
        #expect(keys.contains("model.brain_decoder.backbone_proj.weight"))
        let loaded = try LoadedModel(weights: trainer.checkpointURL, config: nil)
        #expect(loaded.prior != nil)
    }
}

/// Serves the in-memory problem with NaN voxels in every batch from `poisonFrom` trials on.
final class PoisonedData: TrainingData, @unchecked Sendable {
    let base = InMemoryData()
    var trainSubjects: [Int] { base.trainSubjects }
    var testSubjects: [Int] { base.testSubjects }
    func coordinates(subject: Int) throws -> Tensor { try base.coordinates(subject: subject) }
    func trainTrialCount(subject: Int) -> Int { base.trainTrialCount(subject: subject) }
    func trainBatch(_ batch: Batch) throws -> NSDBatch {
        let b = try base.trainBatch(batch)
        return NSDBatch(subject: b.subject, voxels: b.voxels * Double.nan, targets: b.targets, images: b.images, rows: b.rows)
    }
    func testSet(subject: Int) throws -> (voxels: Tensor, targets: Tensor, imageIDs: [Int]) { try base.testSet(subject: subject) }
}

@Suite(.serialized) struct TrainingStopTests {
    @Test func aNonFiniteLossStopsWithAClearErrorAfterSavingTheLastGoodState() throws {
        let dir = temporaryDirectory()
        let trainer = try Trainer(config: tinyConfig(epochs: 3), data: PoisonedData(), runDir: dir)
        let before = trainer.model.featureMapper.weight.clone()
        do {
            try trainer.run()
            Issue.record("training went on with a NaN loss")
        } catch let stop as TrainingStop {
            #expect(stop.description == "the loss became nan at epoch 0, step 0; the last good state is saved in "
                + "\(dir.path)/checkpoint.safetensors (resume with --resume after lowering train.max_lr or checking the data)")
        }
        // the saved weights are the untouched ones: the bad step never reached the optimiser
        let saved = try Checkpoint.read(trainer.checkpointURL)
        #expect(saved.step == 0)
        #expect((saved.model["feature_mapper.weight"]! - before).abs().max().item() == 0)
    }

    @Test func anInterruptSavesACheckpointThenStops() throws {
        let trainer = try Trainer(config: tinyConfig(epochs: 3), data: InMemoryData(), runDir: temporaryDirectory())
        trainer.shouldStop = { true }
        #expect(throws: TrainingStop.self) { try trainer.run() }
        let saved = try Checkpoint.read(trainer.checkpointURL)
        #expect(saved.step == 1)
        #expect(saved.stepInEpoch == 1)
    }
}
