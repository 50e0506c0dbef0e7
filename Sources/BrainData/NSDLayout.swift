import Foundation

/// The paths of an NSD data root as MindEye2's preprocessed release lays it out (and as the synthetic
/// generator writes it). Nothing here touches a file except the listings `subjects` and `trainShards`.
public struct NSDLayout: Sendable {
    public let root: URL

    public init(root: URL) { self.root = root }

    private func url(_ path: String) -> URL { root.appendingPathComponent(path) }
    private static func subj(_ s: Int) -> String { String(format: "subj%02d", s) }

    /// `betas_all_subj0S_fp32_renorm.hdf5`, dataset `betas` (trials, voxels) float32.
    public func betas(_ subject: Int) -> URL { url("betas_all_\(Self.subj(subject))_fp32_renorm.hdf5") }
    /// `coco_images_224_float16.hdf5`, dataset `images` (73000, 3, H, W) float16; row = 0-based image id.
    public var images: URL { url("coco_images_224_float16.hdf5") }
    /// `shared1000.npy`, bool (73000,).
    public var shared1000: URL { url("shared1000.npy") }
    /// `COCO_73k_subj_indices.hdf5`, datasets `subj01..subj08`.
    public var subjectIndices: URL { url("COCO_73k_subj_indices.hdf5") }
    /// The nsdgeneral ROI (values -1/0/1; the ROI is the voxels equal to 1).
    public func mask(_ subject: Int) -> URL {
        url("nsddata/ppdata/\(Self.subj(subject))/func1pt8mm/roi/nsdgeneral.nii.gz")
    }
    /// `wds/subj0S/train/`, one tar per session.
    public func trainFolder(_ subject: Int) -> URL { url("wds/\(Self.subj(subject))/train") }
    /// `wds/subj0S/new_test/0.tar`: every trial of the shared test images.
    public func newTest(_ subject: Int) -> URL { url("wds/\(Self.subj(subject))/new_test/0.tar") }
    /// `wds/subj0S/test/0.tar`: the older, smaller test set.
    public func oldTest(_ subject: Int) -> URL { url("wds/\(Self.subj(subject))/test/0.tar") }

    /// CLIP targets, by this project's convention (the synthetic generator writes the same):
    /// `clip_targets.hdf5` with dataset `targets`, shape (num_images, tokens, dim), float16 or float32,
    /// row = 0-based 73k image id (for real NSD: (73000, 256, 1664) ViT-bigG/14 patch tokens, or only
    /// the first N ids). The same tensor under key `targets` in `clip_targets.safetensors` is the alternative.
    public var targetsHDF5: URL { url("clip_targets.hdf5") }
    public var targetsSafetensors: URL { url("clip_targets.safetensors") }
    public static let targetsKey = "targets"

    /// The problem reported when neither targets file exists, with how to make one from the images.
    public var missingTargetsMessage: String {
        "\(root.path): no CLIP targets (expected clip_targets.hdf5 with dataset 'targets' or clip_targets.safetensors "
            + "with key 'targets'); make them from the images with `voxelformer clip --images \(images.path) --weights "
            + "VIT_BIGG_14.safetensors --out \(targetsHDF5.path)` (docs/clip.md)"
    }

    /// Subjects whose betas file is present, ascending.
    public func subjects() -> [Int] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? []
        return names.compactMap { name -> Int? in
            guard name.hasPrefix("betas_all_subj"), name.hasSuffix("_fp32_renorm.hdf5") else { return nil }
            return Int(name.dropFirst("betas_all_subj".count).prefix { $0.isNumber })
        }.sorted()
    }

    /// Subjects with shards (`wds/subj0S`) or a mask (`nsddata/ppdata/subj0S`), whether or not their betas
    /// file is present: `data check` reports those without one instead of leaving them out.
    public func subjectsWithData() -> [Int] {
        let fm = FileManager.default
        let folders = ["wds", "nsddata/ppdata"].flatMap { (try? fm.contentsOfDirectory(atPath: url($0).path)) ?? [] }
        return Set(folders.compactMap { name -> Int? in
            guard name.hasPrefix("subj"), name.count > 4, name.dropFirst(4).allSatisfy(\.isNumber) else { return nil }
            return Int(name.dropFirst(4))
        }).sorted()
    }

    /// The training shards `train/{k}.tar` in session order (numeric, so `10.tar` follows `9.tar`).
    public func trainShards(_ subject: Int) -> [URL] {
        let folder = trainFolder(subject)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
        return names.compactMap { name -> (Int, URL)? in
            guard name.hasSuffix(".tar"), let k = Int(name.dropLast(4)) else { return nil }
            return (k, folder.appendingPathComponent(name))
        }.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// Sessions = the number of training shards.
    public func sessions(_ subject: Int) -> Int { trainShards(subject).count }

    /// `new_test/0.tar` when present, else `test/0.tar`, else nil.
    public func testShard(_ subject: Int) -> URL? {
        let fm = FileManager.default
        if fm.fileExists(atPath: newTest(subject).path) { return newTest(subject) }
        if fm.fileExists(atPath: oldTest(subject).path) { return oldTest(subject) }
        return nil
    }
}
