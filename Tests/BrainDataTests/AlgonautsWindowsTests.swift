import Foundation
import Testing
import Torch
@testable import BrainData

@Suite struct AlgonautsWindowsTests {
    @Test func everyPassVisitsEachEpisodeOnceWithOffsetsInRange() throws {
        let lengths = [10, 4, 7]
        var sampler = try AlgonautsWindowSampler(lengths: lengths, sampleLength: 4, seed: 42)
        var seen: [Int: Set<Int>] = [:]
        for _ in 0..<100 {
            let pass = sampler.next(3)
            #expect(Set(pass.map(\.episode)) == [0, 1, 2])
            for w in pass { seen[w.episode, default: []].insert(w.offset) }
        }
        // Offsets are uniform in 0...T-L: over 100 visits every one shows up, nothing outside.
        #expect(seen == [0: Set(0...6), 1: [0], 2: Set(0...3)])
        #expect(sampler.drawn == 300)
    }

    @Test func sameSeedSameWindowsOtherSeedOthers() throws {
        var a = try AlgonautsWindowSampler(lengths: [50, 60, 70, 80], sampleLength: 8, seed: 7)
        var b = try AlgonautsWindowSampler(lengths: [50, 60, 70, 80], sampleLength: 8, seed: 7)
        var c = try AlgonautsWindowSampler(lengths: [50, 60, 70, 80], sampleLength: 8, seed: 8)
        let first = a.next(40)
        #expect(first == b.next(40))
        #expect(first != c.next(40))
    }

    @Test func resumesFromItsJSONState() throws {
        var sampler = try AlgonautsWindowSampler(lengths: [30, 12, 25], sampleLength: 6, seed: 3315)
        _ = sampler.next(5)  // mid-pass: position 2 of the second pass
        let saved = try sampler.json()
        let rest = sampler.next(11)
        var resumed = try AlgonautsWindowSampler.resume(from: saved)
        #expect(resumed.drawn == 5)
        #expect(resumed.next(11) == rest)
        #expect(dataErrorMessage { _ = try AlgonautsWindowSampler.resume(from: Data("{}".utf8)) }?
            .hasPrefix("window sampler state: not a saved AlgonautsWindowSampler") == true)
    }

    @Test func shortEpisodesAreNamed() {
        #expect(dataErrorMessage { _ = try AlgonautsWindowSampler(lengths: [64, 40], sampleLength: 64, seed: 0, names: ["s01e01a", "s01e01b"]) }
            == "s01e01b has 40 TRs, fewer than sample_length 64")
        #expect(dataErrorMessage { _ = try AlgonautsWindowSampler(lengths: [64], sampleLength: 0, seed: 0) }
            == "sample_length 0: expected a positive number of TRs")
    }
}

@Suite struct AlgonautsScoreTests {
    @Test func pearsonMatchesNumPy() throws {
        let p = try algonautsExpected()["pearson"] as! [String: Any]
        let lengths = ints(p["lengths"])
        let truth = (p["truth"] as! [Any]).map { subj in
            zip(subj as! [Any], lengths).map { Tensor(doubles($0), shape: [$1, 5]) }
        }
        let pred = (p["pred"] as! [Any]).map { subj in
            zip(subj as! [Any], lengths).map { Tensor(doubles($0), shape: [$1, 5]) }
        }
        let single = EncodingScore.pearsonr(truth[0][0], pred[0][0]).toArray(Double.self)
        for (a, b) in zip(single, doubles(p["single"])) { #expect(abs(a - b) < 1e-12) }
        let score = try EncodingScore(truth: truth, predictions: pred)
        let perParcel = (p["per_parcel"] as! [Any]).flatMap { doubles($0) }
        for (a, b) in zip(score.parcels.toArray(Double.self), perParcel) { #expect(abs(a - b) < 1e-12) }
        // The constant parcel scores 0 (ε keeps the division finite), as in MedARC.
        #expect(score.parcels.toArray(Double.self)[4] == 0)
        for (a, b) in zip(score.subjects, doubles(p["subjects"])) { #expect(abs(a - b) < 1e-12) }
        #expect(abs(score.score - (p["score"] as! NSNumber).doubleValue) < 1e-12)
        // The stacked form: episodes of (S, T, V).
        let stacked = try EncodingScore(stackedTruth: (0..<3).map { e in Tensor.stack([truth[0][e], truth[1][e]]) },
                                        stackedPredictions: (0..<3).map { e in Tensor.stack([pred[0][e], pred[1][e]]) })
        #expect(abs(stacked.score - score.score) < 1e-12)
    }

    @Test func mismatchedShapesAreErrors() {
        #expect(dataErrorMessage { _ = try EncodingScore(truth: [[Tensor.zeros([4, 3])]], predictions: [[Tensor.zeros([4, 2])]]) }
            == "encoding score: subject 0 episode 0: responses [4, 3], predictions [4, 2]; expected equal (T, V) shapes")
        #expect(dataErrorMessage { _ = try EncodingScore(truth: [[Tensor.zeros([4, 3])]], predictions: []) }
            == "encoding score: 1 subjects of responses and 0 of predictions; expected the same, at least one")
    }
}
