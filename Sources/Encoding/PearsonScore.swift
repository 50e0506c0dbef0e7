import Torch

/// Predictions and targets that cannot be scored together; the message says which and why.
public struct ScoreError: Error, CustomStringConvertible, Equatable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// MedARC's `pearsonr_score`: per-parcel Pearson r over time, (T, V) and (T, V) -> (V) in float64,
///     r_v = Σ_t (y_tv − ȳ_v)(ŷ_tv − ŷ̄_v) / ((‖y_v − ȳ_v‖ + ε)(‖ŷ_v − ŷ̄_v‖ + ε)),
/// so a constant parcel scores 0 rather than NaN.
public func pearsonrScore(_ yTrue: Tensor, _ yPred: Tensor, eps: Double = 1e-7) throws -> Tensor {
    guard yTrue.ndim == 2, yTrue.shape == yPred.shape else {
        throw ScoreError("pearsonr_score: expected targets and predictions of one shape (T, V), got \(yTrue.shape) and \(yPred.shape)")
    }
    guard yTrue.shape[0] >= 2 else { throw ScoreError("pearsonr_score: need at least 2 time points, got \(yTrue.shape[0])") }
    func standardised(_ y: Tensor) -> Tensor {
        let centred = y.to(.float64) - y.to(.float64).mean(0, keepDim: true)
        return centred / (centred.norm(dims: [0], keepDim: true) + eps)
    }
    return Torch.noGrad { (standardised(yTrue) * standardised(yPred)).sum(0) }
}

/// MedARC's `evaluate()` score: per subject, every episode concatenated along time, then r per parcel;
/// the subject's score is the mean over parcels, and the score the mean over subjects.
/// `targets[s][e]` and `predictions[s][e]` are subject s's episode e, (T_e, V).
public func encodingScore(targets: [[Tensor]], predictions: [[Tensor]], eps: Double = 1e-7) throws
    -> (perParcel: [Tensor], perSubject: [Double], mean: Double)
{
    guard !targets.isEmpty, targets.count == predictions.count else {
        throw ScoreError("encoding score: \(targets.count) subjects of targets for \(predictions.count) of predictions")
    }
    var perParcel: [Tensor] = []
    for (s, (episodes, predicted)) in zip(targets, predictions).enumerated() {
        guard !episodes.isEmpty, episodes.count == predicted.count else {
            throw ScoreError("encoding score: subject \(s) has \(episodes.count) target episodes and \(predicted.count) predicted")
        }
        for (e, (y, p)) in zip(episodes, predicted).enumerated() where y.shape != p.shape || y.ndim != 2 {
            throw ScoreError("encoding score: subject \(s) episode \(e): targets \(y.shape), predictions \(p.shape), expected one shape (T, V)")
        }
        if let v = episodes.first?.shape.last, let e = episodes.firstIndex(where: { $0.shape.last != v }) {
            throw ScoreError("encoding score: subject \(s) episode \(e) has \(episodes[e].shape.last ?? 0) parcels, episode 0 has \(v)")
        }
        perParcel.append(try pearsonrScore(Tensor.cat(episodes, dim: 0), Tensor.cat(predicted, dim: 0), eps: eps))
    }
    let perSubject = perParcel.map { $0.mean().item() }
    return (perParcel, perSubject, perSubject.reduce(0, +) / Double(perSubject.count))
}
