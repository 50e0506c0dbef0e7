import Foundation

extension Tensor: CustomStringConvertible {
    /// The form PyTorch prints: `tensor([[1., 2.],\n        [3., 4.]])`, with the same choice of fixed or
    /// scientific notation, summarised with `...` past 1000 elements, and dtype/device/grad suffixes.
    public var description: String {
        let shape = self.shape
        let dtype = self.dtype
        let summarise = count > 1000
        let values = dtype == .bool ? [] : (dtype.isFloatingPoint ? toArray(Double.self) : toArray(Int64.self).map(Double.init))
        let bools = dtype == .bool ? toArray(UInt8.self).map { $0 != 0 } : []
        let format = ElementFormat(values: values, floating: dtype.isFloatingPoint)

        func element(_ flat: Int) -> String {
            dtype == .bool ? (bools[flat] ? "True" : "False") : format.string(values[flat])
        }
        let width = dtype == .bool
            ? (bools.contains(false) ? 5 : 4)
            : values.map { format.string($0).count }.max() ?? 1
        var strides = [Int](repeating: 1, count: shape.count)
        for i in Swift.stride(from: shape.count - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * shape[i + 1] }

        func render(_ dim: Int, _ offset: Int, _ indent: Int) -> String {
            if dim == shape.count { return String(repeating: " ", count: width - element(offset).count) + element(offset) }
            let n = shape[dim]
            var positions: [Int?] = Array(0..<n).map { $0 }
            if summarise && n > 6 { positions = [0, 1, 2, nil, n - 3, n - 2, n - 1] }
            let parts = positions.map { p in p.map { render(dim + 1, offset + $0 * strides[dim], indent + 1) } ?? "..." }
            if dim == shape.count - 1 { return "[" + parts.joined(separator: ", ") + "]" }
            let newlines = String(repeating: "\n", count: shape.count - dim - 1)
            return "[" + parts.joined(separator: "," + newlines + String(repeating: " ", count: indent + 1)) + "]"
        }
        var body = shape.isEmpty ? element(0) : render(0, 0, 7)
        if shape.contains(0) { body = "[]" }
        var suffixes: [String] = []
        if device != .cpu { suffixes.append("device='\(device)'") }
        if shape.contains(0) && shape.count > 1 { suffixes.append("size=(\(shape.map(String.init).joined(separator: ", ")))") }
        if ![.float32, .int64, .bool].contains(dtype) { suffixes.append("dtype=torch.\(dtype)") }
        if requiresGrad { suffixes.append("requires_grad=True") }
        return "tensor(" + ([body] + suffixes).joined(separator: ", ") + ")"
    }
}

/// PyTorch's choice between integer-looking floats (`1.`), fixed (`1.2500`) and scientific (`1.2500e+05`).
private struct ElementFormat {
    enum Mode { case integer, integerFloat, fixed, scientific }
    let mode: Mode

    init(values: [Double], floating: Bool) {
        guard floating else { mode = .integer; return }
        let finite = values.filter { $0.isFinite && $0 != 0 }.map(Swift.abs)
        if finite.allSatisfy({ $0 == $0.rounded() }) {
            mode = (finite.max() ?? 0) > 1e8 ? .scientific : .integerFloat
        } else if let lo = finite.min(), let hi = finite.max(), hi / lo > 1000 || hi > 1e8 || lo < 1e-4 {
            mode = .scientific
        } else {
            mode = .fixed
        }
    }

    func string(_ v: Double) -> String {
        if v.isNaN { return "nan" }
        if v.isInfinite { return v > 0 ? "inf" : "-inf" }
        switch mode {
        case .integer: return String(Int64(v))
        case .integerFloat: return String(format: "%.0f.", v)
        case .fixed: return String(format: "%.4f", v)
        case .scientific: return String(format: "%.4e", v)
        }
    }
}
