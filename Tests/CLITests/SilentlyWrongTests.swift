import Foundation
import Testing

/// The cases `scripts/hostile/hostile.py` still found silently wrong or unclear on main 734a3a9, one or two
/// per class of fix, each with the exact message the binary prints.
@Suite(.serialized) struct SilentlyWrongTests {
    let fx: CLIFixture

    init() throws { fx = try CLIFixture.get() }

    func train(_ extra: [String], runDir: URL) -> [String] {
        ["train", "--config", fx.config.path, "--run-dir", runDir.path] + extra
    }

    func expectMessage(_ r: CLIResult, _ message: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let failedCleanly = r.status != 0 && !r.signalled && !r.timedOut
        #expect(failedCleanly, "\(r.summary)", sourceLocation: sourceLocation)
        #expect(r.errorLine == "Error: " + message, sourceLocation: sourceLocation)
    }

    // MARK: 1. data root

    /// A session shard emptied to 0 bytes used to train on the other sessions, exit 0.
    @Test func anEmptyTrainShardStopsTrainingAndDataCheck() throws {
        let dir = try fx.scratch("empty-shard")
        let root = try fx.copyOfRoot(in: dir)
        let shard = root.appendingPathComponent("wds/subj01/train/0.tar")
        try Data().write(to: shard)
        let message = "\(shard.path): an empty file; expected webdataset samples (sample<digits>.behav.npy, ...)"
        let r = try CLI.run(train(["data.root=\(root.path)"], runDir: dir.appendingPathComponent("run")))
        #expect(r.errorLine.hasSuffix(message), "\(r.summary)")
        #expect(r.status == 1 && !r.signalled)
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("run/checkpoint.safetensors").path))
        let check = try CLI.run(["data", "check", root.path])
        #expect(check.status == 1 && !check.signalled)
        #expect(check.stdout.contains("  - \(message)"), "\(check.stdout.suffix(600))")
    }

    // MARK: 2. config

    /// `run_dir=` used to train into ./runs/default.
    @Test func anEmptyRunFolderIsRefused() throws {
        let dir = try fx.scratch("empty-run-dir")
        let r = try CLI.run(["train", "--config", fx.config.path, "run_dir="], in: dir)
        expectMessage(r, "run_dir: expected a string, found nothing")
        let flag = try CLI.run(["train", "--config", fx.config.path, "--run-dir", ""], in: dir)
        expectMessage(flag, "--run-dir: expected a folder, got an empty path")
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).isEmpty, "nothing may be written")
    }

    @Test func aDuplicateKeyNamesBothLines() throws {
        let dir = try fx.scratch("duplicate")
        let config = dir.appendingPathComponent("dup.yaml")
        let text = try String(contentsOf: fx.config, encoding: .utf8).replacingOccurrences(of: "  epochs: 3\n",
                                                                                         with: "  epochs: 3\n  epochs: 4\n")
        try text.write(to: config, atomically: true, encoding: .utf8)
        let line = text.split(separator: "\n", omittingEmptySubsequences: false).firstIndex { $0 == "  epochs: 3" }! + 1
        let r = try CLI.run(["train", "--config", config.path, "--run-dir", dir.appendingPathComponent("run").path])
        expectMessage(r, "\(config.path): duplicate key 'train.epochs' (lines \(line) and \(line + 1)); give each key once")
    }

    // MARK: 3. checkpoints

    @Test func embedAndEvaluateRefuseNaNWeightsNamingTheFile() throws {
        let (dir, checkpoint) = try fx.copyOfCheckpoint("nan-weights")
        try editSafetensors(checkpoint) { header, data in
            for (key, value) in header where key.hasPrefix("model.") {
                let entry = value as! [String: Any]
                guard entry["dtype"] as? String == "F32" else { continue }
                let range = (entry["data_offsets"] as! [Any]).map { ($0 as! NSNumber).intValue }
                for o in stride(from: range[0], to: range[1], by: 4) { data.replaceSubrange(o..<(o + 4), with: [0, 0, 0xc0, 0x7f]) }
            }
        }
        let r = try CLI.run(["embed", "--checkpoint", checkpoint.path, "--subject", "1", "--out",
                             dir.appendingPathComponent("emb").path, "data.root=\(fx.root.path)"])
        #expect(r.errorLine.hasPrefix("Error: \(checkpoint.path): the model: "), "\(r.summary)")
        #expect(r.errorLine.contains(" weight tensors hold NaN or infinite values ("), "\(r.summary)")
        #expect(r.status == 1 && !r.signalled)
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("emb").path))
        let evaluated = try CLI.run(["evaluate", "--checkpoint", checkpoint.path, "data.root=\(fx.root.path)"])
        #expect(evaluated.errorLine.hasPrefix("Error: \(checkpoint.path): the model: "), "\(evaluated.summary)")
        #expect(evaluated.status == 1 && !evaluated.signalled)
    }

    /// A missing weight is named as the file spells it (model.*), with the file.
    @Test func aMissingWeightIsNamedWithTheFile() throws {
        let checkpoint = try fx.copyOfCheckpoint("missing-weight").checkpoint
        var dropped = ""
        try editSafetensors(checkpoint) { header, _ in
            dropped = header.keys.filter { $0.hasPrefix("model.") && $0.hasSuffix("weight") }.sorted()[0]
            header[dropped + "_renamed"] = header.removeValue(forKey: dropped)
        }
        let r = try CLI.run(["evaluate", "--checkpoint", checkpoint.path, "data.root=\(fx.root.path)"])
        expectMessage(r, "\(checkpoint.path): the weights do not fit the model its config describes: 1 missing "
            + "(\(dropped)); 1 unexpected (\(dropped)_renamed)")
    }

    /// A checkpoint whose config says other widths than its weights: the key and both values, in one line.
    @Test func otherWidthsNameTheKeyAndBothValues() throws {
        let checkpoint = try fx.copyOfCheckpoint("other-widths").checkpoint
        var yaml = ""
        try editSafetensors(checkpoint) { header, _ in
            var meta = header["__metadata__"] as! [String: String]
            yaml = meta["config"]!.replacingOccurrences(of: "encoder_hidden_dim: 16", with: "encoder_hidden_dim: 32")
            meta["config"] = yaml
            header["__metadata__"] = meta
        }
        #expect(yaml.contains("encoder_hidden_dim: 32"))
        let r = try CLI.run(["evaluate", "--checkpoint", checkpoint.path, "data.root=\(fx.root.path)"])
        #expect(r.errorLine.hasPrefix("Error: \(checkpoint.path): the weights do not fit the model its config describes: "
            + "model.encoder_hidden_dim is 32 in the config, but the weights were trained with 16; "), "\(r.summary)")
        #expect(r.status == 1 && !r.signalled && r.stderr.split(separator: "\n").count <= 3)
    }

    // MARK: 4. npy inputs

    func evaluate(_ dir: URL, brain: [Int], targets: [Int]? = nil, extra: [String] = []) throws -> (CLIResult, String) {
        let b = dir.appendingPathComponent("brain.npy"), t = dir.appendingPathComponent("targets.npy")
        for (url, shape) in [(b, brain), (t, targets ?? brain)] {
            try writeNpy((0..<shape.reduce(1, *)).map { Float(sin(Double($0) * 0.37)) }, shape: shape, to: url)
        }
        let r = try CLI.run(["evaluate", "--config", fx.config.path, "--brain", b.path, "--targets", t.path,
                             "--pools", "2", "--pool-size", "10"] + extra)
        return (r, b.path)
    }

    @Test func savedEmbeddingsOfTheWrongShapeOrTooFewRows() throws {
        let dir = try fx.scratch("shapes")
        var (r, brain) = try evaluate(dir, brain: [60])
        expectMessage(r, "\(brain): shape [60]; expected (N, tokens, dim) or (N, dim) embeddings, one row per trial")
        (r, brain) = try evaluate(dir, brain: [60, 4, 9])
        expectMessage(r, "\(brain): shape [60, 4, 9] has width 9; expected model.clip_emb_dim = 8 of \(fx.config.path)")
        (r, brain) = try evaluate(dir, brain: [60, 5, 8])
        expectMessage(r, "\(brain): shape [60, 5, 8] has 5 tokens; expected model.clip_seq_dim = 4 of \(fx.config.path)")
        // two rows scored as one pool of two used to print a score against a chance of 1/2, not 1/10
        (r, brain) = try evaluate(dir, brain: [2, 4, 8])
        expectMessage(r, "--pool-size 10 (eval.pool_size) is larger than the 2 rows of \(brain); give --pool-size 2 "
            + "or fewer (chance is 1/pool size)")
    }

    @Test(arguments: [([Float](repeating: .nan, count: 60), [60], "value nan at row 0; expected integer image ids"),
                      ([Float](repeating: -1, count: 60), [60], "image id -1 at row 0; expected ids from 0 up"),
                      ([Float](repeating: 0.5, count: 60), [60], "value 0.5 at row 0; expected integer image ids"),
                      ([Float](repeating: 0, count: 120), [60, 2], "shape [60, 2]; expected (60,), one image id per row of BRAIN"),
                      ([Float](repeating: 0, count: 7), [7], "shape [7]; expected (60,), one image id per row of BRAIN")])
    func badImageIdsNameTheFile(values: [Float], shape: [Int], message: String) throws {
        let dir = try fx.scratch("ids")
        let ids = dir.appendingPathComponent("ids.npy")
        try writeNpy(values, shape: shape, to: ids)
        let (r, brain) = try evaluate(dir, brain: [60, 4, 8], extra: ["--image-ids", ids.path, "--protocol", "output-averaged"])
        expectMessage(r, "\(ids.path): " + message.replacingOccurrences(of: "BRAIN", with: brain))
    }
}

/// Rewrites a safetensors file's JSON header and data (8-byte little-endian header length, header, data).
func editSafetensors(_ url: URL, _ edit: (inout [String: Any], inout Data) throws -> Void) throws {
    let raw = try Data(contentsOf: url)
    let n = Int(raw.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
    var header = try JSONSerialization.jsonObject(with: raw.subdata(in: 8..<(8 + n))) as! [String: Any]
    var data = raw.subdata(in: (8 + n)..<raw.count)
    try edit(&header, &data)
    var text = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
    text.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - text.count % 8) % 8))
    var out = Data((0..<8).map { UInt8(truncatingIfNeeded: UInt64(text.count) >> (8 * UInt64($0))) })
    out.append(text)
    out.append(data)
    try out.write(to: url)
}
