/// A line chart: one line with markers per series over a shared x axis. The x axis is numeric when every x
/// position is a number (capacities, sizes), categorical otherwise (evenly spaced, in the given order).
public struct LineChart: Sendable {
    public struct Series: Sendable {
        public var name: String
        /// One value per x position; nil where there is none (a skipped run), which breaks the line.
        public var values: [Double?]
        public init(name: String, values: [Double?]) { self.name = name; self.values = values }
    }

    public var title: String
    public var xLabel: String
    public var yLabel: String
    /// The x positions' labels, in order.
    public var xLabels: [String]
    public var series: [Series]
    public var yIncludesZero: Bool
    /// A logarithmic value axis (non-positive values are left out).
    public var logScale = false

    /// Up to this many distinct numeric x positions are each labelled; more get round ticks instead.
    static let maximumLabelledPositions = 12

    public init(title: String, xLabel: String, yLabel: String, xLabels: [String], series: [Series], yIncludesZero: Bool = true) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.xLabels = xLabels
        self.series = series
        self.yIncludesZero = yIncludesZero
    }

    public func svg() -> String {
        let legendNames = series.count > 1 || !(series.first?.name.isEmpty ?? true) ? series.map(\.name) : []
        var frame = ChartFrame(title: title, xLabel: xLabel, yLabel: yLabel, legendNames: legendNames)
        let values = series.flatMap { $0.values.compactMap { $0 } }
        let positive = values.filter { $0 > 0 }
        let yScale = logScale ? NiceScale.logarithmic(minimum: positive.min() ?? 1, maximum: positive.max() ?? 10)
            : NiceScale(minimum: values.min() ?? 0, maximum: values.max() ?? 1, includeZero: yIncludesZero)
        frame.drawValueAxis(yScale)

        let numericX = xLabels.compactMap { Double($0) }
        let isNumeric = !xLabels.isEmpty && numericX.count == xLabels.count
        // Inset the first and last positions from the frame so their markers are not cut by the axis.
        let inset = 24.0
        let left = frame.plotLeft + inset, right = frame.plotRight - inset
        var xPositions: [Double] = []
        if isNumeric {
            let lowest = numericX.min()!, highest = numericX.max()!
            let span = highest > lowest ? highest - lowest : 1
            xPositions = numericX.map { left + ($0 - lowest) / span * (right - left) }
            if xLabels.count <= LineChart.maximumLabelledPositions {
                for (label, px) in zip(xLabels, xPositions) { drawXTick(label, at: px, frame: &frame) }
            } else {
                let xScale = NiceScale(minimum: lowest, maximum: highest, includeZero: false)
                for tick in xScale.ticks where tick >= lowest && tick <= highest {
                    drawXTick(xScale.tickLabel(tick), at: left + (tick - lowest) / span * (right - left), frame: &frame)
                }
            }
        } else {
            let count = Double(max(1, xLabels.count - 1))
            xPositions = xLabels.indices.map { xLabels.count == 1 ? (left + right) / 2 : left + Double($0) / count * (right - left) }
            for (label, px) in zip(xLabels, xPositions) { drawXTick(label, at: px, frame: &frame) }
        }

        for (index, line) in series.enumerated() {
            var segment: [(x: Double, y: Double)] = []
            var points: [(x: Double, y: Double)] = []
            func flush() {
                if segment.count > 1 { frame.svg.polyline(segment, stroke: ChartStyle.colour(index)) }
                segment = []
            }
            for (position, value) in zip(xPositions, line.values) {
                guard let value, !logScale || value > 0 else { flush(); continue }
                let point = (x: position, y: frame.y(value, yScale))
                segment.append(point)
                points.append(point)
            }
            flush()
            for point in points { ChartStyle.drawMarker(index, x: point.x, y: point.y, into: &frame.svg) }
        }
        frame.drawLegend(legendNames, markers: true)
        return frame.svg.rendered()
    }

    private func drawXTick(_ label: String, at x: Double, frame: inout ChartFrame) {
        frame.svg.line(x1: x, y1: frame.plotBottom, x2: x, y2: frame.plotBottom + 5, stroke: ChartFrame.axisColour)
        frame.svg.text(label, x: x, y: frame.plotBottom + 20, sizePixels: ChartFrame.tickSizePixels, anchor: .middle)
    }
}
