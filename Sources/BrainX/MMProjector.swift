import Foundation
import Torch

/// LLaVA's `mm_projector_type`: `linear` (LLaVA-1, Shikra: one Linear) or `mlp{N}x_gelu` (LLaVA-1.5's
/// `mlp2x_gelu`: Linear(in, out), then N − 1 times GELU -> Linear(out, out)).
public enum MMProjectorType: Equatable, Sendable, CustomStringConvertible {
    case linear
    case mlpGELU(depth: Int)

    /// LLaVA-1.5's projector.
    public static let llava15 = MMProjectorType.mlpGELU(depth: 2)

    /// Parses LLaVA's config string (`linear`, `mlp2x_gelu`).
    public init?(_ text: String) {
        if text == "linear" { self = .linear; return }
        guard text.hasPrefix("mlp"), text.hasSuffix("x_gelu"),
              let depth = Int(text.dropFirst(3).dropLast(6)), depth >= 1 else { return nil }
        self = .mlpGELU(depth: depth)
    }

    public var description: String {
        switch self {
        case .linear: "linear"
        case .mlpGELU(let depth): "mlp\(depth)x_gelu"
        }
    }
}

/// The projector's layers, the reference's `mm_projector`: a bare `nn.Linear` (names `weight`, `bias`) for
/// `linear`, or an `nn.Sequential` whose Linears sit at the even indices "0", "2", ... (GELUs between).
public final class ProjectorLayers: Module, UnaryLayer {
    @ParameterInfo public var weight: Tensor?
    @ParameterInfo public var bias: Tensor?
    /// The Sequential's Linears, registered under their indices (empty for `linear`).
    public let linears: [Linear]

    public init(_ type: MMProjectorType, inDim: Int, outDim: Int) {
        switch type {
        case .linear:
            let layer = Linear(inDim, outDim)
            weight = layer.weight
            bias = layer.bias
            linears = []
        case .mlpGELU(let depth):
            weight = nil
            bias = nil
            linears = (0..<depth).map { Linear($0 == 0 ? inDim : outDim, outDim) }
        }
        super.init()
        for (i, layer) in linears.enumerated() { register(module: String(2 * i), layer) }
    }

    public func callAsFunction(_ x: Tensor) -> Tensor {
        if let weight { return F.linear(x, weight: weight, bias: bias) }
        var y = linears[0](x)
        for layer in linears.dropFirst() { y = layer(F.gelu(y)) }  // nn.GELU(): the exact, erf form
        return y
    }
}

/// LLaVA's vision-language projector, mapping vision tokens (B, T, in) (CLIP ViT-L/14: 1024) to the LLM's
/// embedding width (B, T, out) (LLaMA-7B: 4096). Names `mm_projector.0.weight`, `mm_projector.0.bias`,
/// `mm_projector.2.*` as LLaVA-1.5 stores them; `model.mm_projector.*` (the full checkpoint and
/// `mm_projector.bin`) loads through `sanitize(weights:)`.
public final class MMProjector: Module, UnaryLayer {
    @ModuleInfo(key: "mm_projector") public var mmProjector: ProjectorLayers
    public let type: MMProjectorType

    public init(_ type: MMProjectorType = .llava15, inDim: Int = 1024, outDim: Int = 4096) {
        self.type = type
        _mmProjector.wrappedValue = ProjectorLayers(type, inDim: inDim, outDim: outDim)
        super.init()
    }

    public var inDim: Int { (mmProjector.weight ?? mmProjector.linears[0].weight).shape[1] }
    public var outDim: Int { (mmProjector.weight ?? mmProjector.linears[0].weight).shape[0] }

    /// (..., in) -> (..., out).
    public func callAsFunction(_ x: Tensor) -> Tensor { mmProjector(x) }

    /// Keys under any prefix ending in `mm_projector.` (`model.`, `base_model.model.model.`) load as ours;
    /// the llava-hf layout's `multi_modal_projector.linear_1` / `linear_2` as `mm_projector.0` / `.2`.
    override public func sanitize(weights: [String: Tensor]) -> [String: Tensor] {
        super.sanitize(weights: Self.projectorKeys(weights, keepOthers: true))
    }

    /// `weights` with projector keys renamed to `mm_projector.*`; other keys kept or dropped.
    static func projectorKeys(_ weights: [String: Tensor], keepOthers: Bool) -> [String: Tensor] {
        var out: [String: Tensor] = [:]
        for (key, value) in weights {
            if let r = key.range(of: "mm_projector.") {
                out[String(key[r.lowerBound...])] = value
            } else if let r = key.range(of: "multi_modal_projector.linear_") {
                let rest = key[r.upperBound...]  // "1.weight"
                if let dot = rest.firstIndex(of: "."), let n = Int(rest[..<dot]), n >= 1 {
                    out["mm_projector.\(2 * (n - 1))" + rest[dot...]] = value
                } else if keepOthers {
                    out[key] = value
                }
            } else if keepOthers {
                out[key] = value
            }
        }
        return out
    }

    /// The projector in a safetensors file (LLaVA's `mm_projector.bin` converted, or a full checkpoint):
    /// its type and widths read from the shapes, its weights loaded strictly; other keys are ignored.
    public static func load(contentsOf url: URL) throws -> MMProjector {
        let weights = projectorKeys(try Safetensors.read(url), keepOthers: false)
        func fail(_ why: String) -> SerializationError { SerializationError("\(url.path): \(why)") }
        let type: MMProjectorType, first: Tensor
        if let w = weights["mm_projector.weight"] {
            type = .linear
            first = w
        } else if let w = weights["mm_projector.0.weight"] {
            var depth = 1
            while weights["mm_projector.\(2 * depth).weight"] != nil { depth += 1 }
            type = .mlpGELU(depth: depth)
            first = w
        } else {
            throw fail("no LLaVA projector weights: expected mm_projector.0.weight (mlp2x_gelu) or " +
                       "mm_projector.weight (linear), under any prefix such as model.")
        }
        guard first.ndim == 2 else { throw fail("mm_projector's first weight should be (out, in), found \(first.shape)") }
        let projector = MMProjector(type, inDim: first.shape[1], outDim: first.shape[0])
        do {
            try projector.load(stateDict: weights)
        } catch let error as Module.LoadError {
            throw fail("\(type) projector: \(error)")
        }
        return projector
    }
}
