import Foundation

/// The 1cycle schedule of `torch.optim.lr_scheduler.OneCycleLR` (two phases, `three_phase=False`), with
/// momentum cycling applied to AdamW's beta1. Pure arithmetic, computed exactly as PyTorch computes it:
/// the learning rate rises from `maxLR / divFactor` to `maxLR` over the first `pctStart` of the steps,
/// then falls to `maxLR / divFactor / finalDivFactor`; beta1 moves the opposite way between
/// `maxMomentum` and `baseMomentum`.
///
/// Step counting is PyTorch's: a new scheduler is at step 0 (and PyTorch's constructor already applies
/// step 0's values), and after `step(_:)` has been called k times it is at step k.
///
///     var schedule = OneCycleLR(maxLR: 5e-5, totalSteps: 300, pctStart: 2.0 / 150)
///     schedule.apply(to: opt)
///     for _ in 0..<300 { ...; opt.step(); schedule.step(opt) }
public struct OneCycleLR: Equatable, Sendable {
    public enum Anneal: String, Sendable, Codable {
        case cos, linear
    }

    /// The peak learning rate of each optimizer group (one value applies to every group).
    public let maxLRs: [Double]
    public let totalSteps: Int
    public let pctStart: Double
    public let anneal: Anneal
    public let divFactor: Double
    public let finalDivFactor: Double
    public let cycleMomentum: Bool
    public let baseMomentum: Double
    public let maxMomentum: Double
    /// The current step (PyTorch's `last_epoch`): the whole state needed to resume.
    public var stepCount: Int = 0

    public init(maxLRs: [Double], totalSteps: Int, pctStart: Double = 0.3, anneal: Anneal = .cos,
                divFactor: Double = 25, finalDivFactor: Double = 1e4, cycleMomentum: Bool = true,
                baseMomentum: Double = 0.85, maxMomentum: Double = 0.95)
    {
        precondition(!maxLRs.isEmpty, "OneCycleLR needs at least one max_lr")
        precondition(totalSteps > 0, "OneCycleLR: expected positive total_steps, got \(totalSteps)")
        precondition((0...1).contains(pctStart), "OneCycleLR: expected pct_start between 0 and 1, got \(pctStart)")
        self.maxLRs = maxLRs
        self.totalSteps = totalSteps
        self.pctStart = pctStart
        self.anneal = anneal
        self.divFactor = divFactor
        self.finalDivFactor = finalDivFactor
        self.cycleMomentum = cycleMomentum
        self.baseMomentum = baseMomentum
        self.maxMomentum = maxMomentum
        precondition(warmupEnd != 0, "OneCycleLR: pct_start * total_steps = 1 leaves a warm-up phase of no length")
    }

    public init(maxLR: Double, totalSteps: Int, pctStart: Double = 0.3, anneal: Anneal = .cos,
                divFactor: Double = 25, finalDivFactor: Double = 1e4, cycleMomentum: Bool = true,
                baseMomentum: Double = 0.85, maxMomentum: Double = 0.95)
    {
        self.init(maxLRs: [maxLR], totalSteps: totalSteps, pctStart: pctStart, anneal: anneal,
                  divFactor: divFactor, finalDivFactor: finalDivFactor, cycleMomentum: cycleMomentum,
                  baseMomentum: baseMomentum, maxMomentum: maxMomentum)
    }

    /// The (fractional) step at which the rise ends: `float(pct_start * total_steps) - 1`.
    var warmupEnd: Double { pctStart * Double(totalSteps) - 1 }

    /// Where `step` falls: the phase's start and end values' selector and the fraction through it.
    private func phase(_ step: Int) -> (rising: Bool, pct: Double) {
        precondition(step >= 0 && step <= totalSteps,
                     "OneCycleLR: step \(step) is outside 0...\(totalSteps) (total_steps)")
        let s = Double(step)
        if s <= warmupEnd { return (true, s / warmupEnd) }
        let end = Double(totalSteps - 1)
        return (false, (s - warmupEnd) / (end - warmupEnd))
    }

    private func interpolate(_ start: Double, _ end: Double, _ pct: Double) -> Double {
        switch anneal {
        case .cos: end + (start - end) / 2.0 * (cos(Double.pi * pct) + 1)
        case .linear: (end - start) * pct + start
        }
    }

    /// The learning rate of `group` at `step`.
    public func lr(at step: Int, group: Int = 0) -> Double {
        let maxLR = self.maxLR(group: group)
        let initial = maxLR / divFactor
        let (rising, pct) = phase(step)
        return rising ? interpolate(initial, maxLR, pct) : interpolate(maxLR, initial / finalDivFactor, pct)
    }

    /// AdamW's beta1 at `step` (nil when momentum does not cycle).
    public func beta1(at step: Int) -> Double? {
        guard cycleMomentum else { return nil }
        let (rising, pct) = phase(step)
        return rising ? interpolate(maxMomentum, baseMomentum, pct) : interpolate(baseMomentum, maxMomentum, pct)
    }

    private func maxLR(group: Int) -> Double {
        maxLRs.count == 1 ? maxLRs[0] : maxLRs[group]
    }

    /// Sets every group's lr (and beta1, keeping beta2) to their values at `step`.
    public func apply(step: Int, to optimizer: AdamW) {
        precondition(maxLRs.count == 1 || maxLRs.count == optimizer.groups.count,
                     "OneCycleLR has \(maxLRs.count) max_lr values for \(optimizer.groups.count) groups")
        for g in optimizer.groups.indices {
            var s = optimizer.settings(group: g)
            s.lr = lr(at: step, group: g)
            if let b = beta1(at: step) { s.beta1 = b }
            optimizer.set(s, group: g)
        }
    }
    /// Applies the current step's values.
    public func apply(to optimizer: AdamW) { apply(step: stepCount, to: optimizer) }

    /// Advances one step and applies its values, like `scheduler.step()`.
    public mutating func step(_ optimizer: AdamW) {
        stepCount += 1
        apply(to: optimizer)
    }

    /// `["last_epoch": stepCount]` as an int64 scalar, for a checkpoint.
    public func stateDict() -> [String: Tensor] {
        ["last_epoch": Tensor(scalar: Double(stepCount), dtype: .int64)]
    }
    /// Restores the step counter of `stateDict()`.
    public mutating func load(stateDict dict: [String: Tensor]) throws {
        guard let t = dict["last_epoch"], t.shape == [] else {
            throw TorchError("OneCycleLR state: expected a scalar last_epoch, found keys \(dict.keys.sorted())")
        }
        let step = t.itemInt()
        guard (0...totalSteps).contains(step) else {
            throw TorchError("OneCycleLR state: last_epoch \(step) is outside 0...\(totalSteps)")
        }
        stepCount = step
    }
}
