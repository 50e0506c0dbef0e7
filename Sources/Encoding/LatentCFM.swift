import Torch

/// What the 0.1-weighted auxiliary reconstruction loss reconstructs (the seed's exact form is not
/// visible; docs/encoding.md): `autoencoder` = MSE(proj_out(proj_in(x1)), x1), which keeps the latent from
/// collapsing; `denoised` = MSE(proj_out(y + (1 − t)·v̂), x1), the one-step estimate of x1 from the
/// predicted velocity, which also trains the vector field in parcel space.
public enum AuxiliaryLoss: String, ConfigChoice, Sendable {
    case autoencoder, denoised
}

/// How `proj_in`/`proj_out` are made. `learned`: trained with the vector field (the seed's reading); the
/// CFM loss can then shrink the latent, which only the auxiliary loss resists. `pca`: fixed before training
/// to the training responses' top-d principal components, whitened (each latent channel of unit variance,
/// the scale of the sampler's N(0, I) noise), and `proj_out` its inverse on those components; both frozen.
public enum LatentProjection: String, ConfigChoice, Sendable {
    case learned, pca
}

/// Stage 2: conditional flow matching in a latent (Matcha-TTS's `CFM` around the seed's projections).
public struct FlowMatchingConfig: Codable, Equatable, Sendable {
    /// d of the latent (128 in the seed's full model, 32 in its debug config).
    public var latentDim = 128
    /// Parcels V.
    public var targetDim = 1000
    /// σ_min of the OT path (Matcha's default, not tuned there).
    public var sigmaMin = 1e-4
    /// Euler steps of the sampler (NFE).
    public var nTimesteps = 25
    /// Scale of the sampler's initial noise.
    public var temperature = 1.0
    public var auxLoss = AuxiliaryLoss.autoencoder
    public var auxLossWeight = 0.1
    public var latent = LatentProjection.learned
    public var decoder = MatchaDecoderConfig()

    public init() {}

    public enum CodingKeys: String, CodingKey, CaseIterable {
        case latentDim = "latent_dim", targetDim = "target_dim", sigmaMin = "sigma_min", nTimesteps = "n_timesteps"
        case temperature, auxLoss = "aux_loss", auxLossWeight = "aux_loss_weight", latent, decoder
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self), d = Self()
        latentDim = try c.get(.latentDim, d.latentDim)
        targetDim = try c.get(.targetDim, d.targetDim)
        sigmaMin = try c.get(.sigmaMin, d.sigmaMin)
        nTimesteps = try c.get(.nTimesteps, d.nTimesteps)
        temperature = try c.get(.temperature, d.temperature)
        auxLoss = try c.get(.auxLoss, d.auxLoss)
        auxLossWeight = try c.get(.auxLossWeight, d.auxLossWeight)
        latent = try c.get(.latent, d.latent)
        self.decoder = try c.get(.decoder, d.decoder)
    }

    public func validate() throws {
        func fail(_ key: CodingKeys, _ why: String) throws { throw ConfigError("model.\(key.rawValue): \(why)") }
        // The time embedding is a sinusoid of in_channels = 2d entries, halves of at least 2.
        if !(2...(1 << 16)).contains(latentDim) { try fail(.latentDim, "must be in 2...65536, got \(latentDim)") }
        if !(1...(1 << 20)).contains(targetDim) { try fail(.targetDim, "must be in 1...1048576, got \(targetDim)") }
        if !(0..<1).contains(sigmaMin) { try fail(.sigmaMin, "must be in [0, 1), got \(sigmaMin)") }
        if !(1...10_000).contains(nTimesteps) { try fail(.nTimesteps, "must be in 1...10000, got \(nTimesteps)") }
        if !(temperature >= 0 && temperature.isFinite) { try fail(.temperature, "must be finite and at least 0, got \(temperature)") }
        if !(auxLossWeight >= 0 && auxLossWeight.isFinite) { try fail(.auxLossWeight, "must be finite and at least 0, got \(auxLossWeight)") }
        try decoder.validate(prefix: "model.decoder.")
    }
}

/// The flow-matching fMRI encoder's stage 2 for one subject: `proj_in` (V → d, shared by the target x1 and
/// the stage-1 mean mu), the Matcha U-Net `estimator` on [x; mu] (in 2d, out d), `proj_out` (d → V).
/// Names: `proj_in.*`, `proj_out.*`, `estimator.*` (Matcha's `CFM.estimator`). Tensors in parcel space are
/// (B, V, T), in the latent (B, d, T); masks (B, 1, T).
public final class LatentCFM: Module {
    @ModuleInfo(key: "proj_in") public var projIn: Linear
    @ModuleInfo(key: "proj_out") public var projOut: Linear
    @ModuleInfo public var estimator: MatchaDecoder
    public let config: FlowMatchingConfig

    public init(_ config: FlowMatchingConfig) {
        self.config = config
        _projIn.wrappedValue = Linear(config.targetDim, config.latentDim)
        _projOut.wrappedValue = Linear(config.latentDim, config.targetDim)
        _estimator.wrappedValue = MatchaDecoder(inChannels: 2 * config.latentDim, outChannels: config.latentDim, config.decoder)
        super.init()
        if config.latent == .pca {
            for p in projIn.parameters() + projOut.parameters() { p.requiresGrad = false }
        }
    }

    /// `latent: pca`: sets `proj_in` to z = diag(1/s)·Uᵀ(x − m) and `proj_out` to x = U·diag(s)·z + m, with m
    /// the mean of `responses` (N, V), U (V, d) the eigenvectors of their covariance with the d largest
    /// eigenvalues and s their square roots (computed in float64). Needs N ≥ 2 and d ≤ V.
    public func fitPrincipalComponents(_ responses: Tensor) {
        let (n, v, d) = (responses.shape[0], config.targetDim, config.latentDim)
        precondition(responses.shape == [n, v] && n >= 2 && d <= v,
                     "LatentCFM.fitPrincipalComponents: expected (N ≥ 2, \(v)) responses and d ≤ V, got \(responses.shape), d \(d)")
        let x = responses.to(.float64)
        let mean = x.mean(0)
        let centred = x - mean
        let covariance = centred.transpose(0, 1).matmul(centred) / Double(n - 1)
        let (values, vectors) = covariance.eigh()  // ascending
        let u = vectors.slice(1, start: v - d, end: v)  // (V, d)
        let s = values.slice(0, start: v - d, end: v).clamp(min: 1e-12).sqrt()
        let inWeight = u.transpose(0, 1) / s.unsqueeze(1)  // (d, V)
        let dtype = projIn.weight.dtype
        projIn.weight.copy_(inWeight.to(dtype))
        projIn.bias!.copy_((-inWeight.matmul(mean)).to(dtype))
        projOut.weight.copy_((u * s.unsqueeze(0)).to(dtype))
        projOut.bias!.copy_(mean.to(dtype))
    }

    /// (B, V, T) -> (B, d, T)
    public func toLatent(_ x: Tensor) -> Tensor { projIn(x.transpose(1, 2)).transpose(1, 2) }
    /// (B, d, T) -> (B, V, T)
    public func toParcels(_ x: Tensor) -> Tensor { projOut(x.transpose(1, 2)).transpose(1, 2) }

    /// Matcha's `compute_loss` in the latent, plus the auxiliary term:
    ///     y = (1 − (1 − σ)t)·z + t·x1,  u = x1 − (1 − σ)·z,  cfm = Σ(v̂(y, t | mu) − u)² / (Σmask · d)
    /// (as in Matcha, u is not masked, so padded frames count; training windows have none).
    /// x1, mu (B, V, T); t (B) in [0, 1) and z (B, d, T) are drawn when nil.
    public func loss(x1: Tensor, mu: Tensor, mask: Tensor? = nil, t: Tensor? = nil, z: Tensor? = nil)
        -> (cfm: Tensor, aux: Tensor, total: Tensor)
    {
        let (b, n) = (x1.shape[0], x1.shape[2])
        precondition(x1.shape == [b, config.targetDim, n] && mu.shape == x1.shape,
                     "LatentCFM.loss: expected x1 and mu (B, \(config.targetDim), T), got \(x1.shape) and \(mu.shape)")
        let mask = mask ?? Tensor.ones([b, 1, n], dtype: x1.dtype, device: x1.device)
        let x1Latent = toLatent(x1), muLatent = toLatent(mu)
        let t = (t ?? Tensor.rand([b], dtype: x1.dtype, device: x1.device)).reshape([b, 1, 1])
        let z = z ?? Tensor.randn(x1Latent.shape, dtype: x1.dtype, device: x1.device)
        let sigma = config.sigmaMin
        let y = (1 - (1 - sigma) * t) * z + t * x1Latent
        let u = x1Latent - (1 - sigma) * z
        let v = estimator(y, mask: mask, mu: muLatent, t: t.reshape([b]))
        let cfm = (v - u).square().sum() / (mask.sum() * Double(config.latentDim))
        let reconstruction = switch config.auxLoss {
        case .autoencoder: toParcels(x1Latent)
        case .denoised: toParcels(y + (1 - t) * v)
        }
        let aux = ((reconstruction - x1) * mask).square().sum() / (mask.sum() * Double(config.targetDim))
        return (cfm, aux, cfm + config.auxLossWeight * aux)
    }

    /// Matcha's Euler solver from noise: x ← x + dt·v̂(x, t | mu) over linspace(0, 1, steps + 1), the
    /// first velocity at t = 0 and the last at (steps − 1)/steps; returns proj_out(x) (B, V, T), masked.
    /// `noise` (B, d, T) replaces the draw (then `temperature` is not applied).
    public func sample(mu: Tensor, mask: Tensor? = nil, steps: Int? = nil, noise: Tensor? = nil) -> Tensor {
        let (b, n) = (mu.shape[0], mu.shape[2])
        precondition(mu.shape == [b, config.targetDim, n], "LatentCFM.sample: expected mu (B, \(config.targetDim), T), got \(mu.shape)")
        let steps = steps ?? config.nTimesteps
        let mask = mask ?? Tensor.ones([b, 1, n], dtype: mu.dtype, device: mu.device)
        return Torch.noGrad {
            let muLatent = toLatent(mu)
            var x = noise ?? Tensor.randn(muLatent.shape, dtype: mu.dtype, device: mu.device) * config.temperature
            let span = Tensor.linspace(0, 1, steps: steps + 1, dtype: mu.dtype, device: mu.device)
            var t = span.select(0, 0), dt = span.select(0, 1) - t
            for step in 1...steps {
                x = x + dt * estimator(x, mask: mask, mu: muLatent, t: t)
                t = t + dt
                if step < steps { dt = span.select(0, step + 1) - t }
            }
            return toParcels(x) * mask
        }
    }

    /// Whole episodes for the U-Net: x (B, C, T) zero-padded at the end to a multiple of
    /// `config.decoder.lengthMultiple`, with its (B, 1, T') mask (1 on the original frames).
    public func padded(_ x: Tensor) -> (x: Tensor, mask: Tensor) {
        let (b, c, n) = (x.shape[0], x.shape[1], x.shape[2])
        let k = config.decoder.lengthMultiple, total = (n + k - 1) / k * k
        let ones = Tensor.ones([b, 1, n], dtype: x.dtype, device: x.device)
        guard total > n else { return (x, ones) }
        let pad = { (channels: Int) in Tensor.zeros([b, channels, total - n], dtype: x.dtype, device: x.device) }
        return (Tensor.cat([x, pad(c)], dim: 2), Tensor.cat([ones, pad(1)], dim: 2))
    }
}
