import Foundation
import Torch

/// The `shared-anatomy` preset's noise. On trial `t` of session `k`, voxel `v` at template point `u_v` gets
/// `sigma * (sqrt(c) g_t(u_v) + sqrt(1 - c) e_tv) + sigma * o * h_k(u_v)`: `g_t` a fresh smooth field per trial,
/// `e` white, `h_k` a smooth offset per session. Both fields are `F a` with `F = sqrt(2/K) cos(u Omega + phi)`
/// `(V, K)` and coefficients `a ~ N(0, I_K)`, so the noise covariance of one trial is the low-rank-plus-diagonal
/// `Sigma = sigma^2 (1 - c) I + U U^T`, `U = [sigma sqrt(c) F_trial, sigma o F_session]`.
extension SyntheticNSD {
    /// Random Fourier features of each noise field and their frequency (cycles per template radius):
    /// smoother than the tuning, like physiological noise.
    static let noiseFeatures = 64, noiseFrequency = 0.4

    /// `(V, K)` bases of the per-trial and per-session smooth noise fields at the subject's template points.
    func noiseBases(_ subject: SyntheticSubject) -> (trial: Tensor, session: Tensor) {
        let u = subject.templateCoordinates, c = (2.0 / Double(Self.noiseFeatures)).squareRoot()
        return ((u.matmul(noiseOmega) + noisePhase).cos() * c, (u.matmul(offsetOmega) + offsetPhase).cos() * c)
    }

    /// Noise `(trials, V)` of every trial of `subject`, drawn from the current generator.
    func noise(_ subject: SyntheticSubject) -> Tensor {
        let (trial, session) = noiseBases(subject)
        let t = subject.trialImages.count, v = subject.voxelCount, k = Self.noiseFeatures
        let sigma = config.noise, c = config.correlatedNoise
        let white = Tensor.randn([t, v]) * (sigma * (1 - c).squareRoot())
        let smooth = Tensor.randn([t, k]).matmul(trial.T) * (sigma * c.squareRoot())
        let sessionOf = Tensor((0..<t).map { Int64($0 / subject.trialsPerSession) })
        let offsets = Tensor.randn([subject.sessions, k]).indexSelect(0, sessionOf).matmul(session.T)
        return white + smooth + offsets * (sigma * config.sessionOffset)
    }

    /// Mean over voxels of one trial's noise variance (the diagonal of `Sigma`).
    func meanNoiseVariance(_ subject: SyntheticSubject) -> Double {
        let sigma2 = config.noise * config.noise
        guard config.preset == .sharedAnatomy else { return sigma2 }
        let (trial, session) = noiseBases(subject)
        let c = config.correlatedNoise, o2 = config.sessionOffset * config.sessionOffset
        return sigma2 * ((1 - c) + c * trial.square().sum(1).mean().item() + o2 * session.square().sum(1).mean().item())
    }

    /// `Sigma^-1 m` for `m` `(V, n)`, by Woodbury: `(m - U (a I + U^T U)^-1 U^T m) / a`, `a = sigma^2 (1 - c)`,
    /// in float64. Needs `noise > 0`.
    func applyNoisePrecision(_ subject: SyntheticSubject, _ m: Tensor) -> Tensor {
        let (trial, session) = noiseBases(subject)
        let sigma = config.noise, c = config.correlatedNoise
        let a = sigma * sigma * (1 - c)
        let u = Tensor.cat([trial * (sigma * c.squareRoot()), session * (sigma * config.sessionOffset)], dim: 1)
            .to(.float64)                                                                   // (V, 2K)
        let m64 = m.to(.float64)
        let inner = u.T.matmul(u).toArray(Double.self)                                     // (2K, 2K)
        let r = u.size(1), n = m.size(1)
        var system = inner
        for i in 0..<r { system[i * r + i] += a }
        let x = Self.choleskySolve(system, size: r, u.T.matmul(m64).toArray(Double.self), columns: n)
        let correction = u.matmul(Tensor(x, shape: [r, n]))                                // (V, n)
        return ((m64 - correction) / a).to(.float32)
    }

    /// Solves `A X = B` for a symmetric positive definite `A` `(size, size)` and `B` `(size, columns)`, both
    /// row-major.
    static func choleskySolve(_ a: [Double], size n: Int, _ b: [Double], columns: Int) -> [Double] {
        var l = [Double](repeating: 0, count: n * n)                                        // A = L L^T
        for i in 0..<n {
            for j in 0...i {
                var sum = a[i * n + j]
                for k in 0..<j { sum -= l[i * n + k] * l[j * n + k] }
                l[i * n + j] = i == j ? sum.squareRoot() : sum / l[j * n + j]
            }
        }
        var x = b
        for col in 0..<columns {
            for i in 0..<n {                                                                // L y = b
                var sum = x[i * columns + col]
                for k in 0..<i { sum -= l[i * n + k] * x[k * columns + col] }
                x[i * columns + col] = sum / l[i * n + i]
            }
            for i in stride(from: n - 1, through: 0, by: -1) {                              // L^T x = y
                var sum = x[i * columns + col]
                for k in (i + 1)..<n { sum -= l[k * n + i] * x[k * columns + col] }
                x[i * columns + col] = sum / l[i * n + i]
            }
        }
        return x
    }
}
