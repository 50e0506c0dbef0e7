import Foundation
import Testing
import Torch
@testable import BrainData

/// Pearson r by hand, in doubles: Σ(a-ā)(b-b̄) / (‖a-ā‖ ‖b-b̄‖).
private func pearson(_ a: [Double], _ b: [Double]) -> Double {
    let ma = a.reduce(0, +) / Double(a.count), mb = b.reduce(0, +) / Double(b.count)
    var ab = 0.0, aa = 0.0, bb = 0.0
    for (x, y) in zip(a, b) { ab += (x - ma) * (y - mb); aa += (x - ma) * (x - ma); bb += (y - mb) * (y - mb) }
    return ab / (aa.squareRoot() * bb.squareRoot())
}

@Suite struct AlgonautsSyntheticTests {
    @Test func deterministicFromTheSeed() throws {
        let a = try SyntheticAlgonauts(.tiny(seed: 5)), b = try SyntheticAlgonauts(.tiny(seed: 5))
        let c = try SyntheticAlgonauts(.tiny(seed: 6))
        let e = AlgonautsEpisode(task: "s02e01b")
        #expect(a.responses[2]![e]!.toArray(Float.self) == b.responses[2]![e]!.toArray(Float.self))
        #expect(a.features["synth_audio"]!["bourne01"]!.toArray(Float.self) == b.features["synth_audio"]!["bourne01"]!.toArray(Float.self))
        #expect(a.responses[2]![e]!.toArray(Float.self) != c.responses[2]![e]!.toArray(Float.self))
    }

    @Test func writesTheReleaseLayoutWithMissingRunsAndRepeats() throws {
        let root = try temporaryFolder("synth-algonauts")
        defer { try? FileManager.default.removeItem(at: root) }
        let data = try SyntheticAlgonauts(.tiny())
        let info = try SyntheticAlgonautsWriter.write(data, to: root)
        #expect(info.missingRuns == ["sub-02: s01e02a"])
        let layout = AlgonautsLayout(root: root)
        let friends2 = try HDF5File(layout.fmriFile(subject: 2, series: .friends))
        // 2 seasons × 2 episodes × parts a, b, less the missing s01e02a; 4 runs a session.
        #expect(friends2.keys == ["ses-001_task-s01e01a", "ses-001_task-s01e01b", "ses-001_task-s01e02b", "ses-001_task-s02e01a",
                                  "ses-002_task-s02e01b", "ses-002_task-s02e02a", "ses-002_task-s02e02b"])
        #expect(try HDF5File(layout.fmriFile(subject: 1, series: .movie10)).keys
            == ["ses-001_task-bourne01", "ses-001_task-figures01_run-1", "ses-001_task-figures01_run-2"])
        // What was written reads back through the readers, values intact.
        let file = try AlgonautsFMRIFile(layout.fmriFile(subject: 1, series: .movie10), subject: 1, series: .movie10)
        let run2 = AlgonautsEpisode(task: "figures01", run: 2)
        #expect(try file.read(run2, parcels: 16).toArray(Float.self) == data.responses[1]![run2]!.toArray(Float.self))
        let shards = try AlgonautsFeatureShards(layout: layout, model: "synth_audio", series: .friends)
        #expect(shards.files.count == 8)
        let raw = try shards.read(task: "s01e01a", layer: "layers.2", pooling: .none)
        #expect(raw.shape.dropFirst() == [2, 4])
        #expect(raw.toArray(Float.self) == data.features["synth_audio"]!["s01e01a"]!.toArray(Float.self))
        // MedARC's default filter on it: Friends 1-2 and bourne, s01e02a dropped for both subjects.
        let dataset = try AlgonautsDataset(layout: layout, subjects: [1, 2], features: [
            AlgonautsFeatureSpec(model: "synth_vision", layer: "layers.4"), AlgonautsFeatureSpec(model: "synth_audio", layer: "layers.2"),
        ], parcels: 16)
        #expect(dataset.episodes.count == 8)
        #expect(dataset.alignment.incomplete == [AlgonautsEpisode(task: "s01e02a"): [2]])
        let episode = try dataset.episode(AlgonautsEpisode(task: "bourne01"))
        #expect(episode.features.map(\.shape) == [[episode.length, 6], [episode.length, 4]])
        #expect(info == (try SyntheticAlgonautsWriter.info(at: root)))
    }

    @Test func ceilingEqualsTheDirectComputation() throws {
        let root = try temporaryFolder("synth-algonauts")
        defer { try? FileManager.default.removeItem(at: root) }
        let data = try SyntheticAlgonauts(.tiny(seed: 11))
        let info = try SyntheticAlgonautsWriter.write(data, to: root)
        // Each subject's recorded runs (read back from the files) against the noiseless ones, concatenated,
        // Pearson per parcel by hand, averaged over parcels then subjects.
        let layout = AlgonautsLayout(root: root)
        var subjectMeans: [Double] = []
        for s in [1, 2] {
            var noisy: [[Double]] = Array(repeating: [], count: 16), clean = noisy
            for series in AlgonautsSeries.allCases {
                let file = try AlgonautsFMRIFile(layout.fmriFile(subject: s, series: series), subject: s, series: series)
                for e in file.episodes {
                    let y = try file.read(e).toArray(Float.self), x = data.noiseless[s]![e]!.toArray(Float.self)
                    for (i, (a, b)) in zip(y, x).enumerated() { noisy[i % 16].append(Double(a)); clean[i % 16].append(Double(b)) }
                }
            }
            subjectMeans.append((0..<16).map { pearson(noisy[$0], clean[$0]) }.reduce(0, +) / 16)
        }
        #expect(zip(info.subjectCeilings, subjectMeans).allSatisfy { abs($0 - $1) < 1e-6 })
        #expect(abs(info.ceiling["all"]! - subjectMeans.reduce(0, +) / 2) < 1e-6)
        // The splits of MedARC's config that the tiny release has (no season 6, no life).
        #expect(info.ceiling.keys.sorted() == ["all", "train", "val_figures"])
    }

    @Test func noiselessReleaseHasCeilingOne() throws {
        var config = SyntheticAlgonautsConfig.tiny()
        config.noiseStd = 0
        let ceiling = try SyntheticAlgonauts(config).ceiling()
        #expect(abs(ceiling.score - 1) < 1e-6)
    }

    @Test func hrfPeaksAtItsFourthTap() {
        let h = SyntheticAlgonauts.doubleGammaHRF(taps: 12)
        // SPM's double gamma peaks near 5 s: tap 3 (4.47 s) is the largest; the undershoot is negative.
        #expect(h.indices.max { h[$0] < h[$1] } == 3)
        #expect(h[0] == 0 && h[10] < 0)
        #expect(abs(h.reduce(0) { $0 + $1 * $1 } - 1) < 1e-12)
    }

    @Test func checkListsMissingRunsAndFindsBrokenFiles() throws {
        let root = try temporaryFolder("synth-algonauts")
        defer { try? FileManager.default.removeItem(at: root) }
        try SyntheticAlgonautsWriter.write(.tiny(), to: root)
        let layout = AlgonautsLayout(root: root)
        let clean = AlgonautsCheck(layout: layout, parcels: 16)
        #expect(clean.problems == [])
        #expect(clean.missingRuns == ["s01e02a: missing for sub-02 (dropped for every subject)"])
        #expect(clean.rows.map(\.runs) == [8, 7, 3, 3])
        #expect(clean.featureRows.map { "\($0.model)/\($0.layer) \($0.series.rawValue) \($0.shards) \($0.shape)" }
            == ["synth_audio/layers.2 friends 8 [2, 4]", "synth_audio/layers.2 movie10 2 [2, 4]",
                "synth_vision/layers.4 friends 8 [6]", "synth_vision/layers.4 movie10 2 [6]"])
        // Break three things: a NaN in a run, a run of the wrong width, a shard far too long.
        let friends1 = layout.fmriFile(subject: 1, series: .friends)
        let w = try HDF5Writer(creating: friends1)
        var values = [Float](repeating: 0.5, count: 20 * 16)
        values[7] = .nan
        try w.write("ses-001_task-s01e01a", Tensor(values, shape: [20, 16]))
        try w.write("ses-001_task-s01e01b", Tensor.zeros([20, 15]))
        try w.close()
        let shard = layout.featureFile(model: "synth_vision", task: "bourne01")
        let f = try HDF5Writer(creating: shard)
        try f.write("layers.4", Tensor.zeros([500, 6]))
        try f.close()
        let broken = AlgonautsCheck(layout: layout, parcels: 16)
        #expect(broken.problems.contains("\(friends1.path): dataset 'ses-001_task-s01e01a' has 1 NaN or infinite values"))
        #expect(broken.problems.contains("\(friends1.path): dataset 'ses-001_task-s01e01b' has shape [20, 15]; expected (N_TR, 16), one row per TR"))
        #expect(broken.problems.contains { $0.hasPrefix("\(shard.path): dataset 'layers.4' has 500 rows; the fMRI of bourne01 has ") })
        #expect(broken.missingRuns.contains("s01e02b: missing for sub-01 (dropped for every subject)"))
        #expect(AlgonautsCheck(layout: AlgonautsLayout(root: root.appendingPathComponent("nope"))).problems
            == ["\(root.path)/nope: no such data root"])
    }
}
