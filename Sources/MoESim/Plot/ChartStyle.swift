/// Series colours and markers. Colours are the Okabe-Ito palette (distinguishable with the common colour-vision
/// deficiencies); every series also gets its own marker shape, so charts survive grey-scale printing.
enum ChartStyle {
    static let palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#999933"]
    static let markerRadiusPixels = 4.5

    static func colour(_ index: Int) -> String { palette[index % palette.count] }

    enum Marker: CaseIterable { case circle, square, triangleUp, diamond, triangleDown, cross }

    static func marker(_ index: Int) -> Marker { Marker.allCases[index % Marker.allCases.count] }

    static func drawMarker(_ index: Int, x: Double, y: Double, into svg: inout SVGDocument) {
        let r = markerRadiusPixels
        let fill = colour(index)
        switch marker(index) {
        case .circle: svg.circle(cx: x, cy: y, radius: r, fill: fill, stroke: "#ffffff")
        case .square: svg.rect(x: x - r, y: y - r, width: 2 * r, height: 2 * r, fill: fill, stroke: "#ffffff")
        case .triangleUp: svg.polygon([(x, y - r * 1.2), (x + r * 1.1, y + r * 0.8), (x - r * 1.1, y + r * 0.8)], fill: fill, stroke: "#ffffff")
        case .diamond: svg.polygon([(x, y - r * 1.3), (x + r * 1.1, y), (x, y + r * 1.3), (x - r * 1.1, y)], fill: fill, stroke: "#ffffff")
        case .triangleDown: svg.polygon([(x, y + r * 1.2), (x + r * 1.1, y - r * 0.8), (x - r * 1.1, y - r * 0.8)], fill: fill, stroke: "#ffffff")
        case .cross:
            svg.line(x1: x - r, y1: y - r, x2: x + r, y2: y + r, stroke: fill, width: 2.5)
            svg.line(x1: x - r, y1: y + r, x2: x + r, y2: y - r, stroke: fill, width: 2.5)
        }
    }
}
