import ArgumentParser
import Foundation
import Torch
import Training
import VoxelFormer

struct Retrieve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print the top-k images retrieved for given test trials of a subject.",
        discussion: "voxelformer retrieve --checkpoint runs/demo/checkpoint.safetensors --subject 1 --trials 0,1,2 --top-k 5"
    )

    @OptionGroup var model: ModelOptions
    @Option(help: "The subject whose test trials are queried.")
    var subject: Int
    @Option(help: "Comma-separated positions among the subject's test trials.")
    var trials: String = "0"
    @Option(help: "How many images to list per trial.")
    var topK = 5

    func validate() throws {
        if topK < 1 { throw ValidationError("--top-k: must be at least 1, got \(topK)") }
    }

    func run() throws {
        Torch.initialise()
        let loaded = try doing("loading \(model.checkpoint)") { try model.load() }
        let data = try doing("loading subject \(subject)'s data") { try loaded.data(subject: subject) }
        let test = try doing("loading subject \(subject)'s test trials") { try data.testSet(subject: subject) }
        let m = loaded.config.model
        guard test.targets.ndim == 3, test.targets.size(1) == m.clipSeqDim, test.targets.size(2) == m.clipEmbDim else {
            throw ValidationError("subject \(subject): the test targets have shape \(test.targets.shape), but the model predicts "
                + "(N, \(m.clipSeqDim), \(m.clipEmbDim)) (model.clip_seq_dim x model.clip_emb_dim)")
        }
        let positions = try trials.split(separator: ",").map { text -> Int in
            guard let i = Int(text.trimmingCharacters(in: .whitespaces)), (0..<test.imageIDs.count).contains(i) else {
                throw ValidationError("--trials: '\(text)' is not a test trial position in 0..<\(test.imageIDs.count)")
            }
            return i
        }
        // candidates: every distinct test image, once
        var candidates: [Int] = [], firstRow: [Int] = []
        for (row, id) in test.imageIDs.enumerated() where !candidates.contains(id) {
            candidates.append(id)
            firstRow.append(row)
        }
        try doing("ranking subject \(subject)'s test trials") {
            let targets = F.normalize(test.targets.indexSelect(0, Tensor(firstRow)).flatten(1), dim: 1)
            let coords = try data.coordinates(subject: subject)
            let k = min(topK, candidates.count)
            print("subject \(subject): top-\(k) among \(candidates.count) test images")
            for p in positions {
                let clip = Torch.noGrad { loaded.model(test.voxels[p..<(p + 1)], coords: coords).clipVoxels }
                let scores = F.normalize(clip.flatten(1), dim: 1).matmul(targets.T).squeeze(0)
                let (values, indices) = scores.topk(k)
                let ranked = zip(indices.toArray(Int64.self), values.toArray(Float.self)).map { i, v in
                    let id = candidates[Int(i)]
                    return "\(id)\(id == test.imageIDs[p] ? "*" : "") (\(String(format: "%.3f", v)))"
                }
                print("trial \(p) (image \(test.imageIDs[p])): " + ranked.joined(separator: ", "))
            }
            print("* marks the image the trial showed")
        }
    }
}
