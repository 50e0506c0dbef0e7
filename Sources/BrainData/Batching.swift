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

/// One training batch: a subject and positions into that subject's list of training trials; in a mixed
/// batch (MindEye2's), `others` holds the other subjects' parts, in subject order.
public struct Batch: Sendable, Equatable, Codable {
    public let subject: Int
    public let trials: [Int]
    public var others: [Batch] = []
    public init(subject: Int, trials: [Int], others: [Batch] = []) {
        (self.subject, self.trials, self.others) = (subject, trials, others)
    }
    /// This batch's parts, one per subject: itself (without `others`) then `others`.
    public var parts: [Batch] { [Batch(subject: subject, trials: trials)] + others }
}

/// The multi-subject sampler. Per subject (VoxelFormer's reference): every batch holds trials of one
/// subject, shuffled within the subject; each subject's last partial batch is dropped; the list of all
/// subjects' batches is reshuffled every epoch. Mixed (MindEye2's): every batch holds `batchSize / subjects`
/// trials of each subject, each subject's trials shuffled every epoch; an epoch ends when the subject with
/// the fewest trials runs out (the reference instead resamples a fixed 750·40 trials per epoch).
/// Drawn (UMBRAE's cross-subject training, `subjectsPerEpoch` k > 0): every epoch draws k distinct subjects
/// and zips their shuffled trials, so every batch holds `batchSize` trials of each drawn subject; an epoch
/// is the fewest trials of any subject over `batchSize` steps, whichever subjects are drawn (UMBRAE's zip
/// stops at the shorter of the two loaders; a fixed length keeps the schedule and resume exact).
/// Seeded; the whole struct is the state to save for resuming.
public struct SubjectBatchSampler: Sendable, Codable, Equatable {
    /// Training trials per subject.
    public let trialCounts: [Int: Int]
    public let batchSize: Int
    /// Every batch holds every subject (MindEye2's batches).
    public let mixed: Bool
    /// Subjects drawn each epoch (0: not drawn; per subject or mixed).
    public let subjectsPerEpoch: Int
    public var generator: SeededGenerator
    /// Epochs drawn so far.
    public private(set) var epoch: Int = 0

    public init(trialCounts: [Int: Int], batchSize: Int, seed: UInt64, mixed: Bool = false, subjectsPerEpoch: Int = 0) {
        precondition(batchSize > 0, "SubjectBatchSampler: batchSize must be positive")
        precondition(!mixed || subjectsPerEpoch == 0, "SubjectBatchSampler: mixed batches hold every subject, none are drawn")
        precondition((0...trialCounts.count).contains(subjectsPerEpoch),
                     "SubjectBatchSampler: cannot draw \(subjectsPerEpoch) of \(trialCounts.count) subjects")
        self.trialCounts = trialCounts
        self.batchSize = batchSize
        self.mixed = mixed
        self.subjectsPerEpoch = subjectsPerEpoch
        generator = SeededGenerator(seed: seed)
    }

    enum CodingKeys: String, CodingKey { case trialCounts, batchSize, mixed, subjectsPerEpoch, generator, epoch }
    /// Reads states saved before mixed or drawn batches existed (absent: per-subject batches).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        trialCounts = try c.decode([Int: Int].self, forKey: .trialCounts)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        mixed = try c.decodeIfPresent(Bool.self, forKey: .mixed) ?? false
        subjectsPerEpoch = try c.decodeIfPresent(Int.self, forKey: .subjectsPerEpoch) ?? 0
        generator = try c.decode(SeededGenerator.self, forKey: .generator)
        epoch = try c.decode(Int.self, forKey: .epoch)
    }

    /// Trials of each subject in a mixed batch.
    public var trialsPerSubject: Int { mixed ? batchSize / max(trialCounts.count, 1) : batchSize }

    /// Batches per epoch: per subject, the sum over subjects of `trials / batchSize`; mixed, the fewest
    /// trials of a subject over `trialsPerSubject`; both rounded down.
    public var batchesPerEpoch: Int {
        if subjectsPerEpoch > 0 { return (trialCounts.values.min() ?? 0) / batchSize }
        guard mixed else { return trialCounts.values.reduce(0) { $0 + $1 / batchSize } }
        let chunk = trialsPerSubject
        return chunk == 0 ? 0 : (trialCounts.values.min() ?? 0) / chunk
    }

    /// The next epoch's batches, in training order.
    public mutating func nextEpoch() -> [Batch] {
        if mixed { return nextMixedEpoch() }
        if subjectsPerEpoch > 0 { return nextDrawnEpoch() }
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

    private mutating func nextMixedEpoch() -> [Batch] {
        epoch += 1
        return zipped(trialCounts.keys.sorted(), trialsEach: trialsPerSubject)
    }

    /// UMBRAE's `random.sample(subjects, k)`: k distinct subjects in the order drawn (a partial Fisher–Yates
    /// over the sorted subjects), then each drawn subject's trials shuffled, zipped into batches.
    private mutating func nextDrawnEpoch() -> [Batch] {
        var subjects = trialCounts.keys.sorted()
        for i in 0..<subjectsPerEpoch { subjects.swapAt(i, i + generator.below(subjects.count - i)) }
        epoch += 1
        return zipped(Array(subjects.prefix(subjectsPerEpoch)), trialsEach: batchSize)
    }

    /// `batchesPerEpoch` batches, each holding `trialsEach` trials of every one of `subjects` (in that order),
    /// from each subject's trials shuffled in turn.
    private mutating func zipped(_ subjects: [Int], trialsEach chunk: Int) -> [Batch] {
        let orders = subjects.map { subject -> (Int, [Int]) in
            var order = Array(0..<trialCounts[subject]!)
            generator.shuffle(&order)
            return (subject, order)
        }
        return (0..<batchesPerEpoch).map { b in
            let parts = orders.map { Batch(subject: $0.0, trials: Array($0.1[(b * chunk)..<((b + 1) * chunk)])) }
            return Batch(subject: parts[0].subject, trials: parts[0].trials, others: Array(parts.dropFirst()))
        }
    }
}
