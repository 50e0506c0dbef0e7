import Foundation
import Testing
import Torch
@testable import VoxelFormer

/// `Fixtures/losses.json`, written by `generate_fixtures.py` from PyTorch.
private struct LossFixture: Decodable {
    struct Mixing: Decodable {
        let voxels: [Float], perm: [Int], drawnBetas: [Float], select: [Bool]
        let mixed: [Double], betas: [Double], softLabels: [Double]
    }
    struct SeededMixing: Decodable {
        let seed: UInt64, voxels: [Float], perm: [Int], betas: [Double], select: [Bool], mixed: [Double]
    }
    struct BiMixCo: Decodable { let temperature: Double, reference: Double, symmetric: Double }
    struct SoftCLIP: Decodable { let temperature: Double, loss: Double }
    struct Schedule: Decodable { let epochs: Int, switchEpoch: Int, temperatures: [Double] }
    let batch: Int, dim: Int
    let mixco: Mixing
    let seededMixco: SeededMixing
    let predictions: [Float], targets: [Float]
    let bimixco: BiMixCo
    let softclip: [SoftCLIP]
    let schedule: Schedule

    static func load() throws -> LossFixture { try Fixture.decode(LossFixture.self, "losses.json") }

    var p: Tensor { Tensor(predictions, shape: [batch, dim]) }
    var t: Tensor { Tensor(targets, shape: [batch, dim]) }
    /// The MixCo of the given draws: perm [1, 0, 2, 3, 5, 4] fixes 2 (selected) and 3 (not selected).
    var givenMixCo: MixCo {
        MixCo(voxels: Tensor(mixco.voxels, shape: [batch, 1, dim]), perm: Tensor(mixco.perm),
              betas: Tensor(mixco.drawnBetas), select: Tensor(mixco.select))
    }
}

@Suite struct LossTests {
    @Test func mixCoWithGivenDrawsMatchesPyTorch() throws {
        let f = try LossFixture.load()
        let m = f.givenMixCo
        #expect(m.mixed.shape == [6, 1, 10])
        expectClose(m.mixed, f.mixco.mixed, atol: 1e-6, rtol: 1e-6, "mixed voxels")
        expectClose(m.betas, f.mixco.betas, atol: 0, rtol: 0, "betas (1 where not selected)")
        #expect(m.betas.toArray(Float.self)[1] == 1 && m.betas.toArray(Float.self)[3] == 1)
        let labels = m.softLabels
        #expect(labels.shape == [6, 6])
        expectClose(labels, f.mixco.softLabels, atol: 1e-7, rtol: 0, "soft labels")
        // The fixed points overwrite the diagonal: P[2,2] = 1 - beta_2, and P[3,3] = 1 - 1 = 0.
        let rows = labels.toArray(Float.self)
        #expect(rows[2 * 6 + 2] == 1 - f.mixco.drawnBetas[2])
        #expect(rows[3 * 6 ..< 4 * 6].allSatisfy { $0 == 0 })
    }

    @Test func seededMixCoDrawsInMindEyesOrder() throws {
        let f = try LossFixture.load()
        let s = f.seededMixco
        let voxels = Tensor(s.voxels, shape: [f.batch, 1, f.dim])
        // libtorch's generator is process-wide: `make test` runs the tests one at a time (--no-parallel).
        Torch.manualSeed(s.seed)
        let m = MixCo(voxels: voxels)
        #expect(m.perm.toArray(Int.self) == s.perm)
        #expect(m.select.to(.uint8).toArray(UInt8.self).map { $0 != 0 } == s.select)
        expectClose(m.betas, s.betas, atol: 0, rtol: 0, "betas")
        expectClose(m.mixed, s.mixed, atol: 1e-6, rtol: 1e-6, "mixed voxels")
    }

    @Test func biMixCoMatchesPyTorchInBothForms() throws {
        let f = try LossFixture.load()
        let m = f.givenMixCo
        let reference = biMixCoLoss(predictions: f.p, targets: f.t, mixco: m, temperature: f.bimixco.temperature)
        let symmetric = biMixCoLoss(predictions: f.p, targets: f.t, mixco: m, temperature: f.bimixco.temperature,
                                    form: .symmetric)
        #expect(reference.shape == [])
        #expect(Swift.abs(reference.item() - f.bimixco.reference) <= 1e-5 * f.bimixco.reference)
        #expect(Swift.abs(symmetric.item() - f.bimixco.symmetric) <= 1e-5 * f.bimixco.symmetric)
        // The two forms differ on these inputs (2.613 vs 2.937), so each assertion checks its own form.
        #expect(Swift.abs(f.bimixco.reference - f.bimixco.symmetric) > 0.1)
    }

    @Test func softCLIPMatchesPyTorchAtTwoTemperatures() throws {
        let f = try LossFixture.load()
        #expect(f.softclip.map(\.temperature) == [0.004, 0.125])
        for c in f.softclip {
            let loss = softCLIPLoss(predictions: f.p, targets: f.t, temperature: c.temperature).item()
            #expect(Swift.abs(loss - c.loss) <= 1e-5 * c.loss, "temperature \(c.temperature): \(loss) vs \(c.loss)")
        }
    }

    @Test func scheduleSwitchesAtEpoch49AndAnnealsLikeMindEye() throws {
        let f = try LossFixture.load()
        let schedule = ContrastiveSchedule(epochs: f.schedule.epochs)
        #expect(f.schedule.switchEpoch == 49)
        #expect(schedule.switchEpoch == 49)
        #expect(schedule.usesBiMixCo(epoch: 48))
        #expect(!schedule.usesBiMixCo(epoch: 49))
        #expect(f.schedule.temperatures.count == 101)
        // MindEye's cosine_anneal returns float32: compare to float32 precision.
        for (i, expected) in f.schedule.temperatures.enumerated() {
            let epoch = schedule.switchEpoch + i
            let ours = schedule.softCLIPTemperature(epoch: epoch)
            #expect(Swift.abs(ours - expected) <= 2e-7 * expected, "epoch \(epoch): \(ours) vs \(expected)")
        }
        #expect(schedule.softCLIPTemperature(epoch: 49) == 0.004)
        #expect(Swift.abs(schedule.softCLIPTemperature(epoch: 149) - 0.0075) < 1e-15)
    }
}
