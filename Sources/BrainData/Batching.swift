import Foundation

/// SplitMix64: a tiny seeded generator whose whole state is one `UInt64`, so a run can save it and resume
/// with exactly the same batches. Shuffles use our own Fisher–Yates (`shuffle(_:)`), whose draws do not
/// depend on the Swift standard library's version.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Codable, Equatable {
    public var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform integer in `0..<bound` (Lemire's multiply-shift with rejection).
    public mutating func below(_ bound: Int) -> Int {
        precondition(bound > 0, "below: bound must be positive")
        let b = UInt64(bound)
        while true {
            let product = next().multipliedFullWidth(by: b)
            if product.low >= (0 &- b) % b { return Int(product.high) }
        }
    }

    /// Fisher–Yates, from the last position down.
    public mutating func shuffle<T>(_ items: inout [T]) {
        guard items.count > 1 else { return }
        for i in stride(from: items.count - 1, to: 0, by: -1) {
            items.swapAt(i, below(i + 1))
        }
    }
}

/// One training batch: a subject and positions into that subject's list of training trials.
public struct Batch: Sendable, Equatable, Codable {
    public let subject: Int
    public let trials: [Int]
    public init(subject: Int, trials: [Int]) {
        self.subject = subject
        self.trials = trials
    }
}

/// The reference multi-subject sampler (MindEye2's): every batch holds trials of one subject, shuffled
/// within the subject; each subject's last partial batch is dropped; the list of all subjects' batches is
/// reshuffled every epoch. Seeded; `generator` is the state to save for resuming.
public struct SubjectBatchSampler: Sendable, Codable, Equatable {
    /// Training trials per subject.
    public let trialCounts: [Int: Int]
    public let batchSize: Int
    public var generator: SeededGenerator
    /// Epochs drawn so far.
    public private(set) var epoch: Int = 0

    public init(trialCounts: [Int: Int], batchSize: Int, seed: UInt64) {
        precondition(batchSize > 0, "SubjectBatchSampler: batchSize must be positive")
        self.trialCounts = trialCounts
        self.batchSize = batchSize
        generator = SeededGenerator(seed: seed)
    }

    /// Batches per epoch: the sum over subjects of `trials / batchSize`, rounded down.
    public var batchesPerEpoch: Int { trialCounts.values.reduce(0) { $0 + $1 / batchSize } }

    /// The next epoch's batches, in training order.
    public mutating func nextEpoch() -> [Batch] {
        var batches: [Batch] = []
        for subject in trialCounts.keys.sorted() {
            var order = Array(0..<trialCounts[subject]!)
            generator.shuffle(&order)
            let full = order.count / batchSize
            for b in 0..<full {
                batches.append(Batch(subject: subject, trials: Array(order[(b * batchSize)..<((b + 1) * batchSize)])))
            }
        }
        generator.shuffle(&batches)
        epoch += 1
        return batches
    }
}
