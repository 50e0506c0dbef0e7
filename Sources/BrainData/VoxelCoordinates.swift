import Torch

/// The positions given to the model for each voxel (`data.coordinates`). The SIREN code is
/// sin(omega0 · (W·x + b)), so the scale of x sets how fast its phase turns, both across the volume and
/// per optimiser step (docs/ablations.md, "Coordinates").
public enum VoxelCoordinates: String, Sendable, CaseIterable, Codable {
    /// Integer (i, j, k) voxel indices: the reference and the paper (0 ..< 81, 104, 83 on NSD's grid).
    case raw
    /// Indices scaled per axis by the volume's shape to [-1, 1]: 2·i / (n - 1) - 1 (0 when n = 1).
    /// Every subject in one space (same grid) gets the same map.
    case normalized
    /// Millimetres through the mask's NIfTI affine (sform, else qform).
    case mm

    public init(from decoder: Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let value = VoxelCoordinates(rawValue: text) else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "expected \(Self.allCases.map(\.rawValue).joined(separator: ", ")), got '\(text)'")
        }
        self = value
    }
}

extension NIfTIImage {
    /// `coordinates` (V, 3) voxel indices scaled by the grid to [-1, 1] per axis: 2·i / (n - 1) - 1, and
    /// 0 on an axis of length 1. Shape (V, 3) float32.
    public func normalized(_ coordinates: Tensor) -> Tensor {
        let n = shape.prefix(3)
        let scale = Tensor(n.map { $0 > 1 ? 2 / Double($0 - 1) : 0 })  // (3,)
        let offset = Tensor(n.map { $0 > 1 ? -1.0 : 0 })  // (3,)
        return (coordinates.to(.float64) * scale + offset).to(.float32)
    }
}
