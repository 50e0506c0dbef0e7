import Foundation
import Testing
import Torch
@testable import BrainData

/// A synthetic NSD small enough to write in well under a second: 2 subjects, 20 test images x 3, 30 own
/// images each, sessions of 25 trials (90 trials: 3 full sessions and one of 15).
private func smallConfig(seed: UInt64 = 7) -> SyntheticNSDConfig {
    var c = SyntheticNSDConfig()
    c.seed = seed
    c.subjects = 2
    c.testImages = 20
    c.trainImagesPerSubject = 30
    c.trialsPerSession = 25
    c.voxels = 200
    c.imageSize = 8
    c.tokens = 4
    c.tokenDim = 8
    return c
}

private func temporaryRoot() -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("synthetic-nsd-\(UUID().uuidString)")
}

@Suite(.serialized) struct SyntheticNSDTests {
    // MARK: tar layout

    @Test func tarWriterReproducesPythonTarfileByteForByte() throws {
        let expected = try Data(contentsOf: fixture("synthetic/webdataset_two_samples.tar"))
        var writer = TarWriter()
        for (key, offset) in [("sample000000007", 7.0), ("sample000000008", 8.0)] {
            try writer.writeSample(key: key, members: [
                "behav.npy": Npy.encode(Tensor((0..<17).map { Double($0) + offset }, shape: [1, 17])),
                "past_behav.npy": Npy.encode(Tensor.full([15, 17], -1, dtype: .float64)),
                "future_behav.npy": Npy.encode(Tensor((0..<255).map { Double($0) / 4 + offset }, shape: [15, 17])),
                "olds_behav.npy": Npy.encode(Tensor.full([3, 17], -1, dtype: .float64)),
            ])
        }
        #expect(writer.bytes.count == 2 * 12_800)
        let archive = writer.finished()
        #expect(archive.count == 30_720)
        #expect(archive == expected)
    }

    @Test func everyMemberHasItsOwnPaxHeaderAndASampleTakes12800Bytes() throws {
        let root = temporaryRoot()
        defer { try? FileManager.default.removeItem(at: root) }
        let world = try SyntheticNSD(smallConfig())
        try world.write(to: root)
        let shard = NSDLayout(root: root).newTest(1)
        let bytes = try Data(contentsOf: shard)
        let samples = 60  // 20 test images x 3
        #expect(bytes.count == (samples * 12_800 + 1024 + 10_239) / 10_240 * 10_240)
        let members = try TarReader(shard).members()
        #expect(members.count == 4 * samples)
        #expect(members.map(\.offset) == (0..<samples).flatMap { n in [0, 2048, 6144, 8704].map { n * 12_800 + $0 } })
        for member in members {
            let header = bytes[member.offset..<(member.offset + 512)]
            #expect(header[header.startIndex + 156] == UInt8(ascii: "x"))
            #expect(String(decoding: header.prefix(14), as: UTF8.self) == "././@PaxHeader")
        }
        #expect(members.prefix(4).map(\.name) == ["behav.npy", "future_behav.npy", "olds_behav.npy", "past_behav.npy"]
            .map { String(format: "sample%09d.", world.subjects[0].trialImages.firstIndex { world.shared[$0] }!) + $0 })
    }

    @Test func tarWriterRejectsLongNames() {
        var writer = TarWriter()
        let name = String(repeating: "a", count: 101)
        #expect(dataErrorMessage { try writer.write(name: name, data: Data()) }
            == "tar member name '\(name)': expected at most 100 ASCII characters")
    }

    // MARK: the layout read back

    @Test func readersSeeTheDocumentedCountsShapesAndValues() throws {
        let root = temporaryRoot()
        defer { try? FileManager.default.removeItem(at: root) }
        let world = try SyntheticNSD(smallConfig())
        let info = try world.write(to: root)
        let dataset = try NSDDataset(root: root)
        #expect(dataset.subjects == [1, 2])
        #expect(try dataset.sharedImages() == (0..<80).filter { world.shared[$0] })
        #expect(try dataset.sharedImages().count == 20)
        for (s, truth) in zip([1, 2], world.subjects) {
            let subject = try dataset.subject(s)
            #expect(dataset.sessions(s) == 4)
            #expect(subject.betas.shape == [90, truth.voxelCount])
            #expect(subject.coordinates.toArray(Int64.self) == truth.voxelIndices.toArray(Int64.self))
            #expect(subject.trainTrials.count == 30 && subject.testTrials.count == 60)
            #expect(subject.testImages.count == 20 && subject.testImages.allSatisfy { $0.trials.count == 3 })
            for trial in subject.trainTrials + subject.testTrials {
                #expect(truth.trialImages[trial.row] == trial.image)
                #expect(trial.session == trial.row / 25 + 1)
            }
            #expect(subject.trainTrials.allSatisfy { !world.shared[$0.image] })
            let expected = world.betas(truth).betas
            #expect((subject.betas - expected).abs().max().item() == 0)
            #expect(info.subjects[s - 1] == SyntheticInfo.Subject(
                subject: s, voxels: truth.voxelCount, grid: truth.mask.shape, sessions: 4, trials: 90,
                trainTrials: 30, testTrials: 60, testImages: 20))
        }
        let ids = [0, 17, 79]
        let targets = try dataset.targets(ids)
        let truth = world.targets(world.latents.indexSelect(0, Tensor(ids.map(Int64.init))))
        #expect(targets.shape == [3, 4, 8])
        #expect((targets - truth.to(.float16).to(.float32)).abs().max().item() == 0)
        let pixels = try dataset.images(ids)
        #expect(pixels.shape == [3, 3, 8, 8] && pixels.dtype == .float16)
        #expect(pixels.min().item() >= 0 && pixels.max().item() <= 1)
        let indices = try HDF5File(NSDLayout(root: root).subjectIndices)
        #expect(indices.keys == ["subj01", "subj02"])
        #expect(try indices.dataset("subj02").read().toArray(Int64.self) == world.subjects[1].trialImages.map(Int64.init))
    }

    @Test func betasAreZScoredWithTrainingStatistics() throws {
        let world = try SyntheticNSD(smallConfig())
        let subject = world.subjects[0]
        let betas = world.betas(subject).betas
        let train = subject.trialImages.indices.filter { !world.shared[subject.trialImages[$0]] }
        let rows = betas.indexSelect(0, Tensor(train.map(Int64.init)))
        #expect(rows.mean(0).abs().max().item() < 1e-5)
        #expect((rows.std([0]) - 1).abs().max().item() < 1e-5)
    }

    @Test func behavRowsDescribeTheTrialTheSessionNeighboursAndEarlierViewings() throws {
        let world = try SyntheticNSD(smallConfig())
        let subject = world.subjects[1]
        let rows = world.behavRows(subject)
        let t = 27  // session 2, third trial
        #expect(Array(rows[t][0..<6]) == [Double(subject.trialImages[t]), 2, 2, 1, 3, 27])
        let shard = try world.tar([t], subject, rows).finished()
        let url = temporaryRoot().appendingPathExtension("tar")
        defer { try? FileManager.default.removeItem(at: url) }
        try shard.write(to: url)
        let sample = try TarReader(url).samples()[0]
        #expect(sample.key == "sample000000027")
        let past = try Npy.decode(sample.members["past_behav.npy"]!).toArray(Double.self)
        #expect(Array(past[0..<17]) == rows[26] && Array(past[17..<34]) == rows[25])
        #expect(past[34...].allSatisfy { $0 == -1 })  // trial 24 belongs to session 1
        let future = try Npy.decode(sample.members["future_behav.npy"]!).toArray(Double.self)
        #expect((0..<15).allSatisfy { Array(future[($0 * 17)..<($0 * 17 + 17)]) == rows[28 + $0] })
        let olds = try Npy.decode(sample.members["olds_behav.npy"]!).toArray(Double.self)
        let earlier = (0..<t).reversed().filter { subject.trialImages[$0] == subject.trialImages[t] }
        for k in 0..<3 {
            let row = Array(olds[(k * 17)..<(k * 17 + 17)])
            #expect(row == (k < earlier.count ? rows[earlier[k]] : [Double](repeating: -1, count: 17)))
        }
        #expect(rows[t][7] == (earlier.isEmpty ? 0 : 1))
    }

    // MARK: anatomy and tuning

    @Test(arguments: SyntheticPreset.allCases) func masksDifferBetweenSubjectsAndMatchTheBetasColumns(preset: SyntheticPreset) throws {
        var config = SyntheticNSDConfig()
        config.preset = preset
        let world = try SyntheticNSD(config)
        let counts = world.subjects.map(\.voxelCount)
        #expect(Set(counts).count == 3)
        #expect(counts.allSatisfy { (1000...2500).contains($0) })
        #expect(Set(world.subjects.map { $0.mask.shape }).count > 1)
        for subject in world.subjects {
            let values = Set(subject.mask.flatten().toArray(Int16.self))
            #expect(values == [-1, 0, 1])
            #expect((subject.mask .== 1).sum().itemInt() == subject.voxelCount)
            #expect(world.betas(subject).betas.size(1) == subject.voxelCount)
            // independent: the ROI is the template's unit ball; shared-anatomy: the subject's own extent of it,
            // radii exp(0.12 e) with e ~ N(0, 1): above 1.5 only past 3.4 standard deviations
            #expect(subject.templateCoordinates.square().sum(1).max().item() < (preset == .independent ? 1 : 1.5 * 1.5))
        }
    }

    @Test(arguments: SyntheticPreset.allCases) func neighbouringVoxelsHaveSimilarTuning(preset: SyntheticPreset) throws {
        var config = SyntheticNSDConfig()
        config.preset = preset
        let world = try SyntheticNSD(config)
        let subject = world.subjects[0]
        let w = F.normalize(subject.tuning, dim: 1)
        let idx = subject.voxelIndices.toArray(Int64.self)
        var position: [[Int64]: Int] = [:]
        for v in 0..<subject.voxelCount { position[Array(idx[(3 * v)..<(3 * v + 3)])] = v }
        var a: [Int64] = [], b: [Int64] = []
        for (key, v) in position {
            if let n = position[[key[0] + 1, key[1], key[2]]] { a.append(Int64(v)); b.append(Int64(n)) }
        }
        let neighbours = (w.indexSelect(0, Tensor(a)) * w.indexSelect(0, Tensor(b))).sum(1).mean().item()
        let all = w.matmul(w.T).mean().item()
        // shared-anatomy tuning is 80% template field + 20% the subject's own, so neighbours agree less
        // (0.82 measured at the default size) than in the independent preset (above 0.9)
        #expect(neighbours > (preset == .independent ? 0.9 : 0.75))
        #expect(all < 0.5)
    }

    // MARK: determinism, oracle, validation

    @Test func theSameSeedWritesTheSameBytes() throws {
        let first = temporaryRoot(), second = temporaryRoot(), third = temporaryRoot()
        defer { for r in [first, second, third] { try? FileManager.default.removeItem(at: r) } }
        try SyntheticNSD(smallConfig(seed: 3)).write(to: first)
        try SyntheticNSD(smallConfig(seed: 3)).write(to: second)
        try SyntheticNSD(smallConfig(seed: 4)).write(to: third)
        let files = FileManager.default.enumerator(atPath: first.path)!.compactMap { $0 as? String }
            .filter { !$0.hasSuffix("/") && (try? first.appendingPathComponent($0).resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true }
        #expect(files.count == 2 * (4 + 1 + 2) + 5)  // per subject: 4 train + 1 test tar, betas, mask; + 5 shared
        for file in files {
            #expect(try Data(contentsOf: first.appendingPathComponent(file)) == Data(contentsOf: second.appendingPathComponent(file)),
                    "\(file) differs between two runs with seed 3")
        }
        let betas = NSDLayout(root: first).betas(1).path.replacingOccurrences(of: first.path + "/", with: "")
        #expect(try Data(contentsOf: first.appendingPathComponent(betas)) != Data(contentsOf: third.appendingPathComponent(betas)))
    }

    @Test func theOracleIsWellAboveChanceAndBelowOne() throws {
        var independent = SyntheticNSDConfig()
        independent.preset = .independent
        let world = try SyntheticNSD(independent)
        let oracle = world.oracleTop1(pools: 10)
        #expect(oracle.poolSize == 300 && oracle.chance == 1.0 / 300)
        #expect(oracle.singleTrial > 0.4)
        #expect(oracle.singleTrial < oracle.singleTrialCeiling)
        #expect(oracle.singleTrialCeiling < 0.75)  // 300 of 900 trials: repeats of an image often share a pool
        #expect(oracle.averaged > oracle.singleTrial && oracle.averaged <= 1)
        var noisy = independent
        noisy.noise = 30
        #expect(try SyntheticNSD(noisy).oracleTop1(pools: 10).singleTrial < oracle.singleTrial / 4)
    }

    @Test func infoFileRecordsSeedSizesNoiseAndOracle() throws {
        let root = temporaryRoot()
        defer { try? FileManager.default.removeItem(at: root) }
        let info = try SyntheticNSD(smallConfig()).write(to: root)
        let json = try JSONSerialization.jsonObject(with: Data(contentsOf: root.appendingPathComponent("synthetic_info.json"))) as! [String: Any]
        let config = json["config"] as! [String: Any]
        #expect(config["seed"] as? Int == 7 && config["noise"] as? Double == 6 && config["test_images"] as? Int == 20)
        let oracle = json["oracle"] as! [String: Any]
        #expect(oracle["pool_size"] as? Int == 60)
        #expect(abs((oracle["top1_single_trial"] as! Double) - info.oracle.singleTrial) < 1e-12)
        #expect(info.oracle.singleTrial > 3 * info.oracle.chance)
        #expect(oracle["chance"] as? Double == 1.0 / 60)
        #expect((json["subjects"] as! [Any]).count == 2)
    }

    @Test func configDecodesSnakeCaseKeysAndKeepsDefaultsForTheRest() throws {
        let json = #"{"seed": 5, "test_images": 40, "trials_per_session": 30, "noise": 2.5, "preset": "independent", "session_offset": 0.5}"#
        let config = try JSONDecoder().decode(SyntheticNSDConfig.self, from: Data(json.utf8))
        var expected = SyntheticNSDConfig()
        #expect(expected.preset == .sharedAnatomy)
        expected.preset = .independent
        expected.sessionOffset = 0.5
        expected.seed = 5
        expected.testImages = 40
        expected.trialsPerSession = 30
        expected.noise = 2.5
        #expect(config == expected)
        #expect(try JSONDecoder().decode(SyntheticNSDConfig.self, from: JSONEncoder().encode(smallConfig())) == smallConfig())
        let encoded = try JSONSerialization.jsonObject(with: JSONEncoder().encode(expected)) as! [String: Any]
        #expect(encoded["preset"] as? String == "independent" && encoded["correlated_noise"] as? Double == 0.5)
        #expect(dataErrorMessage { _ = try JSONDecoder().decode(SyntheticNSDConfig.self, from: Data(#"{"preset": "shared"}"#.utf8)) }
            == "synthetic NSD: preset must be one of shared-anatomy, independent, got 'shared'")
    }

    @Test func invalidSizesAreRefusedWithTheirName() {
        var c = SyntheticNSDConfig()
        c.subjects = 9
        #expect(dataErrorMessage { _ = try SyntheticNSD(c) }
            == "synthetic NSD: subjects must be 1...8 (NSD names subj01 ... subj08), got 9")
        c = SyntheticNSDConfig()
        c.voxels = 10
        #expect(dataErrorMessage { _ = try SyntheticNSD(c) } == "synthetic NSD: voxels must be at least 50, got 10")
        c = SyntheticNSDConfig()
        c.correlatedNoise = 1
        #expect(dataErrorMessage { _ = try SyntheticNSD(c) }
            == "synthetic NSD: correlated_noise must be in [0, 1) (some noise must be white), got 1.0")
    }

    // MARK: data check

    @Test func dataCheckCountsASyntheticRootAndFindsABrokenMask() throws {
        let root = temporaryRoot()
        defer { try? FileManager.default.removeItem(at: root) }
        let world = try SyntheticNSD(smallConfig())
        try world.write(to: root)
        let check = DataRootCheck(root: root)
        #expect(check.problems == [])
        #expect(check.subjects == world.subjects.map {
            DataRootCheck.Subject(subject: $0.number, voxels: $0.voxelCount, sessions: 4, trainTrials: 30,
                                  testTrials: 60, testImages: 20, repeats: [3: 20])
        })
        #expect(check.images == 80 && check.targetsShape == [80, 4, 8] && check.sharedImages == 20)
        #expect(check.report.contains("subj01   \(world.subjects[0].voxelCount)"))
        #expect(check.report.hasSuffix("problems: none"))

        let layout = NSDLayout(root: root)
        let mask = world.subjects[1].mask.clone()
        let first = world.subjects[1].voxelIndices.toArray(Int64.self).prefix(3).map(Int.init)
        mask[first[0], first[1], first[2]] = Tensor(scalar: 0, dtype: .int16)
        try NIfTIWriter.write(mask, to: layout.mask(2))
        let v = world.subjects[1].voxelCount
        #expect(DataRootCheck(root: root).problems == [
            "\(layout.mask(2).path): the mask has \(v - 1) voxels equal to 1 but \(layout.betas(2).path) dataset "
                + "'betas' has \(v) columns; expected one column per mask voxel",
        ])
        try FileManager.default.removeItem(at: layout.targetsHDF5)
        let missing: String = "\(root.path): no CLIP targets (expected clip_targets.hdf5 with dataset 'targets' or "
            + "clip_targets.safetensors with key 'targets'); make them from the images with `voxelformer clip --images "
            + "\(root.path)/coco_images_224_float16.hdf5 --weights VIT_BIGG_14.safetensors --out "
            + "\(root.path)/clip_targets.hdf5` (docs/clip.md)"
        #expect(DataRootCheck(root: root).problems.first == missing)
    }

    // MARK: writers

    @Test func hdf5WriterStoresTheDTypesH5pyUses() throws {
        let url = temporaryRoot().appendingPathExtension("hdf5")
        defer { try? FileManager.default.removeItem(at: url) }
        let file = try HDF5Writer(creating: url)
        let values = Tensor([0.5, -2, 1e-3, 65504], shape: [2, 2])
        try file.write("f16", values, dtype: .float16)
        try file.write("f32", values, dtype: .float32)
        try file.write("f64", values)
        try file.write("i64", Tensor([Int64(-3), 1 << 40]))
        try file.write("b", Tensor([true, false, true]))
        try file.createDataset("rows", dtype: .float32, shape: [4, 2])
        try file.write("rows", rows: Tensor([Float(1), 2, 3, 4], shape: [2, 2]), at: 2)
        #expect(dataErrorMessage { try file.write("rows", rows: Tensor([Float(1), 2], shape: [1, 2]), at: 4) }
            == "\(url.path): dataset 'rows' of shape [4, 2] cannot take rows of shape [1, 2] at row 4")
        #expect(dataErrorMessage { try file.write("i8", Tensor([Int8(1)])) }
            == "\(url.path): dataset 'i8': HDF5 writing supports float16, float32, float64, int64 and bool, not int8")
        try file.close()

        let back = try HDF5File(url)
        #expect(try back.dataset("f16").dtype == .float16)
        #expect(try back.dataset("f16").read().to(.float64).toArray(Double.self) == values.to(.float16).to(.float64).toArray(Double.self))
        #expect(try back.dataset("f32").read().toArray(Float.self) == [0.5, -2, 1e-3, 65504])
        #expect(try back.dataset("f64").read().toArray(Double.self) == [0.5, -2, 1e-3, 65504])
        #expect(try back.dataset("i64").read().toArray(Int64.self) == [-3, 1 << 40])
        let flags = try back.dataset("b")
        #expect(flags.dtype == .bool && flags.shape == [3])
        #expect(try flags.read().to(.int64).toArray(Int64.self) == [1, 0, 1])
        #expect(try back.dataset("rows").read().toArray(Float.self) == [0, 0, 0, 0, 1, 2, 3, 4])
    }

    @Test func niftiWriterRoundTripsValuesAndA1Point8MillimetreAffine() throws {
        let url = temporaryRoot().appendingPathExtension("nii.gz")
        defer { try? FileManager.default.removeItem(at: url) }
        let volume = (Tensor.arange(2 * 3 * 4).reshape([2, 3, 4]).remainder(3) - 1).to(.int16)
        try NIfTIWriter.write(volume, to: url)
        let bytes = try Data(contentsOf: url)
        #expect(bytes.prefix(2) == Data([0x1f, 0x8b]))  // gzip
        let image = try NIfTIImage(url)
        #expect(image.version == 1 && image.shape == [2, 3, 4] && image.datatypeCode == 4)
        #expect(image.data.toArray(Int16.self) == volume.toArray(Int16.self))
        #expect(image.affine == [[1.8, 0, 0, -0.9], [0, 1.8, 0, -1.8], [0, 0, 1.8, -2.7], [0, 0, 0, 1]].map { $0.map { Double(Float($0)) } })
    }
}
