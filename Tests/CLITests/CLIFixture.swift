import Foundation

/// A small synthetic data root and a tiny trained run, made once per test process by the binary itself.
struct CLIFixture: Sendable {
    let folder: URL
    let root: URL
    let config: URL
    let run: URL
    var checkpoint: URL { run.appendingPathComponent("checkpoint.safetensors") }

    static let shared: Result<CLIFixture, any Error> = Result { try make() }

    static func get() throws -> CLIFixture { try shared.get() }

    struct Failed: Error, CustomStringConvertible {
        let description: String
    }

    static func make() throws -> CLIFixture {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("voxelformer-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        fixtureFolder = folder.path
        atexit { if let path = fixtureFolder { try? FileManager.default.removeItem(atPath: path) } }
        let root = folder.appendingPathComponent("root")
        let synth = try CLI.run(["synth", "--out", root.path, "--subjects", "2", "--images", "40", "--test-images", "20",
                                 "--test-repeats", "2", "--trials-per-session", "20", "--voxels", "60", "--tokens", "4",
                                 "--token-dim", "8", "--image-size", "8", "--latent-dim", "4", "--noise", "1"],
                                timeout: 120)
        guard synth.status == 0 else { throw Failed(description: "synth failed: \(synth.summary)") }
        let config = folder.appendingPathComponent("tiny.yaml")
        try tinyConfig(root: root).write(to: config, atomically: true, encoding: .utf8)
        let run = folder.appendingPathComponent("run")
        let train = try CLI.run(["train", "--config", config.path, "--run-dir", run.path], timeout: 120)
        guard train.status == 0 else { throw Failed(description: "train failed: \(train.summary)") }
        return CLIFixture(folder: folder, root: root, config: config, run: run)
    }

    /// A fresh copy of the data root, for a test to break.
    func copyOfRoot(in folder: URL) throws -> URL {
        let copy = folder.appendingPathComponent("root")
        try FileManager.default.copyItem(at: root, to: copy)
        return copy
    }

    /// A fresh copy of the trained checkpoint, `checkpoint.safetensors` in a new scratch folder, for a test
    /// to break; returns the folder and the copy.
    func copyOfCheckpoint(_ name: String) throws -> (dir: URL, checkpoint: URL) {
        let dir = try scratch(name)
        let copy = dir.appendingPathComponent("checkpoint.safetensors")
        try FileManager.default.copyItem(at: checkpoint, to: copy)
        return (dir, copy)
    }

    /// A new empty folder for one test.
    func scratch(_ name: String) throws -> URL {
        let url = folder.appendingPathComponent("\(name)-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}

/// Removed when the test process exits.
nonisolated(unsafe) private var fixtureFolder: String?

/// 8,400 parameters: three epochs of two 80-trial subjects train in seconds.
func tinyConfig(root: URL) -> String {
    """
    model:
      encoder_hidden_dim: 16
      nat_depth: 1
      num_heads: 2
      tome_r: 10
      decoder_hidden_dim: 16
      n_blocks_decoder: 1
      clip_seq_dim: 4
      clip_emb_dim: 8
      drop: 0.0
      drop_path_rate: 0.0
    data:
      root: \(root.path)
      train_subjects: [1, 2]
      test_subjects: [1, 2]
    train:
      epochs: 3
      batch_size: 8
      max_lr: 1.0e-3
      softclip_start_temperature: 0.05
      softclip_end_temperature: 0.05
      seed: 1
      threads: 1
    eval:
      pools: 2
      pool_size: 10
      every_epochs: 3
    run_dir: run

    """
}

/// A float32 `.npy` file (version 1.0) of `values` in C order, or `fortranOrder` (then `values` are column-major).
func writeNpy(_ values: [Float], shape: [Int], fortranOrder: Bool = false, to url: URL) throws {
    let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
    var header = "{'descr': '<f4', 'fortran_order': \(fortranOrder ? "True" : "False"), 'shape': (\(dims)), }"
    header += String(repeating: " ", count: (64 - (10 + header.utf8.count + 1) % 64) % 64) + "\n"
    var data = Data([0x93] + Array("NUMPY".utf8) + [1, 0])
    data.append(contentsOf: [UInt8(header.utf8.count & 0xff), UInt8(header.utf8.count >> 8)])
    data.append(contentsOf: Array(header.utf8))
    values.withUnsafeBufferPointer { data.append(Data(buffer: $0)) }
    try data.write(to: url)
}

/// Rewrites one metadata entry of a safetensors file (8-byte little-endian header length, JSON header, data).
func setSafetensorsMetadata(_ url: URL, key: String, value: String) throws {
    let raw = try Data(contentsOf: url)
    let n = Int(raw.prefix(8).enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) })
    var header = try JSONSerialization.jsonObject(with: raw.subdata(in: 8..<(8 + n))) as! [String: Any]
    var meta = header["__metadata__"] as? [String: String] ?? [:]
    meta[key] = value
    header["__metadata__"] = meta
    var text = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
    text.append(contentsOf: [UInt8](repeating: 0x20, count: (8 - text.count % 8) % 8))
    var out = Data((0..<8).map { UInt8(truncatingIfNeeded: UInt64(text.count) >> (8 * UInt64($0))) })
    out.append(text)
    out.append(raw.subdata(in: (8 + n)..<raw.count))
    try out.write(to: url)
}
