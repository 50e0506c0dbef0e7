import Foundation

/// Loading and saving a module's state dict as a safetensors file, names as in PyTorch's `state_dict()`.
extension Module {
    /// Copies the file's tensors into this module's parameters and buffers by name; see
    /// `load(stateDict:strict:rename:)` for `strict` and `rename`.
    @discardableResult
    public func loadSafetensors(_ url: URL, strict: Bool = true, rename: ((String) -> String?)? = nil) throws
        -> Module.LoadReport
    {
        try load(stateDict: Safetensors.read(url), strict: strict, rename: rename)
    }

    /// Writes this module's parameters and buffers, as `safetensors.torch.save_file(m.state_dict(), ...)`.
    public func saveSafetensors(to url: URL, metadata: [String: String] = [:]) throws {
        try Safetensors.write(stateDict(), metadata: metadata, to: url)
    }
}
