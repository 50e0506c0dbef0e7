import Foundation
import Torch

/// SoftCLIP on L2-normalised (B, D) predictions and targets: the targets' own similarity softmax is the
/// soft label for both directions.
public func softCLIPLoss(predictions p: Tensor, targets t: Tensor, temperature: Double) -> Tensor {
    let labels = (t.matmul(t.T) / temperature).softmax(-1)
    let logits = p.matmul(t.T) / temperature
    let first = -(logits.logSoftmax(-1) * labels).sum(-1).mean()
    let second = -(logits.T.logSoftmax(-1) * labels).sum(-1).mean()
    return (first + second) / 2
}

/// Which contrastive loss an epoch uses, and SoftCLIP's temperature.
public struct ContrastiveSchedule: Sendable, Equatable {
    public var epochs: Int
    /// The fraction of epochs spent on BiMixCo (0.33 in the paper): epochs < int(mixupFraction · epochs).
    public var mixupFraction = 0.33
    public var mixcoTemperature = 0.1
    public var softCLIPStartTemperature = 0.004
    public var softCLIPEndTemperature = 0.0075

    public init(epochs: Int, mixupFraction: Double = 0.33) {
        self.epochs = epochs
        self.mixupFraction = mixupFraction
    }

    /// The first SoftCLIP epoch.
    public var switchEpoch: Int { Int(mixupFraction * Double(epochs)) }
    public func usesBiMixCo(epoch: Int) -> Bool { epoch < switchEpoch }

    /// Cosine anneal from start to end over the SoftCLIP epochs:
    /// `end + (start − end)/2 · (1 + cos(π · i / (n − 1)))`, i = epoch − switchEpoch.
    public func softCLIPTemperature(epoch: Int) -> Double {
        let n = epochs - switchEpoch
        let i = Swift.max(0, epoch - switchEpoch)
        guard n > 1 else { return softCLIPStartTemperature }
        let (start, end) = (softCLIPStartTemperature, softCLIPEndTemperature)
        return end + (start - end) / 2 * (1 + cos(Double.pi * Double(i) / Double(n - 1)))
    }
}
