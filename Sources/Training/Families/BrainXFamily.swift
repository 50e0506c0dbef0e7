import BrainData
import BrainX
import Foundation
import Torch

/// A BrainX run (`family: brainx`, UMBRAE): the brain encoder (`model`, BrainX, BrainXS or BrainXC), the
/// regression loss (`loss`), the cross-subject sampler (`subjects_per_epoch`) and the shared `data`,
/// `train` and `eval` sections. The defaults are UMBRAE's cross-subject training (`train_brainx.py`,
/// docs/brainx.md): subjects 1, 2, 5, 7, MSE, two subjects drawn each epoch, AdamW lr 3e-4 with weight decay
/// 0.01 off the biases, OneCycle, batch 128, 240 epochs, no gradient clipping, repeat-averaged evaluation.
public struct BrainXRunConfig: RunConfiguration {
    public static let familyName = "brainx"
    /// Always `familyName`.
    public var family = Self.familyName
    /// `model.subjects` and `model.num_voxels` empty (the default): `data.train_subjects`, sized from the data.
    public var model = BrainXConfig()
    public var data = DataConfig()
    public var train = TrainConfig()
    public var eval = EvalConfig()
    /// VINDEX's feature spaces: further layers, further encoders and nested pooling of the targets.
    public var targets = BrainXTargetsConfig()
    /// The reconstruction loss between predicted and target tokens (UMBRAE's `--recon_loss`).
    public var loss = ReconstructionLoss.mse
    /// Subjects drawn each epoch; every batch holds `train.batch_size` trials of each, and the step's loss is
    /// the sum of theirs (UMBRAE: 2). 0: one subject per batch. A single train subject is every epoch's.
    public var subjectsPerEpoch = 2
    public var runDir = "runs/brainx"

    public init() {
        model.subjects = []
        model.numVoxels = []
        model.numLatents = 0  // 0: from the targets (after the `targets` options); UMBRAE's are 256 x 1024
        model.outDim = 0
        data.trainSubjects = [1, 2, 5, 7]
        data.testSubjects = [1, 2, 5, 7]
        train.batchSize = 128
        train.epochs = 240
        train.maxLR = 3e-4
        train.weightDecay = 0.01
        train.gradClip = .infinity
        eval.protocolName = .outputAveraged
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case family, model, data, train, eval, targets, loss, subjectsPerEpoch = "subjects_per_epoch", runDir = "run_dir"
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), d = BrainXRunConfig()
        family = try c.get(.family, d.family)
        model = try c.get(.model, d.model)
        data = try c.get(.data, d.data)
        train = try c.get(.train, d.train)
        eval = try c.get(.eval, d.eval)
        targets = try c.get(.targets, d.targets)
        loss = try c.get(.loss, d.loss)
        subjectsPerEpoch = try c.get(.subjectsPerEpoch, d.subjectsPerEpoch)
        runDir = try c.get(.runDir, d.runDir)
    }

    public static let sectionNames = ["model", "data", "train", "eval", "targets", "loss", "subjects_per_epoch", "run_dir"]
    public static let allowedKeys: [String: [String]] = [
        "model": BrainXConfig.CodingKeys.allCases.map(\.rawValue),
        "data": DataConfig.CodingKeys.allCases.map(\.rawValue),
        "train": TrainConfig.CodingKeys.allCases.map(\.rawValue),
        "eval": EvalConfig.CodingKeys.allCases.map(\.rawValue),
        "targets": BrainXTargetsConfig.CodingKeys.allCases.map(\.rawValue),
    ]
    public static var resumableKeys: [String] { RunConfigDefaults.resumableKeys }

    /// The model's subjects: `model.subjects`, else `data.train_subjects`.
    var subjects: [Int] { model.subjects.isEmpty ? data.trainSubjects : model.subjects }

    public func validate() throws {
        var shape = model
        shape.subjects = subjects
        if shape.numVoxels.isEmpty { shape.numVoxels = subjects.map { _ in 1 } }  // filled from the data
        if shape.numLatents == 0 { shape.numLatents = 1 }  // 0: filled from the targets
        if shape.outDim == 0 { shape.outDim = 1 }
        try shape.validate()
        try targets.validate()
        try data.validate()
        try train.validate()
        try eval.validate()
        if !model.subjects.isEmpty && model.subjects != data.trainSubjects {
            throw ConfigError("model.subjects: \(model.subjects) must equal data.train_subjects \(data.trainSubjects), "
                + "or be empty ([]) to take them from there")
        }
        if let s = data.testSubjects.first(where: { !data.trainSubjects.contains($0) }) {
            throw ConfigError("data.test_subjects: subject \(s) has no tokenizer: BrainX evaluates only subjects it trains "
                + "on (data.train_subjects \(data.trainSubjects)); adapt a new subject with variant brainxc and --init-from")
        }
        if subjectsPerEpoch < 0 || (subjectsPerEpoch > data.trainSubjects.count && data.trainSubjects.count > 1) {
            throw ConfigError("subjects_per_epoch: must be between 0 (one subject per batch) and the \(data.trainSubjects.count) "
                + "train subjects, got \(subjectsPerEpoch)")
        }
    }
}

/// UMBRAE's BrainX as a `ModelFamily`: the predicted tokens (B, num_latents, out_dim) regressed onto the
/// batch's targets (B, T, E) with `loss`, summed over the subjects of a batch; AdamW groups as UMBRAE's;
/// retrieval, cosine and MSE of the predicted tokens against the targets.
public final class BrainXFamily: TrainableFamily {
    public private(set) var config: BrainXRunConfig
    public let model: any BrainXModel
    public var modules: Module { model }
    let evaluator: Evaluator
    /// The `targets` section, applied to every batch's and test set's targets.
    let targetSpace: BrainXTargets
    /// The tokenizer index of each subject: its position in `model.subjects`.
    let subjectIndex: [Int: Int]

    public convenience init(config: BrainXRunConfig, data: TrainingData) throws {
        var config = config
        let subjects = config.subjects
        let counts = try subjects.map { try data.coordinates(subject: $0).size(0) }
        if config.model.numVoxels.isEmpty {
            config.model.numVoxels = counts
        } else if config.model.numVoxels != counts {
            throw ConfigError("model.num_voxels: \(config.model.numVoxels) does not match the voxels of subjects \(subjects) "
                + "in \(config.data.root) (\(counts)); set model.num_voxels=\(counts), or [] to take them from the data")
        }
        config.model.subjects = subjects
        let space = BrainXTargets(config.targets, root: config.data.root, seed: config.train.seed)
        if config.model.numLatents == 0 || config.model.outDim == 0 || !config.targets.isIdentity {
            // one trial's targets through the `targets` options give the model's output shape
            let probe = try data.trainBatch(Batch(subject: subjects[0], trials: [0]))
            let shape = try space(probe.targets.to(.float32), images: probe.images).shape
            guard shape.count == 3 else {
                throw ConfigError("the targets in \(config.data.root) have shape \(probe.targets.shape) per batch; expected "
                    + "(B, tokens, dim)")
            }
            for (key, value, found) in [("num_latents", config.model.numLatents, shape[1]), ("out_dim", config.model.outDim, shape[2])]
                where value != 0 && value != found && !config.targets.isIdentity {
                throw ConfigError("model.\(key): \(value), but the targets after the targets options are \(found) "
                    + "(\(shape[1]) tokens x \(shape[2])); set model.\(key)=0 to take it from them")
            }
            if config.model.numLatents == 0 { config.model.numLatents = shape[1] }
            if config.model.outDim == 0 { config.model.outDim = shape[2] }
        }
        // checked here, not in validate(): `train --init-from` sets train.init_from after the config is loaded
        if config.model.freezePerceiver && config.train.initFrom == nil {
            throw ConfigError("model.freeze_perceiver: freezes the perceiver transferred by train.init_from, which is not set "
                + "(train --init-from a cross-subject run)")
        }
        try self.init(validated: config, targets: space)
    }

    /// The family of a trained run's config (a checkpoint's, whose `model.subjects` and `model.num_voxels`
    /// are filled in): no data needed.
    public convenience init(trained config: BrainXRunConfig) throws {
        try self.init(validated: config, targets: BrainXTargets(config.targets, root: config.data.root, seed: config.train.seed))
    }

    init(validated config: BrainXRunConfig, targets: BrainXTargets) throws {
        guard !config.model.subjects.isEmpty, !config.model.numVoxels.isEmpty, config.model.numLatents > 0,
              config.model.outDim > 0 else {
            throw ConfigError("model.subjects, model.num_voxels, model.num_latents and model.out_dim: a trained run's config "
                + "gives them; got \(config.model.subjects), \(config.model.numVoxels), \(config.model.numLatents) and "
                + "\(config.model.outDim)")
        }
        try config.validate()
        self.config = config
        model = try makeBrainX(config.model)
        evaluator = Evaluator(config: config.eval)
        targetSpace = targets
        subjectIndex = Dictionary(uniqueKeysWithValues: config.model.subjects.enumerated().map { ($0.element, $0.offset) })
    }

    /// The shape the data root's targets file must have: the model's output, unless the `targets` options
    /// change it or the model takes it from the targets (then [], and the family checks the targets itself).
    public static func targetShape(_ config: BrainXRunConfig) -> [Int] {
        guard config.targets.isIdentity, config.model.numLatents > 0, config.model.outDim > 0 else { return [] }
        return [config.model.numLatents, config.model.outDim]
    }

    /// `data` with its targets through the run's `targets` options (unaugmented): what the model is scored
    /// on, and what a ridge baseline beside it should fit.
    public func targetData(_ data: TrainingData) -> TrainingData {
        config.targets.isIdentity ? data : BrainXTargetData(data, targets: targetSpace)
    }
    public func baselineData(_ data: TrainingData) -> TrainingData { targetData(data) }

    /// The model's output shape, (num_latents, out_dim): what the targets must be after the `targets` options.
    public var outputShape: [Int] { [config.model.numLatents, config.model.outDim] }

    public var subjectsPerEpoch: Int { min(config.subjectsPerEpoch, config.data.trainSubjects.count) }

    /// UMBRAE's groups: weight decay except on parameters whose name contains `bias` (its `LayerNorm.weight`
    /// entry matches no name here, so LayerNorm gains, latents and subject tokens are decayed). A frozen
    /// perceiver's parameters are in no group.
    public func parameterGroups(_ config: TrainConfig) -> [AdamW.ParameterGroup] {
        let named = model.namedParameters().filter { $0.tensor.requiresGrad }
        let decays: (String) -> Bool = { !$0.contains("bias") }
        return [
            AdamW.ParameterGroup(named.filter { decays($0.name) }.map(\.tensor), lr: config.maxLR, weightDecay: config.weightDecay),
            AdamW.ParameterGroup(named.filter { !decays($0.name) }.map(\.tensor), lr: config.maxLR, weightDecay: 0),
        ]
    }

    /// UMBRAE does not clip; with `train.grad_clip` set, every optimised parameter is clipped together.
    public func clippedParameters(_ config: TrainConfig) -> [Tensor]? { nil }

    public func train(_ on: Bool) { model.train(on) }

    public func phase(epoch: Int) -> String { config.loss.rawValue }

    func index(of subject: Int) throws -> Int {
        guard let i = subjectIndex[subject] else {
            throw ConfigError("subject \(subject) has no tokenizer (model.subjects \(config.model.subjects))")
        }
        return i
    }

    /// The predicted tokens of voxels (B, 1, V) or (B, V) of `subject`: (B, num_latents, out_dim).
    public func predict(_ voxels: Tensor, subject: Int) throws -> Tensor {
        let i = try index(of: subject)
        return model(voxels.reshape(voxels.size(0), -1), subject: i)
    }

    public func loss(for batch: NSDBatch, epoch: Int, autocast: Autocast) throws -> (loss: Tensor, extras: [String: Tensor]) {
        let expected = outputShape
        var total: Tensor?
        for part in batch.parts {
            let targets = try targetSpace(part.targets.to(.float32), images: part.images,
                                          draw: (part.subject, part.rows, epoch))
            guard Array(targets.shape.dropFirst()) == expected else {
                throw ConfigError("subject \(part.subject): the targets have shape \(targets.shape), but the model predicts "
                    + "\(expected) (model.num_latents x model.out_dim); set those to the targets' shape")
            }
            let predicted = try autocast { try predict(part.voxels, subject: part.subject) }.to(.float32)
            // Data parallel: mse, l1 and huber are means over the part's rows, equal on every rank, so the ranks'
            // averaged gradients are the global batch's; the quantile of the part's differences needs all of them.
            let parallel = config.loss == .quantile ? DataParallel.current : nil
            let l = config.loss(try parallel?.gatherWithGradient(predicted) ?? predicted, try parallel?.gather(targets) ?? targets)
            total = total.map { $0 + l } ?? l
        }
        return (total!, [:])
    }

    /// Retrieval and cosine of the predicted tokens (flattened) against the targets, and their MSE (after
    /// averaging the repeats under the output-averaged protocol, as the retrieval does).
    public func evaluate(data: TrainingData, config: EvalConfig, progress: ((EvaluationProgress) -> Void)?) throws
        -> EvaluationReport
    {
        var evaluator = evaluator
        evaluator.config = config
        evaluator.onProgress = progress
        try Evaluator.requireFiniteWeights(model, "the model")
        let data = targetData(data)
        var predictions: [Int: [Tensor]] = [:]
        var report = try evaluator.evaluate(data: data, modules: [model]) { voxels, subject in
            let out = try predict(voxels, subject: subject)
            predictions[subject, default: []].append(out)
            return (out, out)
        }
        for i in report.subjects.indices {
            guard let s = report.subjects[i].subject, let chunks = predictions[s] else { continue }
            let test = try data.testSet(subject: s)
            var (p, t) = (Tensor.cat(chunks).to(.float32), test.targets.to(.float32))
            if config.protocolName == .outputAveraged {
                (p, t) = Evaluator.averageRepeats(brain: p, targets: t, imageIDs: test.imageIDs)
            }
            report.subjects[i].mse = Torch.noGrad { F.mseLoss(p, t).item() }
        }
        return report
    }

    /// BrainXC (UMBRAE's `train_adaptation.py`): only `perceiver.*` carries over (frozen with
    /// `model.freeze_perceiver`), the new subject's tokenizer stays fresh, every other key is ignored. The
    /// other variants load every weight strictly. A missing or mis-shaped perceiver key throws by name.
    public func initialise(from weights: [String: Tensor], source: String) throws -> String {
        guard let adapted = model as? BrainXC else {
            try modules.load(stateDict: weights)
            return "initialised all \(weights.count) weight tensors from \(source)"
        }
        let ignored = try adapted.loadPerceiver(from: weights)
        let perceiver = adapted.perceiver.namedParameters().count
        let fresh = adapted.namedParameters().count - perceiver
        return "initialised the perceiver's \(perceiver) weight tensors from \(source)"
            + (config.model.freezePerceiver ? " (frozen)" : "") + "; fresh: \(fresh) tokenizer tensors; ignored: "
            + (ignored.isEmpty ? "none" : "\(ignored.count) other tensors (\(ignored.prefix(3).joined(separator: ", "))"
                + "\(ignored.count > 3 ? ", ..." : ""))")
    }
}

extension BrainXFamily {
    /// The trained model of a training checkpoint (its embedded config, with `overrides` such as data.root),
    /// in evaluation mode: what `voxelformer brainx embed` runs.
    public static func load(checkpoint url: URL, overrides: [String] = []) throws -> BrainXFamily {
        let c = try Checkpoint.read(url)
        let config = try BrainXRunConfig.parse(yaml: c.configYAML, source: "\(url.path) (its embedded config)",
                                               overrides: overrides)
        let family = try BrainXFamily(trained: config)
        try family.modules.load(stateDict: c.model)
        try family.requireFiniteWeights(in: url.path)
        family.train(false)
        return family
    }

    /// Predicted tokens (N, num_latents, out_dim) of `subject`'s test trials, `batchSize` trials a forward;
    /// with `averageRepeats`, of each test image's repeats averaged first (UMBRAE's inference input) and
    /// one row per image. Returns the image id of each row.
    public func testTokens(data: TrainingData, subject: Int, batchSize: Int, averageRepeats: Bool) throws
        -> (tokens: Tensor, imageIDs: [Int])
    {
        let test = try data.testSet(subject: subject)
        var voxels = test.voxels.reshape(test.voxels.size(0), -1), ids = test.imageIDs
        if averageRepeats {
            voxels = Evaluator.averageRepeats(brain: voxels, targets: voxels, imageIDs: ids).0
            var seen = Set<Int>()
            ids = ids.filter { seen.insert($0).inserted }
        }
        let n = voxels.size(0)
        let tokens = try Torch.noGrad {
            try Tensor.cat(stride(from: 0, to: n, by: batchSize).map { try predict(voxels[$0..<min($0 + batchSize, n)], subject: subject) })
        }
        return (tokens, ids)
    }
}
