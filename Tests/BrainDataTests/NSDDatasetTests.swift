import Foundation
import Testing
import Torch
@testable import BrainData

@Suite struct NSDDatasetTests {
    let root = fixture("nsd")

    func expectedCoordinates(_ subject: String) throws -> [Int] {
        ints((try fixtureJSON("nsd.json")[subject] as! [String: Any])["coords"])
    }

    @Test func findsSubjectsAndSessionsFromTheFilesPresent() throws {
        let ds = try NSDDataset(root: root)
        #expect(ds.subjects == [1, 2])
        #expect(ds.sessions(1) == 2)
        #expect(ds.sessions(2) == 1)
        #expect(ds.layout.trainShards(1).map(\.lastPathComponent) == ["0.tar", "1.tar"])
        #expect(ds.layout.testShard(1)?.path == root.appendingPathComponent("wds/subj01/new_test/0.tar").path)
        #expect(ds.layout.testShard(2)?.path == root.appendingPathComponent("wds/subj02/test/0.tar").path)
    }

    @Test func trainTrialsMapImagesToBetasRowsInShardOrder() throws {
        let trials = try NSDDataset(root: root).trainTrials(1)
        #expect(trials.map(\.image) == [3, 0, 4, 1, 2, 6, 5, 9])
        #expect(trials.map(\.row) == [1, 0, 3, 4, 9, 6, 10, 7])
        #expect(trials.map(\.session) == [1, 1, 1, 1, 2, 2, 2, 2])
        #expect(trials.map(\.key) == (0..<8).map { String(format: "sample%09d", $0) })
        #expect(trials.allSatisfy { $0.subject == 1 })
    }

    @Test func testTrialsPreferNewTestAndGroupRepeatsByImage() throws {
        let ds = try NSDDataset(root: root)
        let one = try ds.subject(1)
        #expect(one.testTrials.map(\.row) == [2, 5, 8, 11])
        #expect(one.testImages.map(\.image) == [7, 8])
        #expect(one.testImages.map { $0.trials.map(\.row) } == [[2, 8], [5, 11]])
        let two = try ds.subject(2)  // only the older test/0.tar
        #expect(two.testImages.map(\.image) == [8])
        #expect(two.testImages[0].trials.map(\.row) == [5, 2])
        #expect(try ds.sharedImages() == [7, 8])
    }

    @Test func betasColumnsFollowTheMaskVoxelOrder() throws {
        let ds = try NSDDataset(root: root)
        for (s, name) in [(1, "subj01"), (2, "subj02")] {
            let subject = try ds.subject(s)
            let coords = try expectedCoordinates(name)
            #expect(subject.coordinates.shape == [coords.count / 3, 3])
            #expect(subject.coordinates.toArray(Int64.self).map(Int.init) == coords)
            #expect(subject.voxelCount == coords.count / 3)
            #expect(subject.millimetres.toArray(Float.self) == coords.map { Float($0) * 1.8 })
        }
        let one = try ds.subject(1)
        #expect(one.betas.shape == [12, one.voxelCount])
        #expect(one.betas.dtype == .float32)
        // betas[row, column] = row * 1000 + column in the fixture
        let v = one.voxels([one.trainTrials[4], one.trainTrials[0]])
        #expect(v.shape == [2, one.voxelCount])
        #expect(v.toArray(Float.self) == [9, 1].flatMap { r in (0..<one.voxelCount).map { Float(r * 1000 + $0) } })
    }

    @Test func keepsBetasInASmallerDtypeOnRequest() throws {
        let ds = try NSDDataset(root: root, options: NSDOptions(betasDType: .bfloat16))
        let one = try ds.subject(1)
        #expect(one.betas.dtype == .bfloat16)
        let v = one.voxels([one.trainTrials[1]])  // row 0: values 0 ..< V, exact in bfloat16
        #expect(v.dtype == .float32)
        #expect(v.toArray(Float.self) == (0..<one.voxelCount).map(Float.init))
    }

    @Test func readsTargetsAndImagesByImageId() throws {
        let ds = try NSDDataset(root: root)
        let t = try ds.targets([9, 0, 3])
        #expect(t.shape == [3, 2, 3])
        #expect(t.dtype == .float32)
        #expect(t.toArray(Float.self) == [9, 0, 3].flatMap { id in (0..<6).map { Float(id * 6 + $0) } })
        let images = try ds.images([1, 4])
        #expect(images.shape == [2, 3, 4, 4])
        #expect(images.dtype == .float16)
        #expect(images[0, 0, 0, 0].item() == 0.0625)
        #expect(images[1, 2, 0, 0].item() == 0.25)
    }

    @Test func missingRootFilesAndTargetsAreDataErrors() throws {
        let missing = fixture("no_such_root")
        #expect(dataErrorMessage { _ = try NSDDataset(root: missing) } == "\(missing.path): no such data root")
        let empty = fixture("tar")
        #expect(dataErrorMessage { _ = try NSDDataset(root: empty) }
            == "\(empty.path): no subjects (expected betas_all_subj0S_fp32_renorm.hdf5 files)")
        let ds = try NSDDataset(root: root)
        #expect(dataErrorMessage { _ = try ds.subject(3) }
            == "\(root.path)/betas_all_subj03_fp32_renorm.hdf5: no such file (expected an HDF5 file)")
        #expect(dataErrorMessage { _ = try ds.targets([10]) }
            == "\(root.path)/clip_targets.hdf5: dataset 'targets' has 10 rows; row 10 is out of range")
    }
}

/// Data roots assembled in a temporary folder from the fixture files, for the alternatives and failures
/// that the tiny root does not show.
@Suite struct NSDRootVariantTests {
    func makeRoot(_ files: [String: String]) throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("braindata-root-\(UUID())")
        for (destination, source) in files {
            let target = root.appendingPathComponent(destination)
            try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true)
            try FileManager.default.copyItem(at: fixture(source), to: target)
        }
        return root
    }

    @Test func readsTargetsFromSafetensorsWhenThereIsNoHDF5File() throws {
        let root = try makeRoot(["betas_all_subj02_fp32_renorm.hdf5": "nsd/betas_all_subj02_fp32_renorm.hdf5",
                                 "clip_targets.safetensors": "targets/clip_targets.safetensors"])
        defer { try? FileManager.default.removeItem(at: root) }
        let t = try NSDDataset(root: root).targets([2, 9])
        #expect(t.shape == [2, 2, 3])
        let expected: [Float] = [2, 9].flatMap { (id: Int) -> [Float] in (0..<6).map { Float(id * 6 + $0) + 0.5 } }
        #expect(t.toArray(Float.self) == expected)
        #expect(dataErrorMessage { _ = try NSDDataset(root: root).targets([10]) }
            == "\(root.path)/clip_targets.safetensors: tensor 'targets' has 10 rows; row 10 is out of range")
    }

    @Test func safetensorsTargetsUnderAnotherKeyAreADataError() throws {
        let root = try makeRoot(["betas_all_subj02_fp32_renorm.hdf5": "nsd/betas_all_subj02_fp32_renorm.hdf5",
                                 "clip_targets.safetensors": "targets/wrong_key/clip_targets.safetensors"])
        defer { try? FileManager.default.removeItem(at: root) }
        #expect(dataErrorMessage { _ = try NSDDataset(root: root).targets([0]) }
            == "\(root.path)/clip_targets.safetensors: no tensor 'targets' (keys present: clip)")
    }

    @Test func missingTargetsMaskAndShardsAreDataErrors() throws {
        let root = try makeRoot(["betas_all_subj02_fp32_renorm.hdf5": "nsd/betas_all_subj02_fp32_renorm.hdf5"])
        defer { try? FileManager.default.removeItem(at: root) }
        let ds = try NSDDataset(root: root)
        let missing: String = "\(root.path): no CLIP targets (expected clip_targets.hdf5 with dataset 'targets' or "
            + "clip_targets.safetensors with key 'targets'); make them from the images with `voxelformer clip --images "
            + "\(root.path)/coco_images_224_float16.hdf5 --weights VIT_BIGG_14.safetensors --out "
            + "\(root.path)/clip_targets.hdf5` (docs/clip.md)"
        #expect(dataErrorMessage { _ = try ds.targets([0]) } == missing)
        #expect(dataErrorMessage { _ = try ds.subject(2) }
            == "\(root.path)/nsddata/ppdata/subj02/func1pt8mm/roi/nsdgeneral.nii.gz: no such file (expected a NIfTI image)")
        #expect(dataErrorMessage { _ = try ds.trainTrials(2) }
            == "\(root.path)/wds/subj02/train: no training shards (expected {k}.tar per session)")
        #expect(dataErrorMessage { _ = try ds.testTrials(2) }
            == "\(root.path)/wds/subj02/new_test/0.tar: no such file (nor \(root.path)/wds/subj02/test/0.tar)")
        #expect(dataErrorMessage { _ = try ds.sharedImages() }
            == "\(root.path)/shared1000.npy: no such file (expected bool (73000,))")
    }

    /// A 2-D shared1000.npy and a 1-D safetensors targets tensor are errors naming the file, before any
    /// index reaches libtorch.
    @Test func sharedFlagsAndTargetsOfTheWrongRankAreDataErrors() throws {
        let copy = try temporaryCopy(of: "nsd")
        defer { try? FileManager.default.removeItem(at: copy.deletingLastPathComponent()) }
        let shared = copy.appendingPathComponent("shared1000.npy")
        try Npy.write(Tensor([Bool](repeating: false, count: 10), shape: [2, 5]), to: shared)
        #expect(dataErrorMessage { _ = try NSDDataset(root: copy).sharedImages() }
            == "\(shared.path): shape [2, 5]; expected bool (73000,)")
        try FileManager.default.removeItem(at: copy.appendingPathComponent("clip_targets.hdf5"))
        let targets = copy.appendingPathComponent("clip_targets.safetensors")
        try Safetensors.write(["targets": Tensor.zeros([10])], to: targets)
        #expect(dataErrorMessage { _ = try NSDDataset(root: copy).subject(1) }
            == "\(targets.path): 'targets' has shape [10]; expected (images, tokens, dim) with at least one image")
    }
}
