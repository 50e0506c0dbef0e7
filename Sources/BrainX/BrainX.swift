import Torch

/// What the three UMBRAE encoders share: voxels of one subject in, (B, num_latents, out_dim) tokens out,
/// through a subject tokenizer and the `perceiver`.
public protocol BrainXModel: Module {
    var config: BrainXConfig { get }
    var perceiver: Perceiver { get }
    /// voxels (B, V_s) of subject `subject` (an index into `config.subjects`) -> tokens (B, L, out_dim).
    func callAsFunction(_ voxels: Tensor, subject: Int) -> Tensor
}

/// The validated config's model: BrainX, BrainXS or BrainXC by `variant`.
public func makeBrainX(_ config: BrainXConfig) throws -> any BrainXModel {
    try config.validate()
    switch config.variant {
    case .brainx: return BrainX(config)
    case .brainxs: return BrainXS(config)
    case .brainxc: return BrainXC(config)
    }
}

/// (B, L, hidden) tokens with the subject's learned tokens (1, n, hidden) appended: (B, L + n, hidden).
func appending(_ token: Tensor?, to tokens: Tensor) -> Tensor {
    guard let token else { return tokens }
    return Tensor.cat([tokens, token.expand([tokens.shape[0], token.shape[1], token.shape[2]])], dim: 1)
}

func subjectToken(_ config: BrainXConfig) -> Tensor {
    let token = Tensor.empty([1, config.numTokens, config.hiddenDim])
    Init.normal_(token, std: 0.02)
    return token
}

/// UMBRAE's cross-subject BrainX: per subject s a tokenizer `lin1.fmri{s}` (Linear(1, L)), `lin2.fmri{s}`
/// (Linear(V_s, hidden)) and, with `use_token`, learned tokens `token.fmri{s}` (1, 5, hidden); one shared
/// `perceiver` (see `Perceiver`). Names and their order are the reference state dict's.
public final class BrainX: Module, BrainXModel {
    @ModuleInfo public var lin1: ModuleDict<SubjectLin1>
    @ModuleInfo public var lin2: ModuleDict<Linear>
    @ModuleInfo public var token: ParameterDict
    @ModuleInfo public var perceiver: Perceiver
    public let config: BrainXConfig

    /// `config` should be validated (`makeBrainX` does it).
    public init(_ config: BrainXConfig) {
        self.config = config
        let keys = config.subjectKeys
        lin1 = ModuleDict(keys.map {
            ($0, SubjectLin1(numLatents: config.numLatents, useNorm: config.useNorm, actFirst: config.actFirst))
        })
        lin2 = ModuleDict(zip(keys, config.numVoxels).map { ($0, Linear($1, config.hiddenDim)) })
        token = ParameterDict(config.useToken ? keys.map { ($0, subjectToken(config)) } : [])
        perceiver = Perceiver(config)
        super.init()
    }

    /// voxels (B, V_s) of subject index `subject` -> (B, num_latents, out_dim).
    public func callAsFunction(_ voxels: Tensor, subject: Int) -> Tensor {
        precondition(config.subjects.indices.contains(subject),
                     "BrainX: subject index \(subject) out of range, the model has \(config.subjects.count) subject(s)")
        return self(voxels, key: config.subjectKeys[subject])
    }

    /// The reference's `forward(x, modal='fmri{s}')`.
    public func callAsFunction(_ voxels: Tensor, key: String) -> Tensor {
        guard let l1 = lin1[key], let l2 = lin2[key] else {
            preconditionFailure("BrainX: no subject '\(key)', the model has \(lin1.keys)")
        }
        let tokens = tokenize(voxels, lin1: l1, lin2: l2, path: config.tokenizer)  // (B, L, hidden)
        return perceiver(appending(token[key], to: tokens))                       // (B, L, out_dim)
    }
}

/// UMBRAE's single-subject BrainXS: `lin1` (Linear(1, L)), `lin2` (Linear(V, hidden)), `perceiver`; with
/// `use_token` (not in the reference) a learned `token` (1, n, hidden).
public class BrainXS: Module, BrainXModel {
    @ModuleInfo public var lin1: SubjectLin1
    @ModuleInfo public var lin2: Linear
    @ParameterInfo public var token: Tensor?
    @ModuleInfo public var perceiver: Perceiver
    public let config: BrainXConfig

    /// `config` should be validated and list one subject.
    public init(_ config: BrainXConfig) {
        self.config = config
        _lin1.wrappedValue = SubjectLin1(numLatents: config.numLatents, useNorm: config.useNorm, actFirst: config.actFirst)
        _lin2.wrappedValue = Linear(config.numVoxels[0], config.hiddenDim)
        _token.wrappedValue = config.useToken ? subjectToken(config) : nil
        _perceiver.wrappedValue = Perceiver(config)
        super.init()
    }

    /// voxels (B, V) -> (B, num_latents, out_dim); `subject` must be 0.
    public func callAsFunction(_ voxels: Tensor, subject: Int = 0) -> Tensor {
        precondition(subject == 0, "\(type(of: self)): a single-subject model, got subject index \(subject)")
        let tokens = tokenize(voxels, lin1: lin1, lin2: lin2, path: config.tokenizer)  // (B, L, hidden)
        return perceiver(appending(token, to: tokens))
    }
}

/// UMBRAE's BrainXC for weakly supervised adaptation to a new subject: BrainXS's layers and names; the
/// perceiver comes from a cross-subject BrainX (`loadPerceiver(from:)`), the tokenizer is trained from
/// scratch, and with `freeze_perceiver` the perceiver takes no gradient.
public final class BrainXC: BrainXS {
    override public init(_ config: BrainXConfig) {
        super.init(config)
        if config.freezePerceiver {
            for p in perceiver.parameters() { p.requiresGrad = false }
        }
    }

    /// The parameters an optimiser should update: all but a frozen perceiver's.
    public var trainableParameters: [(name: String, tensor: Tensor)] {
        namedParameters().filter { $0.tensor.requiresGrad }
    }

    /// Loads `perceiver.*` of a BrainX (or BrainXS) checkpoint and nothing else, as the reference's
    /// non-strict load does (its `lin1.fmri{s}` keys never match `lin1`). Wrapper prefixes are removed
    /// first (`module.`, `model.`); every perceiver key must be present with our shape, and a mistake
    /// throws `Module.LoadError` naming the full dotted key. Returns the keys left out.
    @discardableResult
    public func loadPerceiver(from weights: [String: Tensor]) throws -> [String] {
        let prefix = "perceiver."
        let own = Set(perceiver.namedParameters().map { prefix + $0.name })
        // Our own tokenizer's values stand in for its keys, so one strict load names every perceiver
        // key that is missing, unexpected or mis-shaped in full, and copies nothing on a mistake.
        var merged = stateDict().filter { !$0.key.hasPrefix(prefix) }
        var skipped: [String] = []
        for (key, value) in weights {
            var name = Substring(key)
            while !own.contains(String(name)),
                  let wrapper = ["module.", "model."].first(where: { name.hasPrefix($0) })
            {
                name = name.dropFirst(wrapper.count)
            }
            if name.hasPrefix(prefix) { merged[String(name)] = value } else { skipped.append(key) }
        }
        try load(stateDict: merged)
        return skipped.sorted()
    }
}
