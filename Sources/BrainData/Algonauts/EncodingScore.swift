import Foundation
import Torch

/// The Algonauts encoding score, as MedARC's `evaluate()` computes it: each subject's episodes are
/// concatenated in time, Pearson r is taken per parcel (`pearsonr_score`, ε = 1e-7 added to the norms),
/// averaged over parcels, then over subjects. Computed in float64.
public struct EncodingScore: @unchecked Sendable {
    /// Mean over subjects of the mean over parcels.
    public let score: Double
    /// Per subject, the mean over parcels.
    public let subjects: [Double]
    /// (S, V) float64: r per subject and parcel (MedARC's `accmap_avg` is its mean over S).
    public let parcels: Tensor

    /// MedARC's `pearsonr_score`: `yTrue`, `yPred` of shape (T, V) → r of shape (V), float64.
    public static func pearsonr(_ yTrue: Tensor, _ yPred: Tensor, eps: Double = 1e-7) -> Tensor {
        func standardised(_ y: Tensor) -> Tensor {
            let centred = y.to(.float64) - y.to(.float64).mean(0, keepDim: true)
            return centred / (centred.norm(2, dims: [0], keepDim: true) + eps)
        }
        return (standardised(yTrue) * standardised(yPred)).sum(0)
    }

    /// `truth[s]` and `predictions[s]` hold subject s's episodes, each (T_e, V), in the same order.
    public init(truth: [[Tensor]], predictions: [[Tensor]], eps: Double = 1e-7) throws {
        guard !truth.isEmpty, truth.count == predictions.count else {
            throw DataError("encoding score: \(truth.count) subjects of responses and \(predictions.count) of "
                + "predictions; expected the same, at least one")
        }
        var rows: [Tensor] = []
        for (s, (t, p)) in zip(truth, predictions).enumerated() {
            guard !t.isEmpty, t.count == p.count else {
                throw DataError("encoding score: subject \(s) has \(t.count) response episodes and \(p.count) predicted")
            }
            for (e, (a, b)) in zip(t, p).enumerated() where a.shape != b.shape || a.ndim != 2 {
                throw DataError("encoding score: subject \(s) episode \(e): responses \(a.shape), predictions \(b.shape); "
                    + "expected equal (T, V) shapes")
            }
            rows.append(Self.pearsonr(Tensor.cat(t, dim: 0), Tensor.cat(p, dim: 0), eps: eps))
        }
        guard Set(rows.map(\.shape)).count == 1 else {
            throw DataError("encoding score: subjects have different parcel counts \(rows.map { $0.shape[0] })")
        }
        parcels = Tensor.stack(rows, dim: 0)
        subjects = parcels.mean(1).toArray(Double.self)
        score = subjects.reduce(0, +) / Double(subjects.count)
    }

    /// Episodes as the dataset stacks them: each (S, T_e, V), truth and prediction in the same order.
    public init(stackedTruth: [Tensor], stackedPredictions: [Tensor], eps: Double = 1e-7) throws {
        guard let first = stackedTruth.first, first.ndim == 3 else {
            throw DataError("encoding score: expected one or more (S, T, V) episodes")
        }
        for (e, (a, b)) in zip(stackedTruth, stackedPredictions).enumerated() where a.shape != b.shape || a.ndim != 3 || a.shape[0] != first.shape[0] {
            throw DataError("encoding score: episode \(e): responses \(a.shape), predictions \(b.shape); "
                + "expected equal (S, T, V) shapes with S = \(first.shape[0])")
        }
        guard stackedTruth.count == stackedPredictions.count else {
            throw DataError("encoding score: \(stackedTruth.count) response episodes and \(stackedPredictions.count) predicted")
        }
        let s = first.shape[0]
        try self.init(truth: (0..<s).map { i in stackedTruth.map { $0.select(0, i) } },
                      predictions: (0..<s).map { i in stackedPredictions.map { $0.select(0, i) } }, eps: eps)
    }
}
