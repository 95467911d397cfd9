import Foundation

/// A grouped bar chart: one group per category along x, one bar per series in each group. Bars start at zero.
/// Missing values (skipped or failed runs) are marked "n/a" instead of a bar.
public struct BarChart: Sendable {
    public struct Series: Sendable {
        public var name: String
        /// One value per category; nil where there is none.
        public var values: [Double?]
        public init(name: String, values: [Double?]) { self.name = name; self.values = values }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    public var categories: [String]
    public var series: [Series]
    /// Decimals of the value printed above each bar (when there is room for it).
    public var valueDecimals: Int
    /// A logarithmic value axis (bars rise from its lowest power of ten), for values spanning orders of magnitude.
    public var logScale = false

    static let valueLabelSizePixels = 10.0
    /// Value labels smaller than this are left out (the axis still gives the value).
    static let minimumValueLabelSizePixels = 7.0
    /// Value labels show about this many significant digits, so they fit above narrow bars.
    static let valueLabelSignificantDigits = 3
    /// Share of a group's slot the bars fill; the rest separates groups.
    static let groupFill = 0.78
    /// Category labels wider than their slot are turned by this angle.
    static let slantDegrees = -32.0
    /// Space above the tallest bar, as a fraction of its height.
    static let headroomFraction = 0.06

    public init(title: String, xLabel: String, yLabel: String, categories: [String], series: [Series], valueDecimals: Int = 2) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.categories = categories
        self.series = series
        self.valueDecimals = valueDecimals
    }

    /// The value printed above a bar: at most `valueDecimals` decimals, fewer for large values.
    func valueLabel(_ value: Double) -> String {
        let integerDigits = abs(value) >= 1 ? Int(log10(abs(value)).rounded(.down)) + 1 : 1
        let decimals = max(0, min(valueDecimals, BarChart.valueLabelSignificantDigits - integerDigits))
        return FixedDecimal.format(value, decimals: decimals)
    }

    /// Slanted labels are parallel lines `slot` apart along x, so sin(slant) x slot apart across: their font is kept
    /// below that, and neighbouring labels never overlap.
    func slantedSize(slot: Double) -> Double {
        min(ChartFrame.tickSizePixels, slot * abs(sin(BarChart.slantDegrees * .pi / 180)) * 0.9)
    }

    public func svg() -> String {
        let legendNames = series.count > 1 ? series.map(\.name) : []
        // Decide whether category labels fit horizontally; a provisional frame gives the plot width.
        let provisional = ChartFrame(title: title, xLabel: xLabel, yLabel: yLabel, legendNames: legendNames)
        let slotWidth = (provisional.plotRight - provisional.plotLeft) / Double(max(1, categories.count))
        let widest = categories.map { TextMetrics.widthPixels($0, sizePixels: ChartFrame.tickSizePixels) }.max() ?? 0
        let slanted = widest > slotWidth * 0.95
        let extraBottom = slanted ? widest * abs(sin(BarChart.slantDegrees * .pi / 180)) + 16 : 0

        var frame = ChartFrame(title: title, xLabel: xLabel, yLabel: yLabel, legendNames: legendNames, extraBottomPixels: extraBottom)
        let values = series.flatMap { $0.values.compactMap { $0 } }
        // Headroom above the tallest bar keeps its value label inside the frame.
        let highest = values.max() ?? 1
        let positive = values.filter { $0 > 0 }
        let scale = logScale ? NiceScale.logarithmic(minimum: positive.min() ?? 1, maximum: (positive.max() ?? 10) * (1 + BarChart.headroomFraction))
            : NiceScale(minimum: values.min() ?? 0, maximum: highest > 0 ? highest * (1 + BarChart.headroomFraction) : highest, includeZero: true)
        frame.drawValueAxis(scale)

        let slot = (frame.plotRight - frame.plotLeft) / Double(max(1, categories.count))
        let barWidth = slot * BarChart.groupFill / Double(max(1, series.count))
        let zeroY = frame.y(logScale ? scale.lower : 0, scale)
        // One font size for every value label, from the longest; none at all when they cannot be read.
        let longest = values.map { valueLabel($0).count }.max() ?? 1
        let fitted = min(BarChart.valueLabelSizePixels, barWidth / (Double(longest) * TextMetrics.averageGlyphWidthEm))
        let labelSize: Double? = fitted >= BarChart.minimumValueLabelSizePixels ? fitted : nil
        for (group, category) in categories.enumerated() {
            let groupLeft = frame.plotLeft + slot * Double(group) + slot * (1 - BarChart.groupFill) / 2
            for (index, bars) in series.enumerated() {
                let x = groupLeft + barWidth * Double(index)
                guard group < bars.values.count, let value = bars.values[group], !logScale || value > 0 else {
                    frame.svg.text("n/a", x: x + barWidth / 2, y: zeroY - 4, sizePixels: 9, anchor: .middle, fill: "#777777")
                    continue
                }
                let top = frame.y(value, scale)
                frame.svg.rect(x: x, y: min(top, zeroY), width: barWidth, height: abs(zeroY - top), fill: ChartStyle.colour(index),
                               stroke: "#333333", strokeWidth: 0.5)
                if let labelSize {
                    frame.svg.text(valueLabel(value), x: x + barWidth / 2, y: min(top, zeroY) - 3, sizePixels: labelSize, anchor: .middle)
                }
            }
            let centre = frame.plotLeft + slot * (Double(group) + 0.5)
            frame.svg.line(x1: centre, y1: frame.plotBottom, x2: centre, y2: frame.plotBottom + 5, stroke: ChartFrame.axisColour)
            if slanted {
                frame.svg.text(category, x: centre, y: frame.plotBottom + 16, sizePixels: slantedSize(slot: slot), anchor: .end,
                               rotationDegrees: BarChart.slantDegrees)
            } else {
                frame.svg.text(category, x: centre, y: frame.plotBottom + 20, sizePixels: ChartFrame.tickSizePixels, anchor: .middle)
            }
        }
        frame.drawAxisLines()
        frame.drawLegend(legendNames, markers: false)
        return frame.svg.rendered()
    }
}
