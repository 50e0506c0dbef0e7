import BrainData
import BrainX
import Foundation
import Testing
import Torch
@testable import Training

/// BrainX as the trainer's third family: its sampler, groups, loss, config, adaptation, data.fraction and resume.
@Suite(.serialized) struct BrainXTrainingTests {
    static func config(epochs: Int = 3, subjects: [Int] = [1, 2]) -> BrainXRunConfig {
        var c = BrainXRunConfig()
        c.model.hiddenDim = 16
        c.model.outDim = 8
        c.model.numLatents = 2
        c.model.depth = 1
        c.model.heads = 2
        c.model.dimHead = 8
        c.model.ffMult = 2
        c.data.trainSubjects = subjects
        c.data.testSubjects = subjects
        c.data.prefetch = 0
        c.train.epochs = epochs
        c.train.batchSize = 16
        c.train.maxLR = 3e-3
        c.eval.pools = 10
        c.eval.poolSize = 12
        c.eval.everyEpochs = 100
        return c
    }

    /// UMBRAE's `random.sample(subjects, 2)` each epoch: every batch holds batch_size trials of two distinct
    /// subjects; each drawn subject's trials once an epoch; over epochs every pair comes up.
    @Test func drawnBatchesHoldTwoSubjectsAndEachDrawnTrialOnce() throws {
        var sampler = SubjectBatchSampler(trialCounts: [1: 64, 2: 64, 3: 48], batchSize: 16, seed: 5, subjectsPerEpoch: 2)
        #expect(sampler.batchesPerEpoch == 3, "the fewest trials (48) over the batch size, whichever pair is drawn")
        var pairs = Set<[Int]>()
        for _ in 0..<30 {
            let epoch = sampler.nextEpoch()
            #expect(epoch.count == 3)
            let drawn = epoch[0].parts.map(\.subject)
            #expect(Set(drawn).count == 2 && epoch.allSatisfy { $0.parts.map(\.subject) == drawn })
            #expect(epoch.allSatisfy { $0.parts.allSatisfy { $0.trials.count == 16 } })
            for s in 0..<2 {
                let seen = epoch.flatMap { $0.parts[s].trials }
                #expect(Set(seen).count == 48, "subject \(drawn[s]): no trial twice an epoch")
            }
            pairs.insert(drawn.sorted())
        }
        #expect(pairs == [[1, 2], [1, 3], [2, 3]])
        // the state is what a checkpoint saves: it round-trips, and a state saved before the mode existed
        // reads as per-subject batches
        let saved = try JSONDecoder().decode(SubjectBatchSampler.self, from: JSONEncoder().encode(sampler))
        #expect(saved == sampler && saved.subjectsPerEpoch == 2)
        let old = #"{"trialCounts":{"1":64},"batchSize":16,"generator":{"state":9},"epoch":2}"#
        let decoded = try JSONDecoder().decode(SubjectBatchSampler.self, from: Data(old.utf8))
        #expect(decoded.subjectsPerEpoch == 0 && !decoded.mixed && decoded.batchesPerEpoch == 4)
    }

    /// UMBRAE's groups: no weight decay where the name contains `bias`; LayerNorm gains and the latents decay.
    /// A frozen BrainXC perceiver is in no group.
    @Test func onlyBiasesEscapeWeightDecayAndAFrozenPerceiverIsNotOptimised() throws {
        let data = InMemoryData(subjects: [1, 2], voxels: 40)
        let family = try BrainXFamily(config: Self.config(), data: data)
        #expect(family.config.model.subjects == [1, 2] && family.config.model.numVoxels == [40, 40])
        let groups = family.parameterGroups(Self.config().train)
        let named = family.modules.namedParameters()
        func group(of name: String) -> Int? {
            let t = named.first { $0.name == name }!.tensor
            return groups.firstIndex { $0.parameters.contains { $0 === t } }
        }
        #expect(groups.map(\.weightDecay) == [0.01, 0])
        #expect(group(of: "lin1.fmri1.bias") == 1 && group(of: "lin2.fmri2.bias") == 1)
        #expect(group(of: "lin2.fmri2.weight") == 0)
        #expect(group(of: "perceiver.ln_vision.weight") == 0 && group(of: "perceiver.ln_vision.bias") == 1)
        #expect(group(of: "perceiver.perceiver.latents") == 0 && group(of: "perceiver.perceiver.media_pos_emb") == 0)
        #expect(groups.map(\.parameters.count).reduce(0, +) == named.count)

        var c = Self.config(subjects: [3])
        c.model.variant = .brainxc
        c.model.freezePerceiver = true
        c.train.initFrom = "P"
        let adapted = try BrainXFamily(config: c, data: InMemoryData(subjects: [3], voxels: 30))
        let trainable = adapted.parameterGroups(c.train).flatMap(\.parameters)
        let tokenizer = adapted.modules.namedParameters().filter { $0.name.hasPrefix("lin") }
        #expect(tokenizer.count == 4 && trainable.count == 4)
        #expect(tokenizer.allSatisfy { p in trainable.contains { $0 === p.tensor } })
    }

    /// The step's loss is the sum over the batch's subjects of the loss between their predicted tokens and targets.
    @Test func theLossSumsTheDrawnSubjectsReconstructionLosses() throws {
        let data = InMemoryData(subjects: [1, 2], voxels: 40)
        var c = Self.config()
        c.loss = .l1
        let family = try BrainXFamily(config: c, data: data)
        var batch = try data.trainBatch(Batch(subject: 2, trials: [0, 5, 9]))
        batch.others = [try data.trainBatch(Batch(subject: 1, trials: [3, 4]))]
        family.train(false)
        let loss = try family.loss(for: batch, epoch: 0, autocast: Autocast(precision: .fp32, device: .cpu)).loss.item()
        var expected = 0.0
        for part in batch.parts {
            let p = family.model(part.voxels.reshape(part.voxels.size(0), 40), subject: part.subject - 1)
            expected += (p - part.targets).abs().mean().item()
        }
        #expect(abs(loss - expected) <= 1e-6 * expected)
        #expect(throws: ConfigError("subject 1: the targets have shape [2, 2, 8], but the model predicts [3, 8] "
            + "(model.num_latents x model.out_dim); set those to the targets' shape")) {
            c.model.numLatents = 3
            _ = try BrainXFamily(config: c, data: data).loss(for: batch.others[0], epoch: 0,
                                                            autocast: Autocast(precision: .fp32, device: .cpu))
        }
    }

    @Test func aResumedRunContinuesExactly() throws {
        let c = Self.config(epochs: 3, subjects: [1, 2, 3])
        let make = { InMemoryData(subjects: [1, 2, 3], voxels: 40) }
        let straight = try Trainer<BrainXFamily>(config: c, data: make(), runDir: temporaryDirectory())
        #expect(straight.stepsPerEpoch == 4 && straight.sampler.subjectsPerEpoch == 2)
        var losses: [Double] = []
        straight.onStep = { losses.append($1) }
        try straight.run()

        let dir = temporaryDirectory()
        var first = c
        first.train.maxSteps = 6  // mid-epoch: 4 steps an epoch
        let interrupted = try Trainer<BrainXFamily>(config: first, data: make(), runDir: dir)
        var resumedLosses: [Double] = []
        interrupted.onStep = { resumedLosses.append($1) }
        try interrupted.run()
        let resumed = try Trainer<BrainXFamily>(config: c, data: make(), runDir: dir)
        resumed.onStep = { resumedLosses.append($1) }
        try resumed.resume(from: resumed.checkpointURL)
        try resumed.run()
        #expect(losses.count == 12)
        #expect(resumedLosses == losses)
        let a = straight.family.modules.stateDict(), b = resumed.family.modules.stateDict()
        #expect(a.keys.sorted() == b.keys.sorted())
        #expect(a.allSatisfy { $0.value.bytes() == b[$0.key]!.bytes() })

        // a per-subject run does not continue a drawn one
        var perSubject = c
        perSubject.subjectsPerEpoch = 0
        let other = try Trainer<BrainXFamily>(config: perSubject, data: make(), runDir: temporaryDirectory())
        #expect(throws: ConfigError("\(resumed.checkpointURL.path): the checkpoint's batches drew 2 subjects an epoch, "
            + "this run's draw 0")) { try other.resume(from: resumed.checkpointURL) }
    }

    /// UMBRAE's adaptation: a cross-subject run's perceiver carries over into BrainXC and, frozen, stays as it
    /// was through training, while the new subject's fresh tokenizer learns.
    @Test func initFromTransfersThePerceiverAndAFrozenOneStaysPut() throws {
        let pretrained = try Trainer<BrainXFamily>(config: Self.config(), data: InMemoryData(subjects: [1, 2], voxels: 40),
                                                   runDir: temporaryDirectory())
        try pretrained.run()
        var c = Self.config(subjects: [3])
        c.model.variant = .brainxc
        c.model.freezePerceiver = true
        c.train.initFrom = pretrained.checkpointURL.path
        let trainer = try Trainer<BrainXFamily>(config: c, data: InMemoryData(subjects: [3], voxels: 30),
                                                runDir: temporaryDirectory())
        let initial = trainer.family.modules.stateDict().mapValues { $0.clone() }
        let weights = try TrainingRun<BrainXFamily>.pretrainedWeights(pretrained.checkpointURL.path)
        let note = try trainer.family.initialise(from: weights, source: "P")
        #expect(note == "initialised the perceiver's 19 weight tensors from P (frozen); fresh: 4 tokenizer tensors; "
            + "ignored: 8 other tensors (lin1.fmri1.bias, lin1.fmri1.weight, lin1.fmri2.bias, ...)")
        try trainer.run()
        let p = pretrained.family.modules.stateDict(), mine = trainer.family.modules.stateDict()
        let perceiver = p.keys.filter { $0.hasPrefix("perceiver.") }
        #expect(perceiver.count == 19 && perceiver.allSatisfy { mine[$0]!.bytes() == p[$0]!.bytes() })
        #expect(mine["lin2.weight"]!.bytes() != initial["lin2.weight"]!.bytes())

        // a perceiver of another width does not fit: named by key
        c.model.hiddenDim = 32
        let wide = try BrainXFamily(config: c, data: InMemoryData(subjects: [3], voxels: 30))
        #expect(throws: Module.LoadError.self) { _ = try wide.initialise(from: weights, source: "P") }
    }

    /// `data.fraction=0.1`: a seeded tenth of each subject's training trials (rounded), the test set whole.
    @Test func aFractionTrainsOnASeededShareOfTheTrainingTrials() throws {
        let root = try SyntheticTrainingTests.reducedData()
        var config = DataConfig()
        config.root = root.path
        config.trainSubjects = [1]
        config.testSubjects = [1]
        let all = try NSDTrainingData(config: config)
        config.fraction = 0.1
        let tenth = try NSDTrainingData(config: config)
        let n = all.trainTrialCount(subject: 1)
        #expect(tenth.trainTrialCount(subject: 1) == Int((Double(n) / 10).rounded()))
        let positions = try NSDTrainingData.fraction(0.1, of: n, seed: 0, subject: 1)
        #expect(try tenth.trainBatch(Batch(subject: 1, trials: [0, 1])).images
            == all.trainBatch(Batch(subject: 1, trials: Array(positions.prefix(2)))).images)
        #expect(try NSDTrainingData.fraction(0.1, of: n, seed: 1, subject: 1) != positions)
        #expect(try tenth.testSet(subject: 1).imageIDs == all.testSet(subject: 1).imageIDs)
        config.fraction = 0.001
        #expect(throws: ConfigError("data.fraction: 0.001 of subject 1's \(n) training trials keeps none; it needs at least "
            + "\(String(format: "%.3g", 0.5 / Double(n))) to keep one")) { _ = try NSDTrainingData(config: config) }
        config.fraction = 0
        #expect(throws: ConfigError("data.fraction: must be in (0, 1], got 0.0")) { try config.validate() }
    }

    @Test func aPartialConfigTakesBrainXsDefaultsAndNamesItsFamily() throws {
        let c = try BrainXRunConfig.parse(yaml: "family: brainx\ntrain:\n  epochs: 5\n")
        #expect(c.train.epochs == 5)
        // the keys left out are UMBRAE's cross-subject training
        #expect(c.train.maxLR == 3e-4 && c.train.batchSize == 128 && c.train.weightDecay == 0.01 && c.train.gradClip == .infinity)
        #expect(c.loss == .mse && c.subjectsPerEpoch == 2 && c.data.trainSubjects == [1, 2, 5, 7])
        #expect(c.eval.protocolName == .outputAveraged && c.model.subjects.isEmpty && c.model.numVoxels.isEmpty)
        // 0: the output shape is the targets' (256 x 1024 for UMBRAE's CLIP ViT-L/14 layer:-2 targets)
        #expect(c.model.numLatents == 0 && c.model.outDim == 0 && c.model.depth == 6)
        #expect(try c.yaml().hasPrefix("family: brainx\n"))
        #expect(try RunConfigFamily.name(yaml: c.yaml(), source: "x") == "brainx")
        #expect(try BrainXRunConfig.parse(yaml: "family: brainx\nloss: huber\n").loss == .huber)
        #expect(throws: ConfigError("the config: loss: expected mse, l1, huber or quantile, got 'l2'")) {
            _ = try BrainXRunConfig.parse(yaml: "family: brainx\nloss: l2\n")
        }
        #expect(throws: ConfigError("data.test_subjects: subject 3 has no tokenizer: BrainX evaluates only subjects it "
            + "trains on (data.train_subjects [1, 2]); adapt a new subject with variant brainxc and --init-from")) {
            var bad = Self.config()
            bad.data.testSubjects = [3]
            try bad.validate()
        }
        #expect(throws: ConfigError("the config: subjects_per_epoch: must be between 0 (one subject per batch) and the 2 train subjects, got 3")) {
            _ = try BrainXRunConfig.parse(yaml: "family: brainx\nsubjects_per_epoch: 3\ndata:\n  train_subjects: [1, 2]\n  test_subjects: [1]\n")
        }
        // `train --init-from` sets train.init_from after loading: the family checks it, not the config
        var frozen = try BrainXRunConfig.parse(yaml: "family: brainx\nmodel:\n  variant: brainxc\n  freeze_perceiver: true\n"
            + "data:\n  train_subjects: [3]\n  test_subjects: [3]\n")
        #expect(throws: ConfigError("model.freeze_perceiver: freezes the perceiver transferred by train.init_from, which is "
            + "not set (train --init-from a cross-subject run)")) {
            _ = try BrainXFamily(config: frozen, data: InMemoryData(subjects: [3], voxels: 30))
        }
        frozen.train.initFrom = "P"
        #expect(try BrainXFamily(config: frozen, data: InMemoryData(subjects: [3], voxels: 30)).model is BrainXC)
    }

    /// configs/brainx-demo.yaml on `SyntheticTrainingTests.reducedData()`: targets 4 x 16 (model.num_latents 4,
    /// model.out_dim 16), both subjects in every batch of 32 trials each, 20 epochs of 10 steps, 30 pools of 60
    /// single test trials.
    @Test func theDemoPresetAtReducedSizeRetrievesFarAboveChance() throws {
        let root = try SyntheticTrainingTests.reducedData()
        let c = try BrainXRunConfig.load(
            path: repository.appendingPathComponent("configs/brainx-demo.yaml").path,
            overrides: ["data.root=\(root.path)", "data.train_subjects=[1,2]", "data.test_subjects=[1,2]",
                        "model.num_latents=4", "model.out_dim=16", "train.epochs=20", "train.seed=1",
                        "eval.pools=30", "eval.pool_size=60", "eval.every_epochs=100"])
        let data = try NSDTrainingData(config: c.data)
        let trainer = try Trainer<BrainXFamily>(config: c, data: data, runDir: temporaryDirectory())
        try trainer.run()
        let avg = try trainer.evaluate().average!
        // Chance is 1/60 (1.7%). Measured with the debug binary on the same data and config (`voxelformer
        // synth --out D --subjects 2 --images 320 --test-images 60 --test-repeats 2 --trials-per-session 160
        // --voxels 150 --noise 1 --tokens 4 --token-dim 16`, then `voxelformer train --config
        // configs/brainx-demo.yaml` with the overrides above), average of both subjects, image / brain:
        //   seed 1: 50.5% / 54.4%, seed 2: 53.2% / 54.9%, seed 3: 54.2% / 56.0% (train.threads 1 and 2 alike;
        //   cosine 0.62 to 0.63, MSE 0.317 to 0.322). The thresholds are at most a third of the minimum (50.5%,
        // 54.4%): 16% and 18%, about 10x chance.
        #expect(avg.poolSize == 60)
        #expect(avg.imageRetrieval > 0.16)
        #expect(avg.brainRetrieval > 0.18)
        #expect(avg.mse != nil)
    }
}

private let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()
