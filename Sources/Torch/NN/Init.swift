import Foundation

/// Initialisers with `torch.nn.init`'s formulas. Each fills the tensor in place without recording gradients.
public enum Init {
    /// (fan_in, fan_out) as PyTorch computes them: dim 1 and dim 0 times the receptive field.
    public static func fans(_ t: Tensor) -> (fanIn: Int, fanOut: Int) {
        let s = t.shape
        precondition(s.count >= 2, "fan in and fan out need at least 2 dimensions, got \(s)")
        let receptive = s.dropFirst(2).reduce(1, *)
        return (s[1] * receptive, s[0] * receptive)
    }
    public static func zeros_(_ t: Tensor) { t.fill_(0) }
    public static func ones_(_ t: Tensor) { t.fill_(1) }
    public static func constant_(_ t: Tensor, _ value: Double) { t.fill_(value) }
    public static func normal_(_ t: Tensor, mean: Double = 0, std: Double = 1) { t.normal_(mean: mean, std: std) }
    public static func uniform_(_ t: Tensor, _ low: Double, _ high: Double) { t.uniform_(low, high) }
    /// A normal(mean, std) restricted to [a, b] (absolute bounds), by inverse-CDF sampling as in
    /// `torch.nn.init.trunc_normal_`.
    public static func truncNormal_(_ t: Tensor, mean: Double = 0, std: Double = 1, a: Double = -2, b: Double = 2) {
        func normCDF(_ x: Double) -> Double { (1 + Foundation.erf(x / 2.0.squareRoot())) / 2 }
        let l = normCDF((a - mean) / std), u = normCDF((b - mean) / std)
        Torch.noGrad {
            t.uniform_(2 * l - 1, 2 * u - 1)
            t.erfinv_()
            t.mul_(std * 2.0.squareRoot())
            t.add_(mean)
            t.clamp_(min: a, max: b)
        }
    }
    /// He initialisation: normal(0, gain / sqrt(fan)), gain = sqrt(2 / (1 + a²)) (leaky ReLU slope `a`).
    public static func kaimingNormal_(_ t: Tensor, a: Double = 0, fanOutMode: Bool = false) {
        let f = fans(t)
        let gain = (2 / (1 + a * a)).squareRoot()
        t.normal_(mean: 0, std: gain / Double(fanOutMode ? f.fanOut : f.fanIn).squareRoot())
    }
    /// uniform(-bound, bound), bound = gain * sqrt(3 / fan_in).
    public static func kaimingUniform_(_ t: Tensor, a: Double = 0) {
        let gain = (2 / (1 + a * a)).squareRoot()
        let bound = gain * (3 / Double(fans(t).fanIn)).squareRoot()
        t.uniform_(-bound, bound)
    }
    /// PyTorch's default for Linear and Conv: kaiming_uniform(a=√5) weights, uniform(±1/√fan_in) bias.
    public static func pytorchDefault_(weight: Tensor, bias: Tensor?) {
        kaimingUniform_(weight, a: 5.0.squareRoot())
        if let bias {
            let fanIn = fans(weight).fanIn
            let bound = fanIn > 0 ? 1 / Double(fanIn).squareRoot() : 0
            bias.uniform_(-bound, bound)
        }
    }
}
