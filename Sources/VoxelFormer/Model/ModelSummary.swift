import Torch

extension Module {
    /// Rows of (dotted module name, parameter count) down to `depth` levels, then the total.
    public func parameterTable(depth: Int = 2) -> String {
        var rows: [(String, Int)] = []
        for (name, module) in namedModules() where !name.isEmpty {
            let level = name.split(separator: ".").count
            if level <= depth && module.parameterCount > 0 { rows.append((name, module.parameterCount)) }
        }
        rows.append(("total", parameterCount))
        let width = rows.map(\.0.count).max() ?? 0
        let numbers = rows.map { $0.1.formattedWithCommas }
        let numberWidth = numbers.map(\.count).max() ?? 0
        return zip(rows, numbers).map { row, n in
            let indent = row.0 == "total" ? "" : String(repeating: "  ", count: row.0.split(separator: ".").count - 1)
            let label = indent + (row.0.split(separator: ".").last.map(String.init) ?? row.0)
            return label.padding(toLength: width + 2, withPad: " ", startingAt: 0)
                + String(repeating: " ", count: numberWidth - n.count) + n
        }.joined(separator: "\n")
    }
}

extension Int {
    /// 39742464 -> "39,742,464"
    public var formattedWithCommas: String {
        let digits = String(Swift.abs(self))
        var out = ""
        for (i, c) in digits.reversed().enumerated() {
            if i > 0 && i % 3 == 0 { out.append(",") }
            out.append(c)
        }
        return (self < 0 ? "-" : "") + String(out.reversed())
    }
}
