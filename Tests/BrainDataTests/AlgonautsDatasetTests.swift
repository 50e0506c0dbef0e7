import Foundation
import Testing
import Torch
@testable import BrainData

@Suite struct AlgonautsDatasetTests {
    let m1 = AlgonautsFeatureSpec(model: "m1", layer: "layers.1")
    let m2 = AlgonautsFeatureSpec(model: "m2", layer: "enc.out")

    @Test func alignmentKeepsOnlyEpisodesEverySubjectHas() {
        let e = { (t: String, r: Int) in AlgonautsEpisode(task: t, run: r) }
        let runs: [Int: Set<AlgonautsEpisode>] = [
            1: [e("s01e01a", 1), e("s05e20a", 1), e("s07e01a", 1), e("figures01", 2)],
            2: [e("s01e01a", 1), e("s07e01a", 1)],
            5: [e("s01e01a", 1), e("s05e20a", 1), e("figures01", 2)],
        ]
        let all = AlgonautsAlignment(subjects: [1, 2, 5], runs: runs)
        #expect(all.episodes == [e("s01e01a", 1)])
        #expect(all.incomplete == [e("s05e20a", 1): [2], e("s07e01a", 1): [5], e("figures01", 2): [2]])
        #expect(all.missingRunMessages == ["figures01_run-2: missing for sub-02 (dropped for every subject)",
                                          "s05e20a: missing for sub-02 (dropped for every subject)",
                                          "s07e01a: missing for sub-05 (dropped for every subject)"])
        // Without sub-02 the films it lacks come back; the default filter (seasons 1-5, run 1) drops s07 and run 2.
        let noTwo = AlgonautsAlignment(subjects: [1, 5], runs: runs, filter: AlgonautsEpisodeFilter())
        #expect(noTwo.episodes == [e("s01e01a", 1), e("s05e20a", 1)])
        #expect(noTwo.incomplete.isEmpty)
    }

    @Test func medarcDefaultFilter() {
        let f = AlgonautsEpisodeFilter()
        #expect(f.accepts(AlgonautsEpisode(task: "s05e20a")))
        #expect(!f.accepts(AlgonautsEpisode(task: "s06e01a")))
        #expect(f.accepts(AlgonautsEpisode(task: "wolf17")))
        #expect(!f.accepts(AlgonautsEpisode(task: "figures01")))
        #expect(!f.accepts(AlgonautsEpisode(task: "bourne01", run: 2)))
    }

    @Test func defaultSplitOfTheFixture() throws {
        let data = try AlgonautsDataset(layout: algonautsLayout, subjects: [1, 2], features: [m1, m2], parcels: 4)
        #expect(data.episodes.map(\.description) == ["bourne01", "s01e01a", "s01e01b"])
        #expect(data.alignment.missingRunMessages == ["s01e02a: missing for sub-02 (dropped for every subject)",
                                                     "wolf01: missing for sub-02 (dropped for every subject)"])
    }

    @Test func truncatesToTheShortestSubjectAndStacks() throws {
        let data = try AlgonautsDataset(layout: algonautsLayout, subjects: [2, 1], features: [m1, m2], parcels: 4)
        // s01e01a: sub-01 has 6 TRs, sub-02 has 7 → 6, stacked in the order asked (sub-02 first).
        let a = try data.episode(AlgonautsEpisode(task: "s01e01a"))
        #expect(a.fmri.shape == [2, 6, 4])
        #expect(a.subjectLengths == [7, 6])
        #expect(a.fmri.select(0, 0).toArray(Float.self) == fmriFormula(subject: 2, index: 0, rows: 6))
        #expect(a.fmri.select(0, 1).toArray(Float.self) == fmriFormula(subject: 1, index: 0, rows: 6))
        // Its shard has 7 rows (task index 2: 200 + 10 t + d): truncated to 6.
        #expect(a.featureLengths == [7, 7])
        #expect(a.features[0].shape == [6, 3])
        #expect(a.features[0].toArray(Float.self).suffix(3) == [250, 251, 252])
        // m2 is (T, 2, 2) pooled over L: 200 + 10 t + d + 500.
        #expect(a.features[1].shape == [6, 2])
        #expect(a.features[1].toArray(Float.self).prefix(2) == [700, 701])
        // s01e01b: 5 and 4 TRs → 4; its shard has 2 rows (300.., 310..), the last repeated twice.
        let b = try data.episode(AlgonautsEpisode(task: "s01e01b"))
        #expect(b.length == 4)
        #expect(b.fmri.select(0, 1).toArray(Float.self) == fmriFormula(subject: 1, index: 1, rows: 4))
        #expect(b.features[0].toArray(Float.self) == [300, 301, 302, 310, 311, 312, 310, 311, 312, 310, 311, 312])
        // bourne01 (movie10): 6 and 5 TRs → 5, its shard of 5 rows kept whole.
        let c = try data.episode(AlgonautsEpisode(task: "bourne01"))
        #expect(c.fmri.select(0, 0).toArray(Float.self) == fmriFormula(subject: 2, index: 0, rows: 5, movie: true))
        #expect(c.features[0].shape == [5, 3])
        #expect(try data.loadAll().map(\.length) == [5, 6, 4])
    }

    @Test func repeatedFilmsShareTheirFeatures() throws {
        let filter = AlgonautsEpisodeFilter(seasons: [], movies: ["figures"], runs: [1, 2])
        let data = try AlgonautsDataset(layout: algonautsLayout, subjects: [1, 2], filter: filter, features: [m1], parcels: 4)
        #expect(data.episodes.map(\.description) == ["figures01", "figures01_run-2"])
        let run1 = try data.episode(data.episodes[0]), run2 = try data.episode(data.episodes[1])
        #expect(run1.length == 5 && run2.length == 4)
        // The figures01 shard (task index 1, 6 rows) truncated to each run's length.
        #expect(run1.features[0].toArray(Float.self).prefix(3) == [100, 101, 102])
        #expect(run2.features[0].toArray(Float.self) == Array(run1.features[0].toArray(Float.self).prefix(12)))
        #expect(run2.fmri.select(0, 1).toArray(Float.self) == fmriFormula(subject: 2, index: 2, rows: 4, movie: true))
    }

    @Test func missingFilesAndEpisodesAreNamed() throws {
        let absent = algonautsLayout.fmriFile(subject: 3, series: .friends)
        #expect(dataErrorMessage { _ = try AlgonautsDataset(layout: algonautsLayout, subjects: [1, 3], parcels: 4) }
            == "\(absent.path): no such file (expected an HDF5 file)")
        let data = try AlgonautsDataset(layout: algonautsLayout, subjects: [1, 2], parcels: 4)
        #expect(dataErrorMessage { _ = try data.episode(AlgonautsEpisode(task: "s01e02a")) }
            == "\(algonautsRoot.path): episode s01e02a is not one every subject has under this filter")
        let wide = try AlgonautsDataset(layout: algonautsLayout, subjects: [1, 2])
        #expect(dataErrorMessage { _ = try wide.episode(AlgonautsEpisode(task: "bourne01")) }
            == "\(algonautsLayout.fmriFile(subject: 1, series: .movie10).path): dataset 'ses-020_task-bourne01' has shape [6, 4]; "
            + "expected (N_TR, 1000), one row per TR")
    }

    @Test func windowsSliceEveryStream() throws {
        let data = try AlgonautsDataset(layout: algonautsLayout, subjects: [1, 2], features: [m1], parcels: 4)
        let a = try data.episode(AlgonautsEpisode(task: "s01e01a"))
        let w = a.window(offset: 2, length: 3)
        #expect(w.fmri.shape == [2, 3, 4])
        #expect(w.fmri.select(0, 0).toArray(Float.self) == Array(fmriFormula(subject: 1, index: 0, rows: 5).suffix(12)))
        #expect(w.features[0].toArray(Float.self) == [220, 221, 222, 230, 231, 232, 240, 241, 242])
    }
}
