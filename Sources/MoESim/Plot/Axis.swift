import Foundation

/// A value axis with "nice" round ticks (1, 2 or 5 times a power of ten), as a person would draw it.
public struct NiceScale: Sendable, Equatable {
    public let lower: Double
    public let upper: Double
    public let step: Double
    /// Logarithmic: ticks at 1, 2 and 5 times powers of ten (1 and 10 only over many decades), positions by log10.
    public var logarithmic = false

    /// About this many intervals between ticks: enough to read values off, few enough not to crowd.
    public static let targetIntervals = 5

    /// Covers `minimum...maximum` (and zero, if asked) with round tick values.
    public init(minimum: Double, maximum: Double, includeZero: Bool, targetIntervals: Int = NiceScale.targetIntervals) {
        var low = includeZero ? min(0, minimum) : minimum
        var high = includeZero ? max(0, maximum) : maximum
        if !low.isFinite || !high.isFinite { low = 0; high = 1 }
        if high - low <= 0 {
            // A single value: open a window around it so the point or bar is visible.
            let pad = low == 0 ? 1 : abs(low) * 0.5
            if low == 0 { high = 1 } else { low -= pad; high += pad }
            if includeZero { low = min(0, low); high = max(0, high) }
        }
        let step = NiceScale.niceStep((high - low) / Double(max(1, targetIntervals)))
        self.step = step
        self.lower = (low / step).rounded(.down) * step
        self.upper = (high / step).rounded(.up) * step
    }

    /// A logarithmic axis over the positive values `minimum...maximum` (non-positive values cannot be drawn on it),
    /// from the power of ten below the smallest to the one at or above the largest.
    public static func logarithmic(minimum: Double, maximum: Double) -> NiceScale {
        let low = minimum > 0 && minimum.isFinite ? minimum : 1
        let high = maximum > low && maximum.isFinite ? maximum : low * 10
        var lower = pow(10, log10(low).rounded(.down))
        // A bar at exactly the lowest power of ten would have no height: start a decade lower.
        if lower >= low * (1 - 1e-12) { lower /= 10 }
        var upper = pow(10, log10(high).rounded(.up))
        if upper <= lower { upper = lower * 10 }
        var scale = NiceScale(minimum: lower, maximum: upper, includeZero: false)
        scale = NiceScale(lower: lower, upper: upper, step: scale.step)
        scale.logarithmic = true
        return scale
    }

    init(lower: Double, upper: Double, step: Double) {
        self.lower = lower
        self.upper = upper
        self.step = step
    }

    /// The smallest of 1, 2, 2.5, 5, 10 times a power of ten that is at least `rough`.
    static func niceStep(_ rough: Double) -> Double {
        guard rough > 0, rough.isFinite else { return 1 }
        let magnitude = pow(10, (log10(rough)).rounded(.down))
        for factor in [1.0, 2.0, 2.5, 5.0, 10.0] where factor * magnitude >= rough * (1 - 1e-12) {
            return factor * magnitude
        }
        return 10 * magnitude
    }

    public var ticks: [Double] {
        if logarithmic {
            let first = Int(log10(lower).rounded()), last = Int(log10(upper).rounded())
            let factors: [Double] = last - first <= 2 ? [1, 2, 5] : [1]
            return (first...last).flatMap { e in factors.map { $0 * pow(10, Double(e)) } }.filter { $0 <= upper * (1 + 1e-12) }
        }
        let count = Int(((upper - lower) / step).rounded())
        return (0...max(0, count)).map { lower + Double($0) * step }
    }

    /// Decimals that show the step exactly (0.25 needs 2, 5 needs 0).
    public var tickDecimals: Int {
        var decimals = 0
        while decimals < 10 {
            let scaled = step * pow(10, Double(decimals))
            if abs(scaled - scaled.rounded()) < 1e-9 * max(1, scaled) { break }
            decimals += 1
        }
        return decimals
    }

    public func tickLabel(_ value: Double) -> String {
        guard logarithmic else { return FixedDecimal.format(value, decimals: tickDecimals) }
        return FixedDecimal.format(value, decimals: max(0, -Int(log10(value).rounded(.down))))
    }

    /// Maps a value to a pixel between `from` (at `lower`) and `to` (at `upper`).
    public func position(_ value: Double, from: Double, to: Double) -> Double {
        if logarithmic {
            let v = max(value, lower)
            return from + (log10(v) - log10(lower)) / (log10(upper) - log10(lower)) * (to - from)
        }
        return from + (value - lower) / (upper - lower) * (to - from)
    }
}

/// Approximate text extents for layout: no font metrics are available, so a generous average glyph width keeps
/// labels from overlapping.
enum TextMetrics {
    /// Average advance of a sans-serif glyph, as a fraction of the font size.
    static let averageGlyphWidthEm = 0.6

    static func widthPixels(_ text: String, sizePixels: Double) -> Double {
        Double(text.count) * sizePixels * averageGlyphWidthEm
    }
}

/// The plot frame shared by line and bar charts: title, axis titles with units, the value axis with ticks and
/// grid lines, and a legend on the right.
struct ChartFrame {
    static let widthPixels = 760.0
    static let heightPixels = 460.0
    static let titleSizePixels = 16.0
    static let minimumTitleSizePixels = 11.0
    static let labelSizePixels = 13.0
    static let tickSizePixels = 11.0
    static let legendSizePixels = 12.0
    static let leftMarginPixels = 84.0
    static let topMarginPixels = 48.0
    static let minimumBottomMarginPixels = 64.0
    static let legendGapPixels = 20.0
    static let legendRowPixels = 20.0
    static let legendSwatchPixels = 26.0
    static let gridColour = "#dddddd"
    static let axisColour = "#333333"

    var svg: SVGDocument
    let plotLeft: Double
    let plotTop: Double
    let plotRight: Double
    let plotBottom: Double
    let legendX: Double

    /// Lays out a chart whose legend has `legendNames` (none: no legend) and whose category labels need
    /// `extraBottomPixels` below the axis.
    init(title: String, xLabel: String, yLabel: String, legendNames: [String], extraBottomPixels: Double = 0) {
        svg = SVGDocument(widthPixels: ChartFrame.widthPixels, heightPixels: ChartFrame.heightPixels)
        let legendWidth = legendNames.isEmpty ? 0
            : ChartFrame.legendSwatchPixels + 8 + (legendNames.map { TextMetrics.widthPixels($0, sizePixels: ChartFrame.legendSizePixels) }.max() ?? 0)
        plotLeft = ChartFrame.leftMarginPixels
        plotTop = ChartFrame.topMarginPixels
        plotRight = ChartFrame.widthPixels - ChartFrame.legendGapPixels - (legendWidth > 0 ? legendWidth + ChartFrame.legendGapPixels : 0)
        plotBottom = ChartFrame.heightPixels - max(ChartFrame.minimumBottomMarginPixels, 44 + extraBottomPixels)
        legendX = plotRight + ChartFrame.legendGapPixels
        // Long titles get a smaller font rather than running off the canvas (bold glyphs are ~10 % wider).
        let titleRoom = ChartFrame.widthPixels - 24
        let titleWidth = TextMetrics.widthPixels(title, sizePixels: ChartFrame.titleSizePixels) * 1.1
        let titleSize = titleWidth > titleRoom ? max(ChartFrame.minimumTitleSizePixels, ChartFrame.titleSizePixels * titleRoom / titleWidth) : ChartFrame.titleSizePixels
        svg.text(title, x: ChartFrame.widthPixels / 2, y: 28, sizePixels: titleSize, anchor: .middle, bold: true)
        svg.text(xLabel, x: (plotLeft + plotRight) / 2, y: ChartFrame.heightPixels - 14, sizePixels: ChartFrame.labelSizePixels, anchor: .middle)
        svg.text(yLabel, x: 22, y: (plotTop + plotBottom) / 2, sizePixels: ChartFrame.labelSizePixels, anchor: .middle, rotationDegrees: -90)
    }

    func y(_ value: Double, _ scale: NiceScale) -> Double { scale.position(value, from: plotBottom, to: plotTop) }

    /// Horizontal grid lines and tick labels of the value axis, then the axis lines.
    mutating func drawValueAxis(_ scale: NiceScale) {
        for tick in scale.ticks {
            let py = y(tick, scale)
            svg.line(x1: plotLeft, y1: py, x2: plotRight, y2: py, stroke: ChartFrame.gridColour)
            svg.line(x1: plotLeft - 5, y1: py, x2: plotLeft, y2: py, stroke: ChartFrame.axisColour)
            svg.text(scale.tickLabel(tick), x: plotLeft - 8, y: py + 4, sizePixels: ChartFrame.tickSizePixels, anchor: .end)
        }
        drawAxisLines()
    }

    mutating func drawAxisLines() {
        svg.line(x1: plotLeft, y1: plotBottom, x2: plotRight, y2: plotBottom, stroke: ChartFrame.axisColour, width: 1.5)
        svg.line(x1: plotLeft, y1: plotTop, x2: plotLeft, y2: plotBottom, stroke: ChartFrame.axisColour, width: 1.5)
    }

    /// One legend row per series: its colour and marker (line charts) or a filled box (bar charts), then its name.
    mutating func drawLegend(_ names: [String], markers: Bool) {
        guard !names.isEmpty else { return }
        let top = plotTop + 4
        let height = Double(names.count) * ChartFrame.legendRowPixels + 8
        let width = ChartFrame.widthPixels - legendX - 8
        svg.rect(x: legendX - 6, y: top - 4, width: width, height: height, fill: "#ffffff", stroke: "#bbbbbb")
        for (index, name) in names.enumerated() {
            let rowY = top + ChartFrame.legendRowPixels * (Double(index) + 0.5)
            let colour = ChartStyle.colour(index)
            if markers {
                svg.line(x1: legendX, y1: rowY, x2: legendX + ChartFrame.legendSwatchPixels - 4, y2: rowY, stroke: colour, width: 2)
                ChartStyle.drawMarker(index, x: legendX + (ChartFrame.legendSwatchPixels - 4) / 2, y: rowY, into: &svg)
            } else {
                svg.rect(x: legendX + 4, y: rowY - 6, width: 14, height: 12, fill: colour, stroke: "#333333", strokeWidth: 0.5)
            }
            svg.text(name, x: legendX + ChartFrame.legendSwatchPixels + 4, y: rowY + 4, sizePixels: ChartFrame.legendSizePixels)
        }
    }
}
