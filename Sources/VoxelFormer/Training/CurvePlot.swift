import Foundation

/// A small SVG line chart, so a run folder shows its loss and accuracy curves without Python.
public struct CurvePlot {
    public struct Series {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public var color: String
        public init(name: String, points: [(x: Double, y: Double)], color: String) {
            self.name = name
            self.points = points
            self.color = color
        }
    }
    public struct Panel {
        public var title: String
        public var xLabel: String
        public var series: [Series]
        public init(title: String, xLabel: String, series: [Series]) {
            self.title = title
            self.xLabel = xLabel
            self.series = series
        }
    }

    public var panels: [Panel]
    public init(panels: [Panel]) { self.panels = panels }

    public func svg(width: Int = 520, panelHeight: Int = 260) -> String {
        var out = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(width)\" height=\"\(panelHeight * panels.count)\" font-family=\"sans-serif\" font-size=\"11\">\n"
        out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        for (i, panel) in panels.enumerated() {
            out += draw(panel, top: Double(i * panelHeight), width: Double(width), height: Double(panelHeight))
        }
        return out + "</svg>\n"
    }

    private func draw(_ p: Panel, top: Double, width: Double, height: Double) -> String {
        let (left, right, upper, lower) = (55.0, 15.0, 25.0, 35.0)
        let all = p.series.flatMap(\.points).filter { $0.y.isFinite }
        guard let xMin = all.map(\.x).min(), let xMax = all.map(\.x).max(),
              var yMin = all.map(\.y).min(), var yMax = all.map(\.y).max() else {
            return "<text x=\"\(left)\" y=\"\(top + 20)\">\(p.title): no data</text>\n"
        }
        if yMax == yMin { yMax += 0.5; yMin -= 0.5 }
        let w = width - left - right, h = height - upper - lower
        func px(_ x: Double) -> Double { left + (xMax == xMin ? 0.5 : (x - xMin) / (xMax - xMin)) * w }
        func py(_ y: Double) -> Double { top + upper + (1 - (y - yMin) / (yMax - yMin)) * h }
        var s = "<text x=\"\(left)\" y=\"\(top + 16)\" font-size=\"13\">\(p.title)</text>\n"
        s += "<rect x=\"\(left)\" y=\"\(top + upper)\" width=\"\(w)\" height=\"\(h)\" fill=\"none\" stroke=\"#999\"/>\n"
        for k in 0...4 {
            let y = yMin + (yMax - yMin) * Double(k) / 4
            s += "<text x=\"\(left - 5)\" y=\"\(py(y) + 4)\" text-anchor=\"end\">\(String(format: "%.3g", y))</text>\n"
        }
        s += "<text x=\"\(left)\" y=\"\(top + height - 8)\">\(String(format: "%.0f", xMin))</text>\n"
        s += "<text x=\"\(left + w)\" y=\"\(top + height - 8)\" text-anchor=\"end\">\(String(format: "%.0f", xMax))</text>\n"
        s += "<text x=\"\(left + w / 2)\" y=\"\(top + height - 8)\" text-anchor=\"middle\">\(p.xLabel)</text>\n"
        for (i, series) in p.series.enumerated() {
            let pts = series.points.filter { $0.y.isFinite }
            guard !pts.isEmpty else { continue }
            let path = pts.map { String(format: "%.1f,%.1f", px($0.x), py($0.y)) }.joined(separator: " ")
            s += "<polyline fill=\"none\" stroke=\"\(series.color)\" stroke-width=\"1.5\" points=\"\(path)\"/>\n"
            if pts.count == 1 { s += "<circle cx=\"\(px(pts[0].x))\" cy=\"\(py(pts[0].y))\" r=\"3\" fill=\"\(series.color)\"/>\n" }
            s += "<text x=\"\(left + w - 5)\" y=\"\(top + upper + 14 + Double(i) * 13)\" text-anchor=\"end\" fill=\"\(series.color)\">\(series.name)</text>\n"
        }
        return s
    }
}
