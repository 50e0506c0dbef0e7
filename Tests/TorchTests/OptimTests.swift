import Foundation
import Testing
@testable import Torch

// Reference values from PyTorch 2.13: Fixtures/generate_optim.py writes Fixtures/optim.json.
private struct OptimFixture: Decodable {
    struct Schedule: Decodable {
        let total_steps: Int
        let max_lr: Double
        let pct_start: Double
        let anneal: String
        let lr: [Double]
        let beta1: [Double]
    }
    struct Params: Decodable { let W: [Double], b: [Double], s: [Double] }
    struct ParamState: Decodable { let step: Int, exp_avg: [Double], exp_avg_sq: [Double] }
    struct Group: Decodable { let lr: Double, betas: [Double], weight_decay: Double }
    struct AdamWRun: Decodable {
        let x: [Double], y: [Double], W: [Double], b: [Double], s: [Double]
        let max_lr: [Double]
        let total_steps: Int
        let pct_start: Double
        let weight_decay: [Double]
        let betas: [Double]
        let eps: Double
        let params_after: [String: Params]
        let state_after_100: [String: ParamState]
        let groups_after_100: [Group]
    }
    struct ClipCase: Decodable {
        let max_norm: Double, norm_type: Double, total_norm: Double
        let grad1: [Double], grad2: [Double]
    }
    struct Clip: Decodable { let c1: [Double], c2: [Double], cases: [ClipCase] }
    let schedules: [Schedule]
    let adamw: AdamWRun
    let clip: Clip

    static let shared: OptimFixture = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/optim.json")
        return try! JSONDecoder().decode(OptimFixture.self, from: Data(contentsOf: url))
    }()
}

private func relativeError(_ a: Double, _ b: Double) -> Double { abs(a - b) / abs(b) }

@Suite struct OptimTests {}

// MARK: OneCycleLR

extension OptimTests {
    @Test(arguments: [0, 1])
    func oneCycleEqualsPyTorchAtEveryStep(_ index: Int) {
        let ref = OptimFixture.shared.schedules[index]
        let schedule = OneCycleLR(maxLR: ref.max_lr, totalSteps: ref.total_steps, pctStart: ref.pct_start,
                                  anneal: OneCycleLR.Anneal(rawValue: ref.anneal)!)
        var worstLR = 0.0, worstBeta1 = 0.0
        for k in 0..<ref.total_steps {
            worstLR = max(worstLR, relativeError(schedule.lr(at: k), ref.lr[k]))
            worstBeta1 = max(worstBeta1, relativeError(schedule.beta1(at: k)!, ref.beta1[k]))
        }
        #expect(worstLR < 1e-9)
        #expect(worstBeta1 < 1e-9)
    }

    @Test func oneCyclePaperPresetPeaksAtStepThree() {
        // pct_start 2/150 of 300 steps: the rise ends at step 4 - 1 = 3, at max_lr with beta1 = base_momentum.
        let s = OneCycleLR(maxLR: 5e-5, totalSteps: 300, pctStart: 2.0 / 150)
        // (Values equal up to rounding: PyTorch's cos anneal returns 2.000000000000001e-06 at step 0.)
        #expect(relativeError(s.lr(at: 0), 5e-5 / 25) < 1e-14)
        #expect(relativeError(s.beta1(at: 0)!, 0.95) < 1e-14)
        #expect(s.lr(at: 3) == 5e-5)
        #expect(s.beta1(at: 3) == 0.85)
        #expect(s.lr(at: 4) < 5e-5)
        #expect(relativeError(s.lr(at: 299), 5e-5 / 25 / 1e4) < 1e-14)
        #expect(relativeError(s.beta1(at: 299)!, 0.95) < 1e-14)
    }

    @Test func oneCycleSetsEachGroupsLRAndBeta1KeepingBeta2() throws {
        let a = Tensor.zeros([2]).requiresGrad(), b = Tensor.zeros([3]).requiresGrad()
        let opt = try AdamW(groups: [.init([a], lr: 1, weightDecay: 0.1), .init([b], lr: 1, weightDecay: 0)],
                            betas: (0.9, 0.98))
        var schedule = OneCycleLR(maxLRs: [0.05, 0.02], totalSteps: 10, pctStart: 0.5, anneal: .linear)
        schedule.apply(to: opt)
        #expect(opt.settings(group: 0) == AdamW.GroupSettings(lr: 0.05 / 25, beta1: 0.95, beta2: 0.98, weightDecay: 0.1))
        #expect(opt.settings(group: 1) == AdamW.GroupSettings(lr: 0.02 / 25, beta1: 0.95, beta2: 0.98, weightDecay: 0))
        // The rise ends at step 0.5 * 10 - 1 = 4: max_lr and base_momentum there.
        for _ in 0..<4 { schedule.step(opt) }
        #expect(schedule.stepCount == 4)
        #expect(relativeError(opt.lr(group: 0), 0.05) < 1e-14)
        #expect(relativeError(opt.lr(group: 1), 0.02) < 1e-14)
        #expect(relativeError(opt.betas(group: 1).0, 0.85) < 1e-14)
        #expect(opt.betas(group: 1).1 == 0.98)
    }

    @Test func oneCycleStateRestoresTheStepCounter() throws {
        var a = OneCycleLR(maxLR: 1e-3, totalSteps: 20)
        a.stepCount = 7
        var b = OneCycleLR(maxLR: 1e-3, totalSteps: 20)
        try b.load(stateDict: a.stateDict())
        #expect(b.stepCount == 7)
        #expect(b == a)
        let bad = ["last_epoch": Tensor(scalar: 21, dtype: .int64)]
        #expect(throws: TorchError("OneCycleLR state: last_epoch 21 is outside 0...20")) { try b.load(stateDict: bad) }
    }

}

// MARK: AdamW

/// The fixture's model: loss = (((W x + b) * s - y)^2).sum(); W in group 0 (weight decay 1e-2), b and s in
/// group 1 (no decay); float64 throughout.
private final class TinyProblem {
    let ref = OptimFixture.shared.adamw
    let x: Tensor, y: Tensor
    let W: Tensor, b: Tensor, s: Tensor
    let opt: AdamW
    var schedule: OneCycleLR

    init(W: Tensor? = nil, b: Tensor? = nil, s: Tensor? = nil) throws {
        x = Tensor(ref.x, shape: [3, 5])
        y = Tensor(ref.y, shape: [4, 5])
        self.W = (W ?? Tensor(ref.W, shape: [4, 3])).requiresGrad()
        self.b = (b ?? Tensor(ref.b, shape: [4, 1])).requiresGrad()
        self.s = (s ?? Tensor(ref.s, shape: [1])).requiresGrad()
        opt = try AdamW(groups: [.init([self.W], lr: 1e-3, weightDecay: ref.weight_decay[0]),
                                 .init([self.b, self.s], lr: 1e-3, weightDecay: ref.weight_decay[1])],
                        betas: (ref.betas[0], ref.betas[1]), eps: ref.eps)
        schedule = OneCycleLR(maxLRs: ref.max_lr, totalSteps: ref.total_steps, pctStart: ref.pct_start)
        schedule.apply(to: opt)
    }

    /// Runs training steps `from+1 ... to` (PyTorch's loop: zero_grad, backward, step, scheduler step).
    func train(from: Int, to: Int, after: (Int) -> Void = { _ in }) {
        for k in (from + 1)...to {
            opt.zeroGrad()
            let loss = ((W.matmul(x) + b) * s - y).square().sum()
            loss.backward()
            opt.step()
            if k < ref.total_steps { schedule.step(opt) }
            after(k)
        }
    }
}

/// Largest |a - b| / max(|b|, 1) over the elements: relative for values above 1, absolute below.
private func worstError(_ a: Tensor, _ b: [Double]) -> Double {
    zip(a.toArray(Double.self), b).map { abs($0 - $1) / max(abs($1), 1) }.max() ?? 0
}

extension OptimTests {
    @Test func adamWTrajectoryEqualsPyTorchUnderOneCycle() throws {
        let p = try TinyProblem()
        // libtorch's C++ AdamW and Python's differ only in rounding (exp_avg by mul/add vs lerp), a few float64
        // ulps per step (2.2e-16 seen after 100 steps); 1e-12 leaves room for that and still fails for any real
        // difference (a wrong lr or beta1 at a single step moves the parameters by ~1e-3 to 1e-5).
        var checked: [Int] = []
        p.train(from: 0, to: 100) { k in
            guard let ref = p.ref.params_after[String(k)] else { return }
            #expect(worstError(p.W, ref.W) < 1e-12, "W after step \(k)")
            #expect(worstError(p.b, ref.b) < 1e-12, "b after step \(k)")
            #expect(worstError(p.s, ref.s) < 1e-12, "s after step \(k)")
            checked.append(k)
        }
        #expect(checked == [1, 10, 50, 100])
        // The parameters moved: the comparison above is not between two unchanged copies.
        #expect(worstError(p.W, p.ref.W) > 1e-2)

        let state = p.opt.stateDict()
        for (i, ref) in p.ref.state_after_100 {
            #expect(state["state.\(i).step"]?.itemInt() == ref.step)
            #expect(worstError(state["state.\(i).exp_avg"]!, ref.exp_avg) < 1e-12)
            #expect(worstError(state["state.\(i).exp_avg_sq"]!, ref.exp_avg_sq) < 1e-12)
        }
        for (g, ref) in p.ref.groups_after_100.enumerated() {
            let s = p.opt.settings(group: g)
            #expect(relativeError(s.lr, ref.lr) < 1e-12)
            #expect(s.beta1 == ref.betas[0] && s.beta2 == ref.betas[1])
            #expect(s.weightDecay == ref.weight_decay)
        }
    }

    @Test func adamWStateDictNamesEveryEntry() throws {
        let p = try TinyProblem()
        #expect(p.opt.stateDict().keys.sorted() == [
            "param_groups.0.betas", "param_groups.0.eps", "param_groups.0.lr", "param_groups.0.weight_decay",
            "param_groups.1.betas", "param_groups.1.eps", "param_groups.1.lr", "param_groups.1.weight_decay",
        ])
        p.train(from: 0, to: 2)
        let state = p.opt.stateDict()
        #expect(state.count == 8 + 3 * 3)
        #expect(state["state.0.exp_avg"]?.shape == [4, 3])
        #expect(state["state.1.exp_avg_sq"]?.shape == [4, 1])
        #expect(state["state.2.step"]?.dtype == .int64)
        #expect(state["state.2.step"]?.itemInt() == 2)
        #expect(state["param_groups.1.betas"]?.toArray(Double.self) == [p.schedule.beta1(at: 2)!, 0.999])
        #expect(state["param_groups.0.lr"]?.item() == p.schedule.lr(at: 2, group: 0))
    }

    @Test func adamWResumesExactlyFromItsStateDict() throws {
        let straight = try TinyProblem()
        straight.train(from: 0, to: 100)

        let first = try TinyProblem()
        first.train(from: 0, to: 50)
        // Through raw bytes, as a safetensors checkpoint would carry them.
        func roundTrip(_ t: Tensor) -> Tensor {
            t.bytes().withUnsafeBytes { Tensor(bytes: $0, dtype: t.dtype, shape: t.shape) }
        }
        let optState = first.opt.stateDict().mapValues(roundTrip)
        let scheduleState = first.schedule.stateDict().mapValues(roundTrip)
        let resumed = try TinyProblem(W: roundTrip(first.W.detach()), b: roundTrip(first.b.detach()),
                                      s: roundTrip(first.s.detach()))
        try resumed.opt.load(stateDict: optState)
        try resumed.schedule.load(stateDict: scheduleState)
        #expect(resumed.schedule.stepCount == 50)
        resumed.schedule.apply(to: resumed.opt)
        resumed.train(from: 50, to: 100)

        #expect(resumed.W.toArray(Double.self) == straight.W.toArray(Double.self))
        #expect(resumed.b.toArray(Double.self) == straight.b.toArray(Double.self))
        #expect(resumed.s.toArray(Double.self) == straight.s.toArray(Double.self))
        // Without the optimizer state the same 50 steps land elsewhere: the check above has teeth.
        let cold = try TinyProblem(W: roundTrip(first.W.detach()), b: roundTrip(first.b.detach()),
                                   s: roundTrip(first.s.detach()))
        cold.schedule.stepCount = 50
        cold.schedule.apply(to: cold.opt)
        cold.train(from: 50, to: 100)
        #expect(cold.W.toArray(Double.self) != straight.W.toArray(Double.self))
    }

    @Test func adamWGroupSettingsReadBackWhatWasSet() throws {
        let a = Tensor.zeros([2]).requiresGrad()
        let opt = try AdamW(parameters: [a], lr: 3e-4, betas: (0.8, 0.9), eps: 1e-6, weightDecay: 0.05)
        #expect(opt.settings(group: 0) == AdamW.GroupSettings(lr: 3e-4, beta1: 0.8, beta2: 0.9, weightDecay: 0.05))
        opt.setLR(1e-2, group: 0)
        opt.setBetas((0.7, 0.95), group: 0)
        opt.setWeightDecay(0, group: 0)
        #expect(opt.settings(group: 0) == AdamW.GroupSettings(lr: 1e-2, beta1: 0.7, beta2: 0.95, weightDecay: 0))
        #expect(opt.eps == 1e-6)
    }

    @Test func adamWRejectsANonLeafParameter() {
        let leaf = Tensor.ones([3]).requiresGrad()
        let derived = leaf * 2
        #expect(throws: TorchError("AdamW: can't optimize a non-leaf Tensor")) {
            try AdamW(parameters: [derived])
        }
    }

    @Test func adamWStateOfTheWrongShapeIsRejectedByName() throws {
        let p = try TinyProblem()
        p.train(from: 0, to: 1)
        var state = p.opt.stateDict()
        state["state.0.exp_avg"] = Tensor.zeros([3, 4], dtype: .float64)
        let fresh = try TinyProblem()
        #expect(throws: TorchError("AdamW state: state.0.exp_avg has shape [3, 4], expected [4, 3]")) {
            try fresh.opt.load(stateDict: state)
        }
        // Nothing was changed by the failed load.
        #expect(fresh.opt.stateDict().keys.contains("state.1.step") == false)

        state = p.opt.stateDict()
        state["param_groups.1.lr"] = nil
        #expect(throws: TorchError("AdamW state: missing key param_groups.1.lr")) { try fresh.opt.load(stateDict: state) }
        state = p.opt.stateDict()
        state["state.3.step"] = Tensor(scalar: 1, dtype: .int64)
        #expect(throws: TorchError("AdamW state: unexpected keys state.3.step")) { try fresh.opt.load(stateDict: state) }
    }

    // MARK: gradient clipping

    @Test func clipGradNormEqualsPyTorch() {
        let ref = OptimFixture.shared.clip
        for c in ref.cases {
            let p1 = Tensor.zeros([3, 4]).requiresGrad(), p2 = Tensor.zeros([5]).requiresGrad()
            ((p1 * Tensor(ref.c1.map(Float.init), shape: [3, 4])).sum() + (p2 * Tensor(ref.c2.map(Float.init))).sum())
                .backward()
            let total = clipGradNorm([p1, p2], maxNorm: c.max_norm, normType: c.norm_type)
            // float32 gradients: the norm and the scaled values agree with PyTorch to float32 rounding.
            #expect(relativeError(total, c.total_norm) < 1e-6, "norm \(c.norm_type), max \(c.max_norm)")
            #expect(worstError(p1.grad!, c.grad1) < 1e-6)
            #expect(worstError(p2.grad!, c.grad2) < 1e-6)
        }
        // The cases cover both clipping and leaving gradients alone.
        #expect(ref.cases.contains { $0.total_norm > $0.max_norm } && ref.cases.contains { $0.total_norm < $0.max_norm })
    }
}
