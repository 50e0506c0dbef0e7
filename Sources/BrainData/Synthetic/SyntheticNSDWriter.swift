import Foundation
import Torch

/// What `SyntheticNSD.write(to:)` produced, saved as `synthetic_info.json` in the data root.
public struct SyntheticInfo: Encodable, Sendable {
    public struct Subject: Encodable, Sendable, Equatable {
        public var subject: Int
        public var voxels: Int
        public var grid: [Int]
        public var sessions: Int
        public var trials: Int
        public var trainTrials: Int
        public var testTrials: Int
        public var testImages: Int

        enum CodingKeys: String, CodingKey {
            case subject, voxels, grid, sessions, trials
            case trainTrials = "train_trials", testTrials = "test_trials", testImages = "test_images"
        }
    }

    public var config: SyntheticNSDConfig
    public var images: Int
    /// Mean signal variance over mean noise variance (session offsets included) of one voxel on one trial.
    public var perVoxelSNR: Double
    public var subjects: [Subject]
    public var oracle: OracleRetrieval

    enum CodingKeys: String, CodingKey {
        case config, images, subjects, oracle
        case perVoxelSNR = "per_voxel_snr"
    }
}

extension SyntheticNSD {
    /// Columns of a `behav` row (17 like NSD's; the others stay -1).
    enum Behav {
        static let columns = 17
        static let image = 0, subject = 1, session = 2, run = 3, trialInRun = 4, globalTrial = 5, isOld = 7
        static let pastCount = 15, futureCount = 15, oldsCount = 3
        static let runsPerSession = 12
    }

    /// Writes the dataset under `root` in the layout of MindEye2's NSD release (see docs/synthetic-data.md)
    /// plus `clip_targets.hdf5` and `synthetic_info.json`. `log` receives one line per file group.
    @discardableResult
    public func write(to root: URL, log: (String) -> Void = { _ in }) throws -> SyntheticInfo {
        let layout = NSDLayout(root: root)
        let fm = FileManager.default
        try makeFolder(root)

        let chunk = 256
        let images = try HDF5Writer(creating: layout.images)
        try images.createDataset("images", dtype: .float16, shape: [imageCount, 3, config.imageSize, config.imageSize])
        let targets = try HDF5Writer(creating: layout.targetsHDF5)
        try targets.createDataset(NSDLayout.targetsKey, dtype: .float16,
                                  shape: [imageCount, config.tokens, config.tokenDim])
        for start in stride(from: 0, to: imageCount, by: chunk) {
            let z = latents.slice(0, start: start, end: min(start + chunk, imageCount))
            try images.write("images", rows: self.images(z), at: start)
            try targets.write(NSDLayout.targetsKey, rows: self.targets(z), at: start)
        }
        try images.close()
        try targets.close()
        log("images \(layout.images.lastPathComponent) and targets \(layout.targetsHDF5.lastPathComponent): \(imageCount)")

        try Npy.write(Tensor(shared), to: layout.shared1000)
        let indices = try HDF5Writer(creating: layout.subjectIndices)
        for subject in subjects {
            try indices.write(String(format: "subj%02d", subject.number), Tensor(subject.trialImages.map(Int64.init)))
        }
        try indices.close()

        var allBetas: [(betas: Tensor, mean: Tensor, std: Tensor)] = []
        var rows: [SyntheticInfo.Subject] = []
        for subject in subjects {
            let b = betas(subject)
            allBetas.append(b)
            let file = try HDF5Writer(creating: layout.betas(subject.number))
            try file.write("betas", b.betas, dtype: .float32)
            try file.close()

            let maskURL = layout.mask(subject.number)
            try makeFolder(maskURL.deletingLastPathComponent())
            try NIfTIWriter.write(subject.mask, to: maskURL)

            let behav = behavRows(subject)
            let train = layout.trainFolder(subject.number)
            if fm.fileExists(atPath: train.path) { try fm.removeItem(at: train) }
            try makeFolder(train)
            for session in 0..<subject.sessions {
                let range = (session * subject.trialsPerSession)..<min((session + 1) * subject.trialsPerSession,
                                                                         subject.trialImages.count)
                let trials = range.filter { !shared[subject.trialImages[$0]] }
                try tar(trials, subject, behav).write(to: train.appendingPathComponent("\(session).tar"))
            }
            let testURL = layout.newTest(subject.number)
            try makeFolder(testURL.deletingLastPathComponent())
            let testTrials = subject.trialImages.indices.filter { shared[subject.trialImages[$0]] }
            try tar(testTrials, subject, behav).write(to: testURL)

            rows.append(.init(subject: subject.number, voxels: subject.voxelCount, grid: subject.mask.shape,
                              sessions: subject.sessions, trials: subject.trialImages.count,
                              trainTrials: subject.trialImages.count - testTrials.count,
                              testTrials: testTrials.count, testImages: Set(testTrials.map { subject.trialImages[$0] }).count))
            log(String(format: "subj%02d: %d voxels, %d sessions, %d trials", subject.number, subject.voxelCount,
                       subject.sessions, subject.trialImages.count))
        }

        let signal = subjects.map { $0.tuning.square().sum(1).mean().item() }.reduce(0, +) / Double(subjects.count)
        let noise = subjects.map(meanNoiseVariance).reduce(0, +) / Double(subjects.count)
        let info = SyntheticInfo(config: config, images: imageCount,
                                 perVoxelSNR: config.noise > 0 ? signal / noise : .infinity,
                                 subjects: rows, oracle: oracleTop1(betas: allBetas))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(info).write(to: root.appendingPathComponent("synthetic_info.json"))
        return info
    }

    /// `(trials, 17)` float64 behav rows of every trial of `subject`.
    func behavRows(_ subject: SyntheticSubject) -> [[Double]] {
        var seen = Set<Int>()
        return subject.trialImages.enumerated().map { t, image in
            let perSession = subject.trialsPerSession
            let inSession = t % perSession
            let run = inSession * Behav.runsPerSession / perSession
            let runStart = (0...inSession).first { $0 * Behav.runsPerSession / perSession == run }!
            var row = [Double](repeating: -1, count: Behav.columns)
            row[Behav.image] = Double(image)
            row[Behav.subject] = Double(subject.number)
            row[Behav.session] = Double(t / perSession + 1)
            row[Behav.run] = Double(run + 1)
            row[Behav.trialInRun] = Double(inSession - runStart + 1)
            row[Behav.globalTrial] = Double(t)
            row[Behav.isOld] = seen.contains(image) ? 1 : 0
            seen.insert(image)
            return row
        }
    }

    /// One webdataset shard with a sample per trial (key `sample` + the 9-digit global trial).
    func tar(_ trials: [Int], _ subject: SyntheticSubject, _ behav: [[Double]]) throws -> TarWriter {
        let missing = [Double](repeating: -1, count: Behav.columns)
        let session = { (t: Int) in t / subject.trialsPerSession }
        var earlier: [Int: [Int]] = [:]  // image -> its earlier trials, most recent first
        var olds: [Int: [Int]] = [:]
        for (t, image) in subject.trialImages.enumerated() {
            olds[t] = earlier[image, default: []]
            earlier[image, default: []].insert(t, at: 0)
        }
        func matrix(_ ts: [Int?]) throws -> Data {
            let values = ts.flatMap { t in t.map { behav[$0] } ?? missing }
            return try Npy.encode(Tensor(values, shape: [ts.count, Behav.columns]))
        }
        var writer = TarWriter()
        for t in trials {
            let inSession = { (u: Int) -> Int? in
                u >= 0 && u < subject.trialImages.count && session(u) == session(t) ? u : nil
            }
            let old = olds[t]!.prefix(Behav.oldsCount)
            try writer.writeSample(key: String(format: "sample%09d", t), members: [
                "behav.npy": try matrix([t]),
                "past_behav.npy": try matrix((1...Behav.pastCount).map { inSession(t - $0) }),
                "future_behav.npy": try matrix((1...Behav.futureCount).map { inSession(t + $0) }),
                "olds_behav.npy": try matrix((0..<Behav.oldsCount).map { $0 < old.count ? old[old.startIndex + $0] : nil }),
            ])
        }
        return writer
    }

    private func makeFolder(_ url: URL) throws {
        do { try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true) } catch {
            throw DataError("\(url.path): cannot create folder (\(error.localizedDescription))")
        }
    }
}
