import CTorch

/// AdamW with decoupled weight decay: libtorch's `torch::optim::AdamW`, which updates exactly as
/// `torch.optim.AdamW(..., foreach=False)` does (amsgrad off). Parameters sit in groups, each with its own
/// learning rate, betas and weight decay, so a schedule can change them between steps.
///
///     let opt = try AdamW(groups: [.init(decayed, lr: 1e-3, weightDecay: 1e-2),
///                                  .init(norms, lr: 1e-3, weightDecay: 0)])
///     opt.zeroGrad(); loss.backward(); opt.step()
public final class AdamW {
    /// Parameters that share hyperparameters (PyTorch's `param_groups` entry).
    public struct ParameterGroup {
        public var parameters: [Tensor]
        public var lr: Double
        public var weightDecay: Double
        public init(_ parameters: [Tensor], lr: Double, weightDecay: Double = 1e-2) {
            self.parameters = parameters
            self.lr = lr
            self.weightDecay = weightDecay
        }
    }

    /// The hyperparameters of one group that may change from step to step.
    public struct GroupSettings: Equatable, Sendable {
        public var lr: Double
        public var beta1: Double
        public var beta2: Double
        public var weightDecay: Double
        public init(lr: Double, beta1: Double, beta2: Double, weightDecay: Double) {
            self.lr = lr
            self.beta1 = beta1
            self.beta2 = beta2
            self.weightDecay = weightDecay
        }
    }

    private let handle: ct_optimizer
    /// The parameters of each group, in the order given; state-dict indices count through them in this order.
    public let groups: [[Tensor]]
    public let eps: Double

    /// Fails with libtorch's message when a parameter cannot be optimised (a non-leaf tensor, for one).
    public init(groups: [ParameterGroup], betas: (Double, Double) = (0.9, 0.999), eps: Double = 1e-8) throws {
        let handles = groups.flatMap { $0.parameters.map { Optional($0.handle) } }
        let sizes = groups.map { Int64($0.parameters.count) }
        var out: ct_optimizer?
        let status = ct_adamw_new(handles, sizes, Int32(groups.count), groups.map(\.lr), groups.map(\.weightDecay),
                                  betas.0, betas.1, eps, &out)
        guard status == 0, let out else { throw TorchError("AdamW: " + String(cString: ct_last_error())) }
        self.handle = out
        self.groups = groups.map(\.parameters)
        self.eps = eps
    }

    /// One group holding every parameter.
    public convenience init(parameters: [Tensor], lr: Double = 1e-3, betas: (Double, Double) = (0.9, 0.999),
                            eps: Double = 1e-8, weightDecay: Double = 1e-2) throws
    {
        try self.init(groups: [ParameterGroup(parameters, lr: lr, weightDecay: weightDecay)], betas: betas, eps: eps)
    }

    deinit { ct_adamw_free(handle) }

    /// Updates every parameter that has a gradient.
    public func step() { check(ct_adamw_step(handle)) }
    /// Clears the gradients of every parameter (to nothing by default, as PyTorch does).
    public func zeroGrad(setToNone: Bool = true) { check(ct_adamw_zero_grad(handle, setToNone ? 1 : 0)) }

    public var parameters: [Tensor] { groups.flatMap { $0 } }

    // MARK: hyperparameters

    public func settings(group: Int) -> GroupSettings {
        precondition(groups.indices.contains(group), "AdamW has \(groups.count) groups, asked for group \(group)")
        var s = GroupSettings(lr: 0, beta1: 0, beta2: 0, weightDecay: 0)
        check(ct_adamw_get_group(handle, Int32(group), &s.lr, &s.beta1, &s.beta2, &s.weightDecay))
        return s
    }
    public func set(_ s: GroupSettings, group: Int) {
        precondition(groups.indices.contains(group), "AdamW has \(groups.count) groups, asked for group \(group)")
        check(ct_adamw_set_group(handle, Int32(group), s.lr, s.beta1, s.beta2, s.weightDecay))
    }
    public func lr(group: Int = 0) -> Double { settings(group: group).lr }
    public func setLR(_ lr: Double, group: Int) { update(group) { $0.lr = lr } }
    public func betas(group: Int = 0) -> (Double, Double) {
        let s = settings(group: group)
        return (s.beta1, s.beta2)
    }
    public func setBetas(_ betas: (Double, Double), group: Int) {
        update(group) { $0.beta1 = betas.0; $0.beta2 = betas.1 }
    }
    public func weightDecay(group: Int = 0) -> Double { settings(group: group).weightDecay }
    public func setWeightDecay(_ weightDecay: Double, group: Int) { update(group) { $0.weightDecay = weightDecay } }

    private func update(_ group: Int, _ change: (inout GroupSettings) -> Void) {
        var s = settings(group: group)
        change(&s)
        set(s, group: group)
    }

    // MARK: state

    /// Everything needed to resume exactly, under dotted names that fit a safetensors file:
    /// `state.<i>.step` (int64), `state.<i>.exp_avg`, `state.<i>.exp_avg_sq` for the i-th parameter
    /// (counting through the groups in order, as PyTorch's `state_dict` does; absent before its first step),
    /// and `param_groups.<g>.lr`, `.betas` (2 values), `.weight_decay`, `.eps` (float64 scalars).
    /// The tensors are copies: later steps do not change them.
    public func stateDict() -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (i, p) in parameters.enumerated() {
            var has: Int32 = 0, step: Int64 = 0
            var avg: ct_tensor?, avgSq: ct_tensor?
            check(ct_adamw_get_state(handle, p.handle, &has, &step, &avg, &avgSq))
            guard has != 0, let avg, let avgSq else { continue }
            out["state.\(i).step"] = Tensor(scalar: Double(step), dtype: .int64)
            out["state.\(i).exp_avg"] = Tensor(handle: avg).detach().clone()
            out["state.\(i).exp_avg_sq"] = Tensor(handle: avgSq).detach().clone()
        }
        for g in groups.indices {
            let s = settings(group: g)
            out["param_groups.\(g).lr"] = Tensor(scalar: s.lr, dtype: .float64)
            out["param_groups.\(g).betas"] = Tensor([s.beta1, s.beta2])
            out["param_groups.\(g).weight_decay"] = Tensor(scalar: s.weightDecay, dtype: .float64)
            out["param_groups.\(g).eps"] = Tensor(scalar: eps, dtype: .float64)
        }
        return out
    }

    /// Restores a `stateDict()` into an optimizer over parameters of the same shapes, in the same groups.
    /// Checks every key before changing anything; a missing, unexpected or mis-shaped entry throws a
    /// `TorchError` naming it. Parameters without `state.<i>.*` entries keep their current state
    /// (none, in a new optimizer).
    public func load(stateDict dict: [String: Tensor]) throws {
        var remaining = dict
        func take(_ key: String, shape: [Int]) throws -> Tensor {
            guard let t = remaining.removeValue(forKey: key) else {
                throw TorchError("AdamW state: missing key \(key)")
            }
            guard t.shape == shape else {
                throw TorchError("AdamW state: \(key) has shape \(t.shape), expected \(shape)")
            }
            return t
        }
        var settings: [GroupSettings] = []
        for g in groups.indices {
            let lr = try take("param_groups.\(g).lr", shape: []).item()
            let betas = try take("param_groups.\(g).betas", shape: [2]).toArray(Double.self)
            let wd = try take("param_groups.\(g).weight_decay", shape: []).item()
            let e = try take("param_groups.\(g).eps", shape: []).item()
            guard e == eps else {
                throw TorchError("AdamW state: param_groups.\(g).eps is \(e), this optimizer was built with \(eps)")
            }
            settings.append(GroupSettings(lr: lr, beta1: betas[0], beta2: betas[1], weightDecay: wd))
        }
        var states: [(Tensor, Int64, Tensor, Tensor)] = []
        for (i, p) in parameters.enumerated() where remaining["state.\(i).step"] != nil {
            let step = try take("state.\(i).step", shape: []).itemInt()
            let avg = try take("state.\(i).exp_avg", shape: p.shape)
            let avgSq = try take("state.\(i).exp_avg_sq", shape: p.shape)
            states.append((p, Int64(step), avg, avgSq))
        }
        if !remaining.isEmpty {
            throw TorchError("AdamW state: unexpected keys " + remaining.keys.sorted().joined(separator: ", "))
        }
        for (g, s) in settings.enumerated() { set(s, group: g) }
        for (p, step, avg, avgSq) in states {
            check(ct_adamw_set_state(handle, p.handle, step, avg.handle, avgSq.handle))
        }
    }
}
