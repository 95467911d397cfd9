import Foundation

/// A compact picture of a few passes' schedule in the manner of AdapMoE's Fig. 1(c) (papers.md §1.3): one row per
/// resource (GPU, H2D, D2H, and the CPU where a miss policy ran experts there), bars coloured by kind, a time axis in milliseconds, pass boundaries and a legend.
public enum TimelineSVG {
    static let widthPixels = 1000.0
    static let leftMarginPixels = 150.0
    static let rightMarginPixels = 20.0
    static let topMarginPixels = 58.0
    static let rowPixels = 34.0
    static let rowGapPixels = 12.0
    static let barLabelSizePixels = 9.0

    /// Bar kinds in legend order, with their colours (Okabe-Ito, `ChartStyle.palette`).
    enum BarKind: CaseIterable {
        case attention, expert, otherCompute, stall, onDemand, prefetch, writeBack, cpuExpert

        var label: String {
            switch self {
            case .attention: return "attention"
            case .expert: return "expert compute"
            case .otherCompute: return "other compute"
            case .stall: return "GPU stall"
            case .onDemand: return "on-demand load"
            case .prefetch: return "prefetch"
            case .writeBack: return "write-back"
            case .cpuExpert: return "CPU expert"
            }
        }

        var colour: String {
            switch self {
            case .attention: return "#0072B2"
            case .expert: return "#009E73"
            case .otherCompute: return "#999933"
            case .stall: return "#D55E00"
            case .onDemand: return "#E69F00"
            case .prefetch: return "#56B4E9"
            case .writeBack: return "#CC79A7"
            case .cpuExpert: return "#000000"
            }
        }

        init?(_ kind: TimelineSlice.Kind) {
            switch kind {
            case .pass: return nil
            case .compute(.attention): self = .attention
            case .compute(.expert): self = .expert
            case .compute: self = .otherCompute
            case .stall: self = .stall
            case .transfer(.onDemand): self = .onDemand
            case .transfer(.prefetch): self = .prefetch
            case .transfer(.writeBack): self = .writeBack
            case .cpuExpert: self = .cpuExpert
            }
        }
    }

    /// The passes of `passes` (those recorded) as an SVG document.
    public static func render(_ timeline: TimelineRecorder, passes: PassRange) -> String {
        let passSlices = timeline.slices(on: .passes).filter { passes.contains($0.pass) }
        // The CPU row only where a miss policy ran experts there in these passes.
        let usesCPU = timeline.slices.contains { $0.track == .cpu && passes.contains($0.pass) }
        let rows = timeline.trackNames.filter { $0.track != .passes && ($0.track != .cpu || usesCPU) }
        let rowTracks = rows.map(\.track)
        let shown = timeline.slices.filter { $0.track != .passes && passes.contains($0.pass) && rowTracks.contains($0.track) }
        let origin = passSlices.first?.start ?? shown.map(\.start).min() ?? 0
        let finish = max(passSlices.last?.end ?? origin, shown.map(\.end).max() ?? origin)
        let durationMs = max((finish - origin) * 1e3, 1e-9)
        // Round ticks, but the axis spans exactly the recorded time (a rounded-up axis would leave an empty band).
        let scale = NiceScale(minimum: 0, maximum: durationMs, includeZero: true, targetIntervals: 10)

        let plotLeft = leftMarginPixels, plotRight = widthPixels - rightMarginPixels
        let plotTop = topMarginPixels
        let plotBottom = plotTop + Double(rows.count) * (rowPixels + rowGapPixels)
        let legendTop = plotBottom + 52
        let height = legendTop + 34
        var svg = SVGDocument(widthPixels: widthPixels, heightPixels: height)
        func xMs(_ ms: Double) -> Double { plotLeft + ms / durationMs * (plotRight - plotLeft) }
        func x(_ seconds: Double) -> Double { xMs((seconds - origin) * 1e3) }

        let heading = "Schedule of " + (passes.count == 1 ? "pass \(passes.first)" : "passes \(passes)")
        svg.text(heading, x: widthPixels / 2, y: 22, sizePixels: 15, anchor: .middle, bold: true)
        let subtitleSize = min(11, (widthPixels - 24) / (Double(timeline.title.count) * TextMetrics.averageGlyphWidthEm))
        svg.text(timeline.title, x: widthPixels / 2, y: 40, sizePixels: subtitleSize, anchor: .middle, fill: "#555555")

        // Time grid first, so bars sit on top of it.
        for tick in scale.ticks where tick <= durationMs * (1 + 1e-9) {
            let px = xMs(tick)
            svg.line(x1: px, y1: plotTop - 4, x2: px, y2: plotBottom, stroke: "#e4e4e4")
            svg.line(x1: px, y1: plotBottom, x2: px, y2: plotBottom + 5, stroke: "#333333")
            svg.text(scale.tickLabel(tick), x: px, y: plotBottom + 18, sizePixels: 11, anchor: .middle)
        }
        svg.text("simulated time (ms)", x: (plotLeft + plotRight) / 2, y: plotBottom + 36, sizePixels: 12, anchor: .middle)

        for (index, row) in rows.enumerated() {
            let top = plotTop + Double(index) * (rowPixels + rowGapPixels)
            svg.rect(x: plotLeft, y: top, width: plotRight - plotLeft, height: rowPixels, fill: "#f7f7f7", stroke: "#cccccc", strokeWidth: 0.5)
            let label = timeline.shortName(row.track)
            svg.text(label, x: plotLeft - 8, y: top + rowPixels / 2 + 4, sizePixels: 12, anchor: .end)
            for slice in shown where slice.track == row.track {
                guard let kind = BarKind(slice.kind) else { continue }
                let left = x(slice.start), right = x(min(slice.end, finish))
                // Thin bars get no outline, which would hide their colour.
                svg.rect(x: left, y: top + 3, width: max(0.5, right - left), height: rowPixels - 6, fill: kind.colour,
                         stroke: right - left >= 3 ? "#ffffff" : nil, strokeWidth: 0.5)
                // Name experts where the bar has room: "E3" (with its layer when wider).
                if let expert = slice.expert, kind != .stall {
                    for text in ["L\(slice.layer ?? 0)/E\(expert)", "E\(expert)"] where TextMetrics.widthPixels(text, sizePixels: barLabelSizePixels) + 2 < right - left {
                        svg.text(text, x: (left + right) / 2, y: top + rowPixels / 2 + 3, sizePixels: barLabelSizePixels, anchor: .middle, fill: "#ffffff")
                        break
                    }
                }
            }
        }
        // Pass boundaries.
        for slice in passSlices {
            let px = x(slice.start), width = x(slice.end) - px
            svg.line(x1: px, y1: plotTop - 14, x2: px, y2: plotBottom, stroke: "#333333", width: 1, dash: "4 3")
            // The pass's full name where it fits, else its number.
            for text in [slice.name, "pass \(slice.pass)"] where TextMetrics.widthPixels(text, sizePixels: 10) + 6 < width {
                svg.text(text, x: px + 3, y: plotTop - 6, sizePixels: 10, fill: "#333333")
                break
            }
        }
        svg.line(x1: plotLeft, y1: plotBottom, x2: plotRight, y2: plotBottom, stroke: "#333333", width: 1.5)

        // Legend: one row below the axis, kinds present only.
        let present = BarKind.allCases.filter { kind in shown.contains { BarKind($0.kind) == kind } }
        var legendX = plotLeft
        for kind in present {
            svg.rect(x: legendX, y: legendTop, width: 14, height: 12, fill: kind.colour, stroke: "#333333", strokeWidth: 0.5)
            svg.text(kind.label, x: legendX + 19, y: legendTop + 10, sizePixels: 12)
            legendX += 19 + TextMetrics.widthPixels(kind.label, sizePixels: 12) + 18
        }
        return svg.rendered()
    }
}
