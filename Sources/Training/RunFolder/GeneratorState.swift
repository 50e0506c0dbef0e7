import Foundation
import Torch

extension Checkpoint {
    /// Throws unless `rng` can be handed to `Torch.setRNGState`: libtorch aborts on a state of another
    /// dtype or size or one whose `seeded` flag (Int32 at byte 12 of `CPUGeneratorImplStateLegacy`) is
    /// off, and trusts the Mersenne Twister position: `left` (Int32 at byte 8) and `next` (UInt64 at
    /// byte 16) index the 624-word state on each draw (`left == 1` when freshly seeded,
    /// `left + next == 625` after a draw), so a forged position reads outside it.
    static func checkGeneratorState(_ rng: Tensor, url: URL) throws {
        let shape = Torch.rngState().shape
        guard rng.shape == shape, rng.dtype == .uint8 else {
            throw ConfigError("\(url.path): rng.torch has shape \(rng.shape) (\(rng.dtype)), expected \(shape) (uint8): "
                + "libtorch's CPU generator state")
        }
        let bytes = [UInt8](rng.bytes())
        func little(_ at: Int, _ count: Int) -> UInt64 {
            (0..<count).reversed().reduce(0) { $0 << 8 | UInt64(bytes[at + $1]) }
        }
        let left = little(8, 4), seeded = little(12, 4), next = little(16, 8)
        guard seeded != 0 else {
            throw ConfigError("\(url.path): rng.torch is corrupt: its generator is marked as never seeded")
        }
        guard (1...624).contains(left), next <= 625 - left else {
            throw ConfigError("\(url.path): rng.torch is corrupt: its generator position (left \(left), next \(next)) "
                + "lies outside the 624-word state")
        }
    }
}
