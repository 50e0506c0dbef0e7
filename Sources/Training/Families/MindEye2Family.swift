import BrainData
import Foundation
import MindEye2
import Torch
import VoxelFormer

/// A MindEye2 run (`family: mindeye2`): the brain model (`model`), the diffusion prior (`prior`), and the
/// shared `data`, `train` and `eval` sections. The defaults are the reference's pretraining settings
/// (docs/mindeye2.md): max_lr 3e-4, BiMixCo at τ 0.006 in MindEye's symmetric form for 33% of the epochs,
/// loss = 30·prior + 1·clip, no gradient clipping, repeat-averaged evaluation.
public struct MindEye2RunConfig: RunConfiguration {
    public static let familyName = "mindeye2"
    /// Always `familyName`.
    public var family = Self.familyName
    /// `model.num_voxels` empty (the default): one ridge per `data.train_subjects`, sized from the data.
    public var model = MindEye2Config()
    public var data = DataConfig()
    public var train = TrainConfig()
    public var eval = EvalConfig()
    public var prior = PriorConfig()
    public var runDir = "runs/mindeye2"

    public init() {
        model.numVoxels = []
        train.batchSize = 42
        train.maxLR = 3e-4
        train.mixcoTemperature = 0.006
        train.bimixcoForm = .symmetric
        train.gradClip = .infinity
        train.usePrior = true
        eval.protocolName = .outputAveraged
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case family, model, data, train, eval, prior, runDir = "run_dir"
    }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), d = MindEye2RunConfig()
        family = try c.get(.family, d.family)
        model = try c.get(.model, d.model)
        data = try c.get(.data, d.data)
        train = try c.get(.train, d.train)
        eval = try c.get(.eval, d.eval)
        prior = try c.get(.prior, d.prior)
        runDir = try c.get(.runDir, d.runDir)
    }

    public static let sectionNames = ["model", "data", "train", "eval", "prior", "run_dir"]
    public static let allowedKeys: [String: [String]] = [
        "model": MindEye2Config.CodingKeys.allCases.map(\.rawValue),
        "data": DataConfig.CodingKeys.allCases.map(\.rawValue),
        "train": TrainConfig.CodingKeys.allCases.map(\.rawValue),
        "eval": EvalConfig.CodingKeys.allCases.map(\.rawValue),
        "prior": PriorConfig.CodingKeys.allCases.map(\.rawValue),
    ]
    public static var resumableKeys: [String] { RunConfigDefaults.resumableKeys }

    public func validate() throws {
        var shape = model
        if shape.numVoxels.isEmpty { shape.numVoxels = [1] }  // filled from the data when the model is built
        try shape.validate()
        try data.validate()
        try train.validate()
        try eval.validate()
        if !model.numVoxels.isEmpty && model.numVoxels.count != data.trainSubjects.count {
            throw ConfigError("model.num_voxels: \(model.numVoxels.count) voxel counts for \(data.trainSubjects.count) "
                + "train subjects \(data.trainSubjects); list one per subject, or leave it empty ([]) to take them from the data")
        }
        if let s = data.testSubjects.first(where: { !data.trainSubjects.contains($0) }) {
            throw ConfigError("data.test_subjects: subject \(s) has no ridge layer: MindEye2 evaluates only subjects it "
                + "trains on (data.train_subjects \(data.trainSubjects)); fine-tune a new subject first")
        }
        if train.batchSize < 2 * data.trainSubjects.count {
            throw ConfigError("train.batch_size: \(train.batchSize) over \(data.trainSubjects.count) subjects leaves fewer "
                + "than 2 trials per subject; each batch holds batch_size / subjects trials of every subject")
        }
        if train.usePrior {
            try prior.validate()
            if prior.dim != model.clipEmbDim {
                throw ConfigError("prior.dim: must equal model.clip_emb_dim (\(model.clipEmbDim)), got \(prior.dim)")
            }
            if prior.numTokens != model.clipSeqDim {
                throw ConfigError("prior.num_tokens: must equal model.clip_seq_dim (\(model.clipSeqDim)), got \(prior.numTokens)")
            }
        }
    }
}

/// MindEye2 as a `ModelFamily`: per-subject ridge, backbone, retrieval head and (with `train.use_prior`) the
/// diffusion prior, trained on batches holding every subject; MixCo on each subject's voxels before its
/// ridge; BiMixCo then SoftCLIP; AdamW with the reference's groups; retrieval of `clip_voxels`.
public final class MindEye2Family: TrainableFamily {
    public private(set) var config: MindEye2RunConfig
    public let model: MindEye2Model
    public let prior: DiffusionPrior?
    public let modules: Module
    let schedule: ContrastiveSchedule
    let evaluator: Evaluator
    /// The ridge index of each subject: its position in `data.train_subjects`.
    let ridgeIndex: [Int: Int]

    public init(config: MindEye2RunConfig, data: TrainingData) throws {
        var config = config
        let subjects = config.data.trainSubjects
        let counts = try subjects.map { try data.coordinates(subject: $0).size(0) }
        if config.model.numVoxels.isEmpty {
            config.model.numVoxels = counts
        } else if config.model.numVoxels != counts {
            throw ConfigError("model.num_voxels: \(config.model.numVoxels) does not match the voxels of subjects \(subjects) "
                + "in \(config.data.root) (\(counts)); set model.num_voxels=\(counts), or [] to take them from the data")
        }
        self.config = config
        model = MindEye2Model(config.model)
        prior = config.train.usePrior ? DiffusionPrior(config.prior) : nil
        modules = TrainedModules(model: model, prior: prior)
        schedule = ContrastiveSchedule(config.train)
        evaluator = Evaluator(config: config.eval, prior: prior)
        ridgeIndex = Dictionary(uniqueKeysWithValues: subjects.enumerated().map { ($0.element, $0.offset) })
    }

    public static func targetShape(_ config: MindEye2RunConfig) -> [Int] { [config.model.clipSeqDim, config.model.clipEmbDim] }

    /// Every training subject in every batch, `batch_size / subjects` trials each (the reference's batches).
    public var mixedSubjectBatches: Bool { true }

    /// The reference's groups: weight decay on every ridge parameter (biases too), and on the backbone's and
    /// the prior's parameters except those named `bias`, `LayerNorm.bias` or `LayerNorm.weight` (its
    /// submodules are unnamed Sequentials, so in practice only biases are exempt).
    public func parameterGroups(_ config: TrainConfig) -> [AdamW.ParameterGroup] {
        let named = modules.namedParameters()
        let exempt = ["bias", "LayerNorm.bias", "LayerNorm.weight"]
        let decays: (String) -> Bool = { name in name.hasPrefix("ridge.") || !exempt.contains { name.contains($0) } }
        return [
            AdamW.ParameterGroup(named.filter { decays($0.name) }.map(\.tensor), lr: config.maxLR, weightDecay: config.weightDecay),
            AdamW.ParameterGroup(named.filter { !decays($0.name) }.map(\.tensor), lr: config.maxLR, weightDecay: 0),
        ]
    }

    /// The reference does not clip; with `train.grad_clip` set, everything is clipped together.
    public func clippedParameters(_ config: TrainConfig) -> [Tensor]? { nil }

    public func train(_ on: Bool) {
        model.train(on)
        prior?.train(on)
    }

    public func phase(epoch: Int) -> String { schedule.usesBiMixCo(epoch: epoch) ? "BiMixCo" : "SoftCLIP" }

    public func loss(for batch: NSDBatch, epoch: Int, autocast: Autocast) throws -> (loss: Tensor, extras: [String: Tensor]) {
        let parts = batch.parts
        let expected = Self.targetShape(config)
        for part in parts where Array(part.targets.shape.dropFirst()) != expected {
            throw ConfigError("subject \(part.subject): the targets have shape \(part.targets.shape), but the model predicts "
                + "\(expected) (model.clip_seq_dim x model.clip_emb_dim); set those to the targets' shape")
        }
        let indices = try parts.map { part -> Int in
            guard let i = ridgeIndex[part.subject] else {
                throw ConfigError("subject \(part.subject) has no ridge layer (data.train_subjects \(config.data.trainSubjects))")
            }
            return i
        }
        // MixCo per subject, on the voxels before the ridge (the reference mixes each subject's sub-batch); data
        // parallel: drawn for the subject's global rows, the same on every rank (`loss(parts:)` keeps this rank's)
        let parallel = DataParallel.current
        let mixcos = schedule.usesBiMixCo(epoch: epoch) ? try parts.map { MixCo(voxels: try parallel?.gather($0.voxels) ?? $0.voxels) } : nil
        return try loss(parts: parts, ridges: indices, mixcos: mixcos, epoch: epoch, autocast: autocast)
    }

    /// The loss of one batch's parts with given MixCo draws (nil: SoftCLIP), for `loss(for:)` and for tests
    /// that replay a batch. Data parallel (`DataParallel.current`): the draws are the subjects' global rows',
    /// this rank mixes and encodes its own rows (dropout drawing for the global batch), and the contrastive
    /// loss sees the global batch in one process's order, subject after subject.
    func loss(parts: [NSDBatch], ridges indices: [Int], mixcos: [MixCo]?, epoch: Int, autocast: Autocast) throws
        -> (loss: Tensor, extras: [String: Tensor])
    {
        let parallel = DataParallel.current
        let inputs = mixcos?.map { parallel?.localRows($0.mixed) ?? $0.mixed } ?? parts.map(\.voxels)
        let targets = Tensor.cat(parts.map(\.targets), dim: 0)
        let rows = parts.map { $0.voxels.size(0) }
        let global = parallel.map { GlobalBatch(rank: $0.rank, worldSize: $0.worldSize, parts: rows) } ?? GlobalBatch.current
        let (clipVoxels, priorLoss) = GlobalBatch.$current.withValue(global) {
            autocast { () -> (Tensor, Tensor?) in
                let hidden = Tensor.cat(zip(inputs, indices).map { model.ridge($0, subject: $1) }, dim: 0)
                let out = model.backbone(hidden)
                let p = prior.map { $0.loss(backbone: out.backbone, target: targets.to(out.backbone.dtype)).to(.float32) }
                return (out.clipVoxels, p)
            }
        }
        let labels = mixcos.map { Self.concatenated($0, offsetPermutations: config.model.mixcoPermOffsets) }
        return schedule.loss(clipVoxels: try parallel?.gatherWithGradient(clipVoxels, parts: rows) ?? clipVoxels,
                             targets: try parallel?.gather(targets, parts: rows) ?? targets, mixco: labels,
                             priorLoss: priorLoss, epoch: epoch, train: config.train)
    }

    /// The subjects' MixCo draws as one batch's soft labels. The reference concatenates each subject's
    /// permutation as drawn, indices into its own sub-batch, so a mixed trial of the second subject onwards
    /// gets its partner's label on the first subject's rows; `offsetPermutations` shifts them to the
    /// partner's own row (`model.mixco_perm_offsets`).
    static func concatenated(_ parts: [MixCo], offsetPermutations: Bool) -> MixCo {
        var offset = 0
        let perms = parts.map { m -> Tensor in
            defer { offset += m.perm.size(0) }
            return offsetPermutations ? m.perm + Double(offset) : m.perm
        }
        let perm = Tensor.cat(perms, dim: 0).to(.int64)
        let betas = Tensor.cat(parts.map(\.betas), dim: 0)
        // the labels read only perm, betas and select; the voxels are a placeholder of the batch's length
        return MixCo(voxels: Tensor.zeros([perm.size(0), 1], dtype: betas.dtype), perm: perm, betas: betas,
                     select: Tensor.cat(parts.map(\.select), dim: 0))
    }

    public func evaluate(data: TrainingData, config: EvalConfig, progress: ((EvaluationProgress) -> Void)?) throws
        -> EvaluationReport
    {
        var evaluator = evaluator
        evaluator.config = config
        evaluator.onProgress = progress
        try requireFiniteWeights(in: nil)
        return try evaluator.evaluate(data: data, modules: [model]) { voxels, subject in
            guard let i = ridgeIndex[subject] else {
                throw ConfigError("test subject \(subject) has no ridge layer (data.train_subjects \(self.config.data.trainSubjects))")
            }
            let out = model(voxels, subject: i)
            return (out.clipVoxels, out.backbone)
        }
    }

    /// The reference's fine-tuning load (`load_ckpt(multisubj_loading=True)`): `ridge.linears.0.weight` is
    /// dropped, and the rest loads non-strictly, so the pretrained first subject's ridge *bias* is kept in the
    /// new subject's ridge (a quirk kept here), the other subjects' ridge layers are ignored, and the
    /// backbone (and the prior, when the pretrained run had one) carry over. A mis-shaped or otherwise
    /// missing key throws by name.
    public func initialise(from weights: [String: Tensor], source: String) throws -> String {
        // `module.`/`model.` wrappers of a converted file stripped first, so the ridge keys can be picked out
        var renamed = modules.sanitize(weights: weights)
        let hasPrior = renamed.keys.contains { $0.hasPrefix("diffusion_prior.") }
        let ignored = renamed.keys.filter { $0.hasPrefix("ridge.") && $0 != "ridge.linears.0.bias" }.sorted()
        for key in ignored { renamed[key] = nil }
        var report: Module.LoadReport
        do { report = try modules.load(stateDict: renamed) } catch let e as Module.LoadError { report = e.report }
        let fresh = report.missing.filter { $0.hasPrefix("ridge.") || (!hasPrior && $0.hasPrefix("diffusion_prior.")) }
        var wrong = report
        wrong.missing = report.missing.filter { !fresh.contains($0) }
        wrong.unexpected = []
        guard wrong.isClean else { throw Module.LoadError(report: wrong) }
        let loaded = try modules.load(stateDict: renamed, strict: false)
        let count = renamed.count - loaded.unexpected.count
        return "initialised \(count) weight tensors from \(source); fresh: \(fresh.count) "
            + "(\(fresh.contains { $0.hasPrefix("diffusion_prior.") } ? "the diffusion prior, which it lacks, and " : "")"
            + "the ridge weights; ridge.linears.0.bias is the pretrained first subject's, as in the reference); "
            + "ignored: \(ignored.count) other pretrained ridge tensors"
            + (loaded.unexpected.isEmpty ? "" : " and \(loaded.unexpected.count) keys this model lacks (\(loaded.unexpected.prefix(3).joined(separator: ", "))\(loaded.unexpected.count > 3 ? ", ..." : ""))")
    }

    public func requireFiniteWeights(in source: String?) throws {
        try Evaluator.requireFiniteWeights(model: model, prior: prior, in: source)
    }
    public func requireFiniteWeights(in source: String) throws { try requireFiniteWeights(in: Optional(source)) }
}
