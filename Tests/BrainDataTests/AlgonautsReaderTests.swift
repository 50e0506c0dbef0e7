import Foundation
import Testing
import Torch
@testable import BrainData

/// The fixture root written by `Fixtures/generate_algonauts.py` (h5py) and its values.
let algonautsRoot = fixture("algonauts")
let algonautsLayout = AlgonautsLayout(root: algonautsRoot)
func algonautsExpected() throws -> [String: Any] { try fixtureJSON("algonauts.json") }

/// The generator's fMRI formula: 1000·subject + 100·(key's index in its file) + 10·t + v (+50 for movie10).
func fmriFormula(subject: Int, index: Int, rows: Int, movie: Bool = false, parcels: Int = 4) -> [Float] {
    (0..<rows).flatMap { t in (0..<parcels).map { v in Float(1000 * subject + 100 * index + 10 * t + v + (movie ? 50 : 0)) } }
}

@Suite struct AlgonautsReaderTests {
    @Test func parsesTaskAndRunEntitiesAsMedARC() throws {
        let url = URL(fileURLWithPath: "/x.h5")
        #expect(try AlgonautsEpisode.parse(key: "ses-003_task-s01e01a", in: url) == AlgonautsEpisode(task: "s01e01a", run: 1))
        #expect(try AlgonautsEpisode.parse(key: "ses-012_task-figures01_run-2", in: url) == AlgonautsEpisode(task: "figures01", run: 2))
        #expect(try AlgonautsEpisode.parse(key: "ses-040_task-bourne03", in: url).series == .movie10)
        #expect(AlgonautsEpisode.friendsParts("s05e20a")! == (5, 20, "a"))
        #expect(AlgonautsEpisode.friendsParts("bourne01") == nil)
        #expect(AlgonautsEpisode.movieParts("life04")! == ("life", 4))
        #expect(AlgonautsEpisode(task: "figures01", run: 2).description == "figures01_run-2")
    }

    @Test func malformedKeysNameTheFileAndKey() {
        let url = URL(fileURLWithPath: "/data/sub-01.h5")
        #expect(dataErrorMessage { _ = try AlgonautsEpisode.parse(key: "ses-001_tasks01e01a", in: url) }
            == "/data/sub-01.h5: key 'ses-001_tasks01e01a': entity 'tasks01e01a' has no '-' "
            + "(expected keys like ses-003_task-s01e01a or ses-012_task-figures01_run-2)")
        #expect(dataErrorMessage { _ = try AlgonautsEpisode.parse(key: "ses-001_run-1", in: url) }
            == "/data/sub-01.h5: key 'ses-001_run-1' has no task entity (expected keys like ses-003_task-s01e01a)")
        #expect(dataErrorMessage { _ = try AlgonautsEpisode.parse(key: "ses-001_task-figures01_run-x", in: url) }
            == "/data/sub-01.h5: key 'ses-001_task-figures01_run-x': run 'x' is not a positive integer")
        #expect(dataErrorMessage { _ = try AlgonautsEpisode.parse(key: "ses-001_task-01", in: url) }
            == "/data/sub-01.h5: key 'ses-001_task-01': task '01' is neither a Friends run (s01e01a) nor a movie10 run (bourne01)")
    }

    @Test func readsEveryRunOfTheH5pyFiles() throws {
        let expected = try algonautsExpected()["fmri"] as! [String: Any]
        let url = algonautsLayout.fmriFile(subject: 2, series: .movie10)
        let file = try AlgonautsFMRIFile(url, subject: 2, series: .movie10)
        #expect(file.episodes == [AlgonautsEpisode(task: "bourne01"), AlgonautsEpisode(task: "figures01", run: 1),
                                  AlgonautsEpisode(task: "figures01", run: 2)])
        let run2 = try file.read(AlgonautsEpisode(task: "figures01", run: 2), parcels: 4)
        #expect(run2.shape == [4, 4] && run2.dtype == .float32)
        #expect(run2.toArray(Float.self) == fmriFormula(subject: 2, index: 2, rows: 4, movie: true))
        #expect(run2.toArray(Double.self) == doubles(expected["2/ses-022_task-figures01_run-2"]))
        let friends = try AlgonautsFMRIFile(algonautsLayout.fmriFile(subject: 1, series: .friends), subject: 1, series: .friends)
        #expect(friends.keys[AlgonautsEpisode(task: "s06e01a")] == "ses-010_task-s06e01a")
        #expect(try friends.read(AlgonautsEpisode(task: "s01e02a")).toArray(Double.self) == doubles(expected["1/ses-002_task-s01e02a"]))
    }

    @Test func fmriShapeAndMissingRunErrorsNameFileAndKey() throws {
        let url = algonautsLayout.fmriFile(subject: 1, series: .friends)
        let file = try AlgonautsFMRIFile(url, subject: 1, series: .friends)
        #expect(dataErrorMessage { _ = try file.read(AlgonautsEpisode(task: "s01e01a"), parcels: 1000) }
            == "\(url.path): dataset 'ses-001_task-s01e01a' has shape [6, 4]; expected (N_TR, 1000), one row per TR")
        #expect(dataErrorMessage { _ = try file.read(AlgonautsEpisode(task: "s05e20a")) }
            == "\(url.path): no run of s05e20a for sub-01 (runs present: s01e01a, s01e01b, s01e02a, s06e01a)")
        let absent = algonautsLayout.fmriFile(subject: 3, series: .friends)
        #expect(dataErrorMessage { _ = try AlgonautsFMRIFile(absent, subject: 3, series: .friends) }
            == "\(absent.path): no such file (expected an HDF5 file)")
    }

    @Test func aFileWithAnUnparsableKeyIsNamedWithTheKey() throws {
        let folder = try temporaryFolder("algonauts-key")
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("sub-01.h5")
        let w = try HDF5Writer(creating: url)
        try w.write("ses-001_task-s01e01a", Tensor.zeros([3, 4]))
        try w.write("ses-001_task_s01e01b", Tensor.zeros([3, 4]))
        try w.close()
        #expect(dataErrorMessage { _ = try AlgonautsFMRIFile(url, subject: 1, series: .friends) }
            == "\(url.path): key 'ses-001_task_s01e01b': entity 'task' has no '-' "
            + "(expected keys like ses-003_task-s01e01a or ses-012_task-figures01_run-2)")
    }

    @Test func mapsShardStemsToTasksAndReadsLayers() throws {
        let expected = try algonautsExpected()["features"] as! [String: Any]
        let shards = try AlgonautsFeatureShards(layout: algonautsLayout, model: "m1", series: .friends)
        #expect(shards.files.keys.sorted() == ["s01e01a", "s01e01b", "s01e02a", "s06e01a"])
        #expect(shards.files["s06e01a"]!.path.hasSuffix("features/m1/friends/s6/friends_s06e01a.h5"))
        #expect(AlgonautsLayout.task(ofFeatureFile: URL(fileURLWithPath: "/f/movie10_bourne01.h5")) == "bourne01")
        let m1 = try shards.read(task: "s01e01b", layer: "layers.1")
        let e1 = expected["m1/layers.1/s01e01b"] as! [String: Any]
        #expect(m1.shape == ints(e1["shape"]))
        #expect(m1.toArray(Double.self) == doubles(e1["values"]))
        // The generator's values: task index 3 → 300 + 10 t + d.
        #expect(m1.toArray(Float.self) == [300, 301, 302, 310, 311, 312])
    }

    @Test func poolsLayersOnlyWhenAskedAndSqueezesSingletonLayers() throws {
        let shards = try AlgonautsFeatureShards(layout: algonautsLayout, model: "m2", series: .movie10)
        let raw = try shards.read(task: "bourne01", layer: "enc.out", pooling: .none)
        #expect(raw.shape == [5, 2, 2])
        let pooled = try shards.read(task: "bourne01", layer: "enc.out", pooling: .avg)
        #expect(pooled.shape == [5, 2])
        // bourne01 is task 0: layer l holds 10 t + d + 1000 l, so the mean over L is 10 t + d + 500.
        let means: [Float] = (0..<5).flatMap { (t: Int) -> [Float] in [Float(10 * t + 500), Float(10 * t + 501)] }
        #expect(pooled.toArray(Float.self) == means)
        let squeezed = try shards.read(task: "bourne01", layer: "squeezed", pooling: .none)
        #expect(squeezed.shape == [5, 3])
        #expect(squeezed.toArray(Float.self)[0..<4] == [0, 0.5, 1, 5])
    }

    @Test func featureErrorsNameTheFolderFileAndLayer() throws {
        let shards = try AlgonautsFeatureShards(layout: algonautsLayout, model: "m1", series: .friends)
        let url = shards.files["s01e01a"]!
        #expect(dataErrorMessage { _ = try shards.read(task: "s01e01a", layer: "nope") }
            == "\(url.path): no dataset 'nope' (keys present: layers.1)")
        #expect(dataErrorMessage { _ = try shards.read(task: "s02e01a", layer: "layers.1") }
            == "\(shards.folder.path): no feature shard for s02e01a (expected friends_s02e01a.h5 below it)")
        let folder = algonautsLayout.featureFolder(model: "whisper", series: .movie10)
        #expect(dataErrorMessage { _ = try AlgonautsFeatureShards(layout: algonautsLayout, model: "whisper", series: .movie10) }
            == "\(folder.path): no such folder (expected the movie10 feature shards of model 'whisper', e.g. "
            + "\(folder.path)/bourne/movie10_bourne01.h5)")
        #expect(try AlgonautsFeatureSpec("whisper/layers.12") == AlgonautsFeatureSpec(model: "whisper", layer: "layers.12"))
        #expect(dataErrorMessage { _ = try AlgonautsFeatureSpec("whisper") } == "feature 'whisper': expected model/layer, e.g. whisper/layers.12")
    }

    @Test func padsByRepeatingTheLastRowOrTruncates() throws {
        let f = Tensor([Float(1), 2, 3, 4], shape: [2, 2])
        #expect(try padOrTruncateFeatures(f, to: 4).toArray(Float.self) == [1, 2, 3, 4, 3, 4, 3, 4])
        #expect(try padOrTruncateFeatures(f, to: 1).toArray(Float.self) == [1, 2])
        #expect(try padOrTruncateFeatures(f, to: 2).shape == [2, 2])
        #expect(dataErrorMessage { _ = try padOrTruncateFeatures(Tensor.zeros([0, 2]), to: 3) }
            == "features have no rows; cannot pad them to 3 TRs")
    }
}
