import BrainData
import Torch

/// `train.precision`: the autocast dtype of the forward pass (the loss and the optimiser stay float32).
public enum Precision: String, ConfigChoice, Sendable {
    case fp32, bf16, fp16

    /// The dtype autocast runs the forward pass in; nil for fp32 (no autocast).
    public var autocastDType: DType? {
        switch self {
        case .fp32: nil
        case .bf16: .bfloat16
        case .fp16: .float16
        }
    }
}

/// `train.device`: where autocast runs. CUDA needs a libtorch built with it; `check()` refuses it otherwise.
public enum ComputeDevice: String, ConfigChoice, Sendable {
    case cpu, cuda

    public var torchDevice: Device {
        switch self {
        case .cpu: .cpu
        case .cuda: .cuda(0)
        }
    }

    /// Throws when training cannot run on the device: a CPU-only libtorch (or no visible GPU) asked for
    /// cuda, or cuda at all, since modules cannot be moved to a GPU yet (autocast alone would silently run
    /// float32 on the CPU).
    public func check() throws {
        guard self == .cuda else { return }
        guard Torch.cudaIsAvailable else {
            throw ConfigError("train.device: cuda, but this libtorch has no CUDA device (a CPU-only build, or no GPU "
                + "visible); use train.device=cpu")
        }
        throw ConfigError("train.device: cuda: moving the model and batches to the GPU is not built yet; use train.device=cpu")
    }
}

/// `data.betas_dtype`: how betas are kept in memory (batches are float32 either way).
public enum BetasDType: String, ConfigChoice, Sendable {
    case float32, float16, bfloat16

    public var dtype: DType {
        switch self {
        case .float32: .float32
        case .float16: .float16
        case .bfloat16: .bfloat16
        }
    }
}
