import Foundation
import Testing
import Torch
@testable import BrainData

/// The demo's size (Demo.swift: 3 subjects, 400 voxels on average, noise 2) under a preset.
private func demoConfig(_ preset: SyntheticPreset = .sharedAnatomy) -> SyntheticNSDConfig {
    var c = SyntheticNSDConfig()
    c.preset = preset
    c.voxels = 400
    c.noise = 2
    c.imageSize = 8
    c.tokens = 4
    c.tokenDim = 8
    return c
}

/// Voxel rows of `subject` by raw index `(i, j, k)`.
private func rowsByIndex(_ subject: SyntheticSubject) -> [[Int64]: Int] {
    let idx = subject.voxelIndices.toArray(Int64.self)
    var rows: [[Int64]: Int] = [:]
    for v in 0..<subject.voxelCount { rows[Array(idx[(3 * v)..<(3 * v + 3)])] = v }
    return rows
}

/// Pearson correlation of two equally long sequences.
private func correlation(_ a: Tensor, _ b: Tensor) -> Double {
    let x = a.flatten().to(.float64), y = b.flatten().to(.float64)
    let dx = x - x.mean(), dy = y - y.mean()
    return (dx * dy).sum().item() / ((dx.square().sum() * dy.square().sum()).sqrt().item())
}

/// Tuning of subjects 1 and 2 at the raw indices both have in their ROI: `(n, latentDim)` each.
private func tuningAtSharedIndices(_ world: SyntheticNSD) -> (Tensor, Tensor, Int) {
    let first = rowsByIndex(world.subjects[0]), second = rowsByIndex(world.subjects[1])
    let pairs = first.compactMap { key, v in second[key].map { (Int64(v), Int64($0)) } }
    return (world.subjects[0].tuning.indexSelect(0, Tensor(pairs.map(\.0))),
            world.subjects[1].tuning.indexSelect(0, Tensor(pairs.map(\.1))), pairs.count)
}

@Suite(.serialized) struct SyntheticSharedAnatomyTests {
    @Test func theSameRawVoxelHasSimilarTuningAcrossSubjectsOnlyUnderSharedAnatomy() throws {
        let shared = try SyntheticNSD(demoConfig())
        let (a, b, n) = tuningAtSharedIndices(shared)
        #expect(n > 200)
        // same template point: sqrt(0.8) w(u) + sqrt(0.2) w_s(u) in both, so the correlation is 1 - 0.2 = 0.8;
        // shifts and warps (sd 0.3 voxel per axis each) move the point by about 0.26 template units here, and
        // the tuning kernel exp(-(2 pi 0.6 d)^2 / 2) brings it to about 0.5 (measured 0.38)
        let sameIndex = correlation(a, b)
        #expect(sameIndex > 0.3)
        #expect(sameIndex < 0.8)

        let (c, d, m) = tuningAtSharedIndices(try SyntheticNSD(demoConfig(.independent)))
        #expect(m > 50)
        #expect(abs(correlation(c, d)) < 0.25)  // unrelated template points: about 0 (measured 0.22 on few voxels)
    }

    @Test func theSameTemplatePointHasTheSameTuningUpToTheSubjectsOwnField() throws {
        let world = try SyntheticNSD(demoConfig())
        let (s1, s2) = (world.subjects[0], world.subjects[1])
        // nearest template point of subject 2 for every voxel of subject 1
        let distance = (s1.templateCoordinates.unsqueeze(1) - s2.templateCoordinates.unsqueeze(0)).square().sum(2)
        let nearest = distance.argmin(1)                                              // (V1)
        let close = distance.min(1).values .< (0.1 * 0.1)
        let rows = close.nonzero().flatten()
        #expect(rows.size(0) > 50)
        let r = correlation(s1.tuning.indexSelect(0, rows), s2.tuning.indexSelect(0, nearest.indexSelect(0, rows)))
        #expect(r > 0.7)
        #expect(r < 0.9)  // 0.8 by construction (see above)
        // and that point sits within a few voxels of the same raw index
        let shift = (s1.voxelIndices.indexSelect(0, rows) - s2.voxelIndices.indexSelect(0, nearest.indexSelect(0, rows)))
            .to(.float32).square().sum(1).sqrt()
        #expect(shift.mean().item() < 3)
        #expect(shift.max().item() < 6)
    }

    @Test func voxelCountsDifferAroundTheConfiguredMean() throws {
        let world = try SyntheticNSD(demoConfig())
        let counts = world.subjects.map(\.voxelCount)
        #expect(Set(counts).count == 3)
        // extents exp(0.12 e) per axis: the volume's log has sd 0.21; 3.4 sd is a factor of 2
        #expect(counts.allSatisfy { (200...800).contains($0) })
    }

    @Test func noiseIsCorrelatedBetweenNeighboursAndNotBetweenDistantVoxels() throws {
        let world = try SyntheticNSD(demoConfig())
        let subject = world.subjects[0]
        let noise = world.noise(subject)                                                    // (trials, V)
        let z = (noise - noise.mean(0)) / noise.std([0])
        let corr = z.T.matmul(z) / Double(noise.size(0) - 1)                               // (V, V)
        let rows = rowsByIndex(subject)
        let values = corr.toArray(Float.self), count = subject.voxelCount
        var near: [Double] = []
        for (key, v) in rows { if let n = rows[[key[0] + 1, key[1], key[2]]] { near.append(Double(values[v * count + n])) } }
        // hand computation: the smooth fields have kernel exp(-(2 pi 0.4 |du|)^2 / 2); one voxel is about
        // 1/4.6 template units here, so k = 0.86 and the correlation (c k + o^2 k) / (1 + o^2) = 0.47 (measured 0.42)
        let nearMean = near.reduce(0, +) / Double(near.count)
        #expect(nearMean > 0.3)
        #expect(nearMean < 0.6)
        let u = subject.templateCoordinates
        let far = ((u.unsqueeze(1) - u.unsqueeze(0)).square().sum(2) .> (1.6 * 1.6))       // kernel below 0.01
        let farMean = (corr * far.to(.float32)).sum().item() / far.sum().item()
        #expect(abs(farMean) < 0.1)  // measured 0.03
        // the white part: a voxel's noise has variance sigma^2 (1 - c + c |F_v|^2 + o^2 |G_v|^2), about 4.36
        #expect(abs(noise.variance([0]).mean().item() / world.meanNoiseVariance(subject) - 1) < 0.05)
    }

    @Test func sessionsHaveTheirOwnOffsets() throws {
        func sessionMeanVariance(_ offset: Double) throws -> Double {
            var c = demoConfig()
            c.sessionOffset = offset
            let world = try SyntheticNSD(c)
            let subject = world.subjects[0]
            let betas = world.betas(subject).betas
            let means = (0..<(subject.sessions - 1)).map {   // full sessions of 200 trials
                betas.slice(0, start: $0 * 200, end: ($0 + 1) * 200).mean(0)
            }
            return Tensor.stack(means).variance([0]).mean().item()
        }
        // z-scored betas: without offsets a session's mean varies as 1/200 = 0.005 (signal and noise alike);
        // offsets of 0.3 sigma add 0.09 * 4 / (0.5 + 4 * 1.09) = 0.074 (signal variance 0.5; measured 0.095)
        #expect(try sessionMeanVariance(0) < 0.01)
        let withOffsets = try sessionMeanVariance(0.3)
        #expect(withOffsets > 0.04)
        #expect(withOffsets < 0.15)
    }

    @Test func theOracleKnowsTheNoiseCovarianceAndBeatsAWhiteNoiseScorer() throws {
        let world = try SyntheticNSD(demoConfig())
        let betas = world.subjects.map(world.betas)
        let oracle = world.oracleTop1(betas: betas, pools: 10)
        let white = world.oracleTop1(betas: betas, pools: 10, assumeWhiteNoise: true)
        #expect(oracle.singleTrial > 0.4 && oracle.singleTrial < oracle.singleTrialCeiling)
        #expect(oracle.singleTrial > white.singleTrial + 0.05)
        #expect(oracle.averaged > oracle.singleTrial)
    }

    @Test func woodburyPrecisionInvertsTheCovariance() throws {
        var c = demoConfig()
        c.voxels = 60
        let world = try SyntheticNSD(c)
        let subject = world.subjects[0]
        let (trial, session) = world.noiseBases(subject)
        let sigma2 = c.noise * c.noise
        let covariance = Tensor.eye(subject.voxelCount) * (sigma2 * (1 - c.correlatedNoise))
            + trial.matmul(trial.T) * (sigma2 * c.correlatedNoise)
            + session.matmul(session.T) * (sigma2 * c.sessionOffset * c.sessionOffset)
        let m = Tensor.randn([subject.voxelCount, 5])
        let back = covariance.matmul(world.applyNoisePrecision(subject, m))
        #expect((back - m).abs().max().item() < 1e-3)
    }

    @Test(arguments: SyntheticPreset.allCases) func theSameSeedGivesTheSameData(preset: SyntheticPreset) throws {
        var c = demoConfig(preset)
        c.voxels = 100
        let (a, b) = (try SyntheticNSD(c), try SyntheticNSD(c))
        c.seed = 1
        let other = try SyntheticNSD(c)
        for s in 0..<3 {
            #expect(a.subjects[s].voxelIndices.toArray(Int64.self) == b.subjects[s].voxelIndices.toArray(Int64.self))
            #expect((a.betas(a.subjects[s]).betas - b.betas(b.subjects[s]).betas).abs().max().item() == 0)
        }
        #expect(a.subjects[0].voxelCount != other.subjects[0].voxelCount
            || (a.subjects[0].tuning - other.subjects[0].tuning).abs().max().item() > 0.1)
    }
}
