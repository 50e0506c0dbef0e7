import Foundation
import Torch

/// The `shared-anatomy` preset's anatomy: one template on a common grid, each subject a small shift and
/// smooth warp of it with its own mask extent. A grid voxel `x` (in voxels) maps to the template point
/// `u = (x - c - s - d(x)) / r` (template centre `c` and radii `r`, the subject's shift `s` and displacement
/// `d(x) = sin(p B + beta) C`, about `warpVoxels` voxels, `p = (x - c - s) / r`). The ROI is `|u / e| < 1`
/// with the subject's per-axis extent `e`, the rest of the brain `|u / e| < 1.6`. So one template point sits
/// within a few voxels of the same raw index in every subject, and tuning, a function of `u`, is similar there.
struct SyntheticTemplate {
    /// Radii of the template ROI in voxels, per grid axis.
    let radii: [Double]
    /// The common grid; a subject's grid adds up to a few voxels at the high end of each axis.
    let dims: [Int]
    /// Responsiveness field `h(u) = a . cos(u Omega + phi)`, about unit variance: Omega (3, K), phi (K), a (K).
    let gainOmega: Tensor, gainPhase: Tensor, gainAmplitude: Tensor
    /// `s / mean(exp(h))` over the template's unit ball: one draw of `h` is far from its average over so
    /// small a volume, and the data's SNR should follow `signal_variance`, not the seed.
    let gainScale: Double

    var centre: [Double] { dims.map { Double($0 - 1) / 2 } }

    /// `(V)` signal gain at template points `u` `(V, 3)`: `sqrt(gainScale exp(h(u)))`, so that `gain^2`
    /// averages `s` over the unit ball (the voxels' SNR is log-normal, smooth over the template and shared
    /// by subjects).
    func gain(at u: Tensor) -> Tensor { (Self.logGain(u, gainOmega, gainPhase, gainAmplitude).exp() * gainScale).sqrt() }

    static func logGain(_ u: Tensor, _ omega: Tensor, _ phase: Tensor, _ amplitude: Tensor) -> Tensor {
        (u.matmul(omega) + phase).cos().matmul(amplitude)                                  // (V)
    }
}

extension SyntheticNSD {
    /// Standard deviations of the subject's shift (voxels, per axis), of its warp's displacement (voxels,
    /// per axis) and of the log of its mask extent per axis; the weight of its own tuning field.
    static let shiftVoxels = 0.3, warpVoxels = 0.3, extentSpread = 0.12, ownTuning = 0.2

    static func makeTemplate(_ config: SyntheticNSDConfig) -> SyntheticTemplate {
        let r = Tensor.randn([3], dtype: .float64).toArray(Double.self)
        var shape = r.map { Foundation.exp(0.1 * $0) }
        let norm = Foundation.pow(shape.reduce(1, *), 1.0 / 3)
        shape = shape.map { $0 / norm }
        let scale = Foundation.pow(3 * Double(config.voxels) / (4 * Double.pi), 1.0 / 3)
        let radii = shape.map { $0 * scale }
        let k = noiseFeatures
        let omega = Tensor.randn([3, k]) * (2 * Double.pi * noiseFrequency)
        let phase = Tensor.rand([k]) * (2 * Double.pi)
        let amplitude = Tensor.randn([k]) * (2.0 / Double(k)).squareRoot()
        let axis = (Tensor.arange(21, dtype: .float32) - 10) / 10.0                       // a 21^3 lattice
        let lattice = Tensor.stack([axis.reshape([21, 1, 1]).expand([21, 21, 21]), axis.reshape([1, 21, 1]).expand([21, 21, 21]),
                                    axis.reshape([1, 1, 21]).expand([21, 21, 21])], dim: 3).reshape([-1, 3])
        let ball = lattice.indexSelect(0, (lattice.square().sum(1) .< 1).nonzero().flatten())
        let mean = SyntheticTemplate.logGain(ball, omega, phase, amplitude).exp().mean().item()
        return SyntheticTemplate(radii: radii, dims: radii.map { Int((2 * brainRadius * $0 * 1.25).rounded(.up)) + 4 },
                                 gainOmega: omega, gainPhase: phase, gainAmplitude: amplitude,
                                 gainScale: config.signalVariance / mean)
    }

    static func makeSharedSubject(number: Int, config: SyntheticNSDConfig, template: SyntheticTemplate,
                                  testIds: [Int], ownIds: [Int], tuning: (Tensor) -> Tensor) -> SyntheticSubject
    {
        let r = Tensor.randn([9], dtype: .float64).toArray(Double.self)
        let extent = (0..<3).map { Foundation.exp(extentSpread * r[$0]) }
        let centre = (0..<3).map { template.centre[$0] + shiftVoxels * r[3 + $0] }
        let dims = (0..<3).map { template.dims[$0] + Int(abs(r[6 + $0]) * 1.5) }
        let warpB = Tensor.randn([3, 3]) * 2.0
        let warpBeta = Tensor.rand([3]) * (2 * Double.pi)
        let warpC = Tensor.randn([3, 3]) * (warpVoxels / 3.0.squareRoot())

        let grid = gridPoints(dims)                                                      // (P, 3) voxels
        let radii = Tensor(template.radii.map(Float.init))
        let centred = grid - Tensor(centre.map(Float.init))                               // (P, 3) voxels
        let displacement = ((centred / radii).matmul(warpB) + warpBeta).sin().matmul(warpC) // (P, 3) voxels
        let u = (centred - displacement) / radii                                          // (P, 3) template
        let (mask, voxels, flat) = roiMask(r2: (u / Tensor(extent.map(Float.init))).square().sum(1), dims: dims)
        let coordinates = u.indexSelect(0, flat)

        // the subject's own field, drawn like the template's: sqrt(1 - a) w(u) + sqrt(a) w_s(u) keeps E|w|^2 = 1;
        // then the template's gain
        let k = config.tuningFeatures, d = config.latentDim
        let omega = Tensor.randn([3, k]) * (2 * Double.pi * config.tuningFrequency)
        let phase = Tensor.rand([k]) * (2 * Double.pi)
        let amplitude = Tensor.randn([k, d]) * (2.0 / Double(d * k)).squareRoot()
        let own = Self.tuning(coordinates, omega: omega, phase: phase, amplitude: amplitude)
        let w = (tuning(coordinates) * (1 - ownTuning).squareRoot() + own * ownTuning.squareRoot())
            * template.gain(at: coordinates).unsqueeze(1)

        var sequence = testIds.flatMap { Array(repeating: $0, count: config.testRepeats) }
        sequence += ownIds.flatMap { Array(repeating: $0, count: config.trainRepeats) }
        let order = Tensor.randperm(sequence.count).toArray(Int.self)
        return SyntheticSubject(number: number, mask: mask, voxelIndices: voxels, templateCoordinates: coordinates,
                                tuning: w, trialImages: order.map { sequence[$0] },
                                trialsPerSession: config.trialsPerSession)
    }
}
