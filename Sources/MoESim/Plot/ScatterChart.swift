import Foundation

/// A log-log scatter of simulated against measured values: one marker shape and colour per series, the line y = x,
/// and dashed lines at +-`band` around it. Ticks at 1, 2 and 5 times powers of ten.
public struct ScatterChart: Sendable {
    public struct Series: Sendable {
        public var name: String
        public var points: [(x: Double, y: Double)]
        public init(name: String, points: [(x: Double, y: Double)]) { self.name = name; self.points = points }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var series: [Series]
    /// Relative band drawn around y = x (0.1: +-10 %).
    public var band: Double

    public init(title: String, xLabel: String, yLabel: String, series: [Series], band: Double = 0.1) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.series = series
        self.band = band
    }

    public func svg() -> String {
        let bandName = "y = x \u{00B1} \(JSONValue.format(100 * band)) %"
        let names = series.map(\.name) + ["y = x", bandName]
        var frame = ChartFrame(title: title, xLabel: xLabel, yLabel: yLabel, legendNames: names)
        let values = series.flatMap { $0.points.flatMap { [$0.x, $0.y] } }.filter { $0 > 0 && $0.isFinite }
        var low = (values.min() ?? 1) / 1.3, high = (values.max() ?? 10) * 1.3
        if high / low < 3 { let mid = sqrt(low * high); low = mid / 1.8; high = mid * 1.8 }
        let (lo, hi) = (log10(low), log10(high))
        func px(_ v: Double) -> Double { frame.plotLeft + (log10(v) - lo) / (hi - lo) * (frame.plotRight - frame.plotLeft) }
        func py(_ v: Double) -> Double { frame.plotBottom - (log10(v) - lo) / (hi - lo) * (frame.plotBottom - frame.plotTop) }
        for tick in ScatterChart.ticks(low: low, high: high) {
            let label = ScatterChart.label(tick)
            frame.svg.line(x1: frame.plotLeft, y1: py(tick), x2: frame.plotRight, y2: py(tick), stroke: ChartFrame.gridColour)
            frame.svg.line(x1: px(tick), y1: frame.plotTop, x2: px(tick), y2: frame.plotBottom, stroke: ChartFrame.gridColour)
            frame.svg.text(label, x: frame.plotLeft - 8, y: py(tick) + 4, sizePixels: ChartFrame.tickSizePixels, anchor: .end)
            frame.svg.text(label, x: px(tick), y: frame.plotBottom + 18, sizePixels: ChartFrame.tickSizePixels, anchor: .middle)
        }
        frame.drawAxisLines()
        let lineColour = "#555555"
        frame.svg.line(x1: px(low), y1: py(low), x2: px(high), y2: py(high), stroke: lineColour, width: 1.5)
        for factor in [1 + band, 1 - band] {
            // y = factor * x, clipped to the plot.
            let x0 = max(low, low / factor), x1 = min(high, high / factor)
            frame.svg.line(x1: px(x0), y1: py(x0 * factor), x2: px(x1), y2: py(x1 * factor), stroke: lineColour, width: 1, dash: "5,4")
        }
        for (index, s) in series.enumerated() {
            for point in s.points where point.x > 0 && point.y > 0 {
                ChartStyle.drawMarker(index, x: px(point.x), y: py(point.y), into: &frame.svg)
            }
        }
        // Legend: markers for the series, then the reference lines.
        frame.drawLegend(series.map(\.name), markers: true)
        let top = frame.plotTop + 4 + ChartFrame.legendRowPixels * Double(series.count) + 16
        frame.svg.rect(x: frame.legendX - 6, y: top - 4, width: ChartFrame.widthPixels - frame.legendX - 8, height: 2 * ChartFrame.legendRowPixels + 8,
                       fill: "#ffffff", stroke: "#bbbbbb")
        for (row, (offset, dash)) in [(series.count, nil as String?), (series.count + 1, "5,4")].enumerated() {
            let rowY = top + ChartFrame.legendRowPixels * (Double(row) + 0.5)
            frame.svg.line(x1: frame.legendX, y1: rowY, x2: frame.legendX + ChartFrame.legendSwatchPixels - 4, y2: rowY, stroke: lineColour, width: 1.5, dash: dash)
            frame.svg.text(names[offset], x: frame.legendX + ChartFrame.legendSwatchPixels + 4, y: rowY + 4, sizePixels: ChartFrame.legendSizePixels)
        }
        return frame.svg.rendered()
    }

    /// 1, 2, 5 x 10^k inside [low, high].
    static func ticks(low: Double, high: Double) -> [Double] {
        var out: [Double] = []
        var exponent = floor(log10(low))
        while pow(10, exponent) <= high * 10 {
            for m in [1.0, 2.0, 5.0] {
                let v = m * pow(10, exponent)
                if v >= low && v <= high { out.append(v) }
            }
            exponent += 1
        }
        return out
    }

    static func label(_ v: Double) -> String {
        v >= 1 ? JSONValue.format(v) : FixedDecimal.format(v, decimals: max(0, Int(ceil(-log10(v)))))
    }
}
