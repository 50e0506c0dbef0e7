import Foundation

extension Tensor: CustomStringConvertible {
    /// The form PyTorch prints (`str(t)` with the default print options): `tensor([[1., 2.],\n        [3., 4.]])`,
    /// the same choice of integer-looking, fixed or scientific notation, rows wrapped at 80 columns,
    /// summarised with `...` past 1000 elements, and the device/size/dtype/grad suffixes.
    /// A port of `torch/_tensor_str.py`.
    public var description: String {
        let prefix = "tensor("
        let indent = prefix.count
        let shape = self.shape
        let dtype = self.dtype
        var suffixes: [String] = []
        if device != .cpu { suffixes.append("device='\(device)'") }
        let body: String
        if count == 0 {
            // an empty tensor shows its shape unless it is 1-D, and any dtype but the default float
            if shape.count != 1 { suffixes.append("size=(" + shape.map(String.init).joined(separator: ", ") + ")") }
            if dtype != .float32 { suffixes.append("dtype=torch.\(dtype)") }
            body = "[]"
        } else {
            if ![.float32, .int64, .bool].contains(dtype) { suffixes.append("dtype=torch.\(dtype)") }
            body = TensorText(self).render(indent: indent)
        }
        if let gradFn = gradFnName {
            suffixes.append("grad_fn=<\(gradFn)>")
        } else if requiresGrad {
            suffixes.append("requires_grad=True")
        }
        // `_add_suffixes`: a suffix that would pass the line width starts a new line
        var text = prefix + body
        var lastLineLength = text.count - (text.lastIndex(of: "\n").map { text.distance(from: text.startIndex, to: $0) } ?? -1) + 1
        for suffix in suffixes {
            if lastLineLength + suffix.count + 2 > PrintOptions.lineWidth {
                text += ",\n" + String(repeating: " ", count: indent) + suffix
                lastLineLength = indent + suffix.count
            } else {
                text += ", " + suffix
                lastLineLength += suffix.count + 2
            }
        }
        return text + ")"
    }
}

/// `torch.set_printoptions`' defaults.
private enum PrintOptions {
    static let precision = 4
    static let threshold = 1000
    static let edgeItems = 3
    static let lineWidth = 80
}

/// The nested-bracket text of a non-empty tensor (`_tensor_str`).
private struct TensorText {
    let shape: [Int]
    let strides: [Int]
    let summarise: Bool
    let element: (Int) -> String
    let formatter: ElementFormatter

    init(_ t: Tensor) {
        let shape = t.shape
        var strides = [Int](repeating: 1, count: shape.count)
        for i in Swift.stride(from: shape.count - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * shape[i + 1] }
        let summarise = t.count > PrintOptions.threshold
        (self.shape, self.strides, self.summarise) = (shape, strides, summarise)
        // the formatter sees only the elements that will be shown
        var shown: [Int] = []
        func collect(_ dim: Int, _ offset: Int) {
            if dim == shape.count { shown.append(offset); return }
            for p in Self.positions(shape[dim], summarise) { if let p { collect(dim + 1, offset + p * strides[dim]) } }
        }
        collect(0, 0)
        let dtype = t.dtype
        if dtype.isFloatingPoint {
            let values = t.toArray(Double.self)
            let f = ElementFormatter(floating: shown.map { values[$0] })
            formatter = f
            element = { f.format(values[$0]) }
        } else {
            let strings = dtype == .bool
                ? t.toArray(UInt8.self).map { $0 != 0 ? "True" : "False" }
                : t.toArray(Int64.self).map { String($0) }
            let f = ElementFormatter(strings: shown.map { strings[$0] })
            formatter = f
            element = { f.pad(strings[$0]) }
        }
    }

    /// Positions along a dimension of size `n`: all, or the first and last `edgeItems` around a gap (nil).
    static func positions(_ n: Int, _ summarise: Bool) -> [Int?] {
        let e = PrintOptions.edgeItems
        if summarise && n > 2 * e { return Array(0..<e) + [nil] + Array((n - e)..<n) }
        return Array(0..<n)
    }

    func render(indent: Int) -> String { render(dim: 0, offset: 0, indent: indent) }

    private func render(dim: Int, offset: Int, indent: Int) -> String {
        let remaining = shape.count - dim
        if remaining == 0 { return element(offset) }
        let places = Self.positions(shape[dim], summarise)
        if remaining == 1 {
            // `_vector_str`: as many elements per line as fit in the line width
            let perLine = Swift.max(1, (PrintOptions.lineWidth - indent) / (formatter.width + 2))
            let data = places.map { p in p.map { element(offset + $0 * strides[dim]) } ?? " ..." }
            let lines = Swift.stride(from: 0, to: data.count, by: perLine).map {
                data[$0..<Swift.min($0 + perLine, data.count)].joined(separator: ", ")
            }
            return "[" + lines.joined(separator: ",\n" + String(repeating: " ", count: indent + 1)) + "]"
        }
        let slices = places.map { p in
            p.map { render(dim: dim + 1, offset: offset + $0 * strides[dim], indent: indent + 1) } ?? "..."
        }
        let separator = "," + String(repeating: "\n", count: remaining - 1) + String(repeating: " ", count: indent + 1)
        return "[" + slices.joined(separator: separator) + "]"
    }
}

/// PyTorch's `_Formatter`: integer-looking floats (`1.`), fixed (`1.2500`) or scientific (`1.2500e+05`)
/// notation, chosen from the non-zero finite values, and right alignment to the widest element.
private struct ElementFormatter {
    var floating = false
    var intMode = true
    var sciMode = false
    var width = 1

    init(strings: [String]) {
        width = strings.map(\.count).max() ?? 1
        width = Swift.max(width, 1)
    }

    init(floating values: [Double]) {
        floating = true
        let finite = values.filter { $0.isFinite && $0 != 0 }
        guard !finite.isEmpty else { return }
        let magnitudes = finite.map(Swift.abs)
        let lo = magnitudes.min()!, hi = magnitudes.max()!
        intMode = finite.allSatisfy { $0 == $0.rounded(.up) }
        sciMode = hi / lo > 1000 || hi > 1e8 || lo < 1e-4
        for v in finite {
            let text = sciMode ? Self.scientific(v) : intMode ? Self.integer(v) + "." : Self.fixed(v)
            width = Swift.max(width, text.count)
        }
    }

    func format(_ v: Double) -> String {
        let text: String
        if v.isNaN {
            text = "nan"
        } else if v.isInfinite {
            text = v > 0 ? "inf" : "-inf"
        } else if sciMode {
            text = Self.scientific(v)
        } else if intMode {
            text = Self.integer(v) + "."
        } else {
            text = Self.fixed(v)
        }
        return pad(text)
    }

    func pad(_ text: String) -> String { String(repeating: " ", count: Swift.max(0, width - text.count)) + text }

    static func scientific(_ v: Double) -> String { String(format: "%.\(PrintOptions.precision)e", v) }
    static func fixed(_ v: Double) -> String { String(format: "%.\(PrintOptions.precision)f", v) }
    static func integer(_ v: Double) -> String { String(format: "%.0f", v) }
}
