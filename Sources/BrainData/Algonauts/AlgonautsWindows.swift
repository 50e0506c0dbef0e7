import Foundation

/// One training window: `sampleLength` TRs of episode `episode` (an index into the dataset's episodes)
/// starting at TR `offset`.
public struct AlgonautsWindow: Equatable, Codable, Sendable {
    public let episode: Int
    public let offset: Int
    public init(episode: Int, offset: Int) { (self.episode, self.offset) = (episode, offset) }
}

/// MedARC's training windows: the episodes are visited in a fresh random order each pass, one window per
/// visit at an offset uniform in `0...T-L`, and the stream runs on across epochs (MedARC's generator is
/// never reseeded; an epoch is `num_samples` windows). The whole struct is the state: encode it as JSON
/// and decode it to resume with exactly the same windows. (Our SplitMix64, not NumPy's PCG64: the
/// windows are MedARC's in distribution, not draw for draw.)
public struct AlgonautsWindowSampler: Codable, Equatable, Sendable {
    /// T of every episode.
    public let lengths: [Int]
    public let sampleLength: Int
    public private(set) var generator: SeededGenerator
    /// The current pass's episode order and the next position in it.
    public private(set) var order: [Int] = []
    public private(set) var position = 0
    /// Windows drawn so far.
    public private(set) var drawn = 0

    /// `names` (the episodes, for the error) default to their indices; an episode shorter than
    /// `sampleLength` throws naming it (MedARC would fail drawing its offset).
    public init(lengths: [Int], sampleLength: Int, seed: UInt64, names: [String]? = nil) throws {
        guard sampleLength > 0 else { throw DataError("sample_length \(sampleLength): expected a positive number of TRs") }
        guard !lengths.isEmpty else { throw DataError("no episodes to draw windows of \(sampleLength) TRs from") }
        if let short = lengths.indices.first(where: { lengths[$0] < sampleLength }) {
            let name = names.map { $0[short] } ?? "episode \(short)"
            throw DataError("\(name) has \(lengths[short]) TRs, fewer than sample_length \(sampleLength)")
        }
        (self.lengths, self.sampleLength) = (lengths, sampleLength)
        generator = SeededGenerator(seed: seed)
    }

    /// Windows of the aligned episodes of `data` (their names in the error).
    public init(episodes data: [AlgonautsEpisodeData], sampleLength: Int, seed: UInt64) throws {
        try self.init(lengths: data.map(\.length), sampleLength: sampleLength, seed: seed,
                      names: data.map(\.episode.description))
    }

    public mutating func next() -> AlgonautsWindow {
        if position == order.count {
            order = Array(lengths.indices)
            generator.shuffle(&order)
            position = 0
        }
        let episode = order[position]
        position += 1
        drawn += 1
        return AlgonautsWindow(episode: episode, offset: generator.below(lengths[episode] - sampleLength + 1))
    }

    /// The next `count` windows (a batch, or MedARC's `num_samples` epoch).
    public mutating func next(_ count: Int) -> [AlgonautsWindow] { (0..<count).map { _ in next() } }

    /// The state as JSON, and back.
    public func json() throws -> Data { try JSONEncoder().encode(self) }
    public static func resume(from json: Data) throws -> AlgonautsWindowSampler {
        do { return try JSONDecoder().decode(Self.self, from: json) } catch {
            throw DataError("window sampler state: not a saved AlgonautsWindowSampler (\(error))")
        }
    }
}
