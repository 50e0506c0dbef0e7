import Foundation
import Torch

/// A small SVG line chart, so a run folder shows its loss and accuracy curves without Python. Each panel
/// has labelled axes with 1-2-5 ticks, horizontal reference lines (chance, a baseline), vertical markers
/// (a phase switch), and its legend in a column right of the plot, never over the curves.
public struct CurvePlot {
    public struct Series {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public var color: String
        public var width: Double
        public var opacity: Double
        public init(name: String, points: [(x: Double, y: Double)], color: String, width: Double = 1.5,
                    opacity: Double = 1)
        {
            (self.name, self.points, self.color, self.width, self.opacity) = (name, points, color, width, opacity)
        }
    }
    /// A dashed line across the panel at `value` (horizontal: y; vertical: x), named in the legend.
    public struct Reference {
        public var name: String
        public var value: Double
        public var color: String
        public init(name: String, value: Double, color: String) {
            (self.name, self.value, self.color) = (name, value, color)
        }
    }
    public struct Panel {
        public var title: String
        public var xLabel: String
        public var yLabel: String
        public var series: [Series]
        public var horizontal: [Reference]
        public var vertical: [Reference]
        /// Start the y axis at zero (accuracies) instead of at the data's minimum (losses).
        public var yFromZero: Bool
        /// Whole-number x ticks from zero (epochs).
        public var epochAxis: Bool
        public init(title: String, xLabel: String, yLabel: String = "", series: [Series], horizontal: [Reference] = [],
                    vertical: [Reference] = [], yFromZero: Bool = false, epochAxis: Bool = false)
        {
            (self.title, self.xLabel, self.yLabel, self.series) = (title, xLabel, yLabel, series)
            (self.horizontal, self.vertical, self.yFromZero, self.epochAxis) = (horizontal, vertical, yFromZero, epochAxis)
        }
    }

    public var panels: [Panel]
    public init(panels: [Panel]) { self.panels = panels }

    public func svg(width: Int = 720, panelHeight: Int = 280) -> String {
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(panelHeight * panels.count)\" font-family=\"sans-serif\" font-size=\"11\">\n"
        out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        for (i, panel) in panels.enumerated() {
            out += draw(panel, top: Double(i * panelHeight), width: Double(width), height: Double(panelHeight))
        }
        return out + "</svg>\n"
    }

    /// Exponential moving average with debiasing (TensorBoard's smoothing): a readable trend of a noisy loss.
    public static func ema(_ points: [(x: Double, y: Double)], weight: Double) -> [(x: Double, y: Double)] {
        var avg = 0.0, norm = 0.0
        return points.filter { $0.y.isFinite }.map { p in
            avg = weight * avg + (1 - weight) * p.y
            norm = weight * norm + (1 - weight)
            return (p.x, avg / norm)
        }
    }

    /// Tick positions on a 1-2-5 grid covering [lo, hi], about `target` of them.
    public static func ticks(_ lo: Double, _ hi: Double, target: Int = 5, minStep: Double = 0) -> [Double] {
        guard hi > lo, lo.isFinite, hi.isFinite else { return [lo] }
        let raw = Swift.max((hi - lo) / Double(target), minStep)
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        var out: [Double] = []
        var t = ceil(lo / step - 1e-9) * step
        while t <= hi + step * 1e-9 {
            out.append(abs(t) < step * 1e-9 ? 0 : t)
            t += step
        }
        return out
    }

    static func label(_ v: Double, step: Double) -> String {
        if abs(v) >= 10_000 { return String(format: "%.0fk", v / 1000) }
        let decimals = max(0, Int(-floor(log10(step) + 1e-9)))
        return String(format: "%.\(decimals)f", v)
    }

    private func draw(_ p: Panel, top: Double, width: Double, height: Double) -> String {
        let (left, right, upper, lower) = (60.0, 170.0, 28.0, 42.0)
        let all = p.series.flatMap(\.points).filter { $0.y.isFinite && $0.x.isFinite }
        guard var xMin = all.map(\.x).min(), var xMax = all.map(\.x).max(),
              var yMin = all.map(\.y).min(), var yMax = all.map(\.y).max() else {
            return "<text x=\"\(left)\" y=\"\(top + 20)\">\(p.title): no data</text>\n"
        }
        for r in p.horizontal where r.value.isFinite { (yMin, yMax) = (min(yMin, r.value), max(yMax, r.value)) }
        for r in p.vertical where r.value.isFinite { (xMin, xMax) = (min(xMin, r.value), max(xMax, r.value)) }
        if p.yFromZero { yMin = min(0, yMin) }
        if p.epochAxis { xMin = min(0, xMin) }
        if yMax == yMin { yMax += 0.5; yMin -= 0.5 }
        if xMax == xMin { xMax += 0.5; xMin -= 0.5 }
        let pad = (yMax - yMin) * 0.05
        yMax += pad
        if !p.yFromZero { yMin -= pad }
        let w = width - left - right, h = height - upper - lower
        func px(_ x: Double) -> Double { left + (x - xMin) / (xMax - xMin) * w }
        func py(_ y: Double) -> Double { top + upper + (1 - (y - yMin) / (yMax - yMin)) * h }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var s = "<text x=\"\(f(left))\" y=\"\(f(top + 18))\" font-size=\"13\" font-weight=\"bold\">\(p.title)</text>\n"
        // grid and tick labels
        let yTicks = CurvePlot.ticks(yMin, yMax), xTicks = CurvePlot.ticks(xMin, xMax, target: 6, minStep: p.epochAxis ? 1 : 0)
        let yStep = yTicks.count > 1 ? yTicks[1] - yTicks[0] : 1, xStep = xTicks.count > 1 ? xTicks[1] - xTicks[0] : 1
        for y in yTicks {
            s += "<line x1=\"\(f(left))\" x2=\"\(f(left + w))\" y1=\"\(f(py(y)))\" y2=\"\(f(py(y)))\" stroke=\"#eee\"/>\n"
            s += "<text x=\"\(f(left - 6))\" y=\"\(f(py(y) + 4))\" text-anchor=\"end\">\(CurvePlot.label(y, step: yStep))</text>\n"
        }
        for x in xTicks {
            s += "<line x1=\"\(f(px(x)))\" x2=\"\(f(px(x)))\" y1=\"\(f(top + upper))\" y2=\"\(f(top + upper + h))\" stroke=\"#eee\"/>\n"
            s += "<text x=\"\(f(px(x)))\" y=\"\(f(top + upper + h + 15))\" text-anchor=\"middle\">\(CurvePlot.label(x, step: xStep))</text>\n"
        }
        s += "<rect x=\"\(f(left))\" y=\"\(f(top + upper))\" width=\"\(f(w))\" height=\"\(f(h))\" fill=\"none\" stroke=\"#999\"/>\n"
        s += "<text x=\"\(f(left + w / 2))\" y=\"\(f(top + height - 8))\" text-anchor=\"middle\">\(p.xLabel)</text>\n"
        if !p.yLabel.isEmpty {
            let (cx, cy) = (14.0, top + upper + h / 2)
            s += "<text x=\"\(f(cx))\" y=\"\(f(cy))\" text-anchor=\"middle\" transform=\"rotate(-90 \(f(cx)) \(f(cy)))\">\(p.yLabel)</text>\n"
        }
        // legend entries, in a column right of the plot
        var legend: [(name: String, color: String, dashed: Bool, width: Double, opacity: Double)] = []
        for r in p.vertical where r.value.isFinite {
            s += "<line x1=\"\(f(px(r.value)))\" x2=\"\(f(px(r.value)))\" y1=\"\(f(top + upper))\" y2=\"\(f(top + upper + h))\" stroke=\"\(r.color)\" stroke-dasharray=\"2,3\" stroke-width=\"1.2\"/>\n"
            legend.append((r.name, r.color, true, 1.2, 1))
        }
        for r in p.horizontal where r.value.isFinite {
            s += "<line x1=\"\(f(left))\" x2=\"\(f(left + w))\" y1=\"\(f(py(r.value)))\" y2=\"\(f(py(r.value)))\" stroke=\"\(r.color)\" stroke-dasharray=\"6,4\" stroke-width=\"1.2\"/>\n"
            legend.append((r.name, r.color, true, 1.2, 1))
        }
        for series in p.series.reversed() {
            let pts = series.points.filter { $0.y.isFinite && $0.x.isFinite }
            guard !pts.isEmpty else { continue }
            let path = pts.map { "\(f(px($0.x))),\(f(py($0.y)))" }.joined(separator: " ")
            s += "<polyline fill=\"none\" stroke=\"\(series.color)\" stroke-opacity=\"\(series.opacity)\" stroke-width=\"\(series.width)\" points=\"\(path)\"/>\n"
            if pts.count < 20 {
                for q in pts { s += "<circle cx=\"\(f(px(q.x)))\" cy=\"\(f(py(q.y)))\" r=\"2.5\" fill=\"\(series.color)\"/>\n" }
            }
        }
        legend = p.series.map { ($0.name, $0.color, false, $0.width, $0.opacity) } + legend
        let lx = left + w + 14
        for (i, e) in legend.enumerated() {
            let y = top + upper + 8 + Double(i) * 16
            s += "<line x1=\"\(f(lx))\" x2=\"\(f(lx + 22))\" y1=\"\(f(y))\" y2=\"\(f(y))\" stroke=\"\(e.color)\" stroke-opacity=\"\(e.opacity)\" stroke-width=\"\(max(e.width, 1.5))\"\(e.dashed ? " stroke-dasharray=\"6,4\"" : "")/>\n"
            s += "<text x=\"\(f(lx + 28))\" y=\"\(f(y + 4))\">\(e.name)</text>\n"
        }
        return s
    }
}
