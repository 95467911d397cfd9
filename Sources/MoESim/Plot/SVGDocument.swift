/// A tiny SVG writer: elements in the order they are added, text and attribute values escaped, coordinates
/// with fixed decimals, so the same chart always gives the same bytes.
public struct SVGDocument: Sendable {
    public let widthPixels: Double
    public let heightPixels: Double
    private var elements: [String] = []

    /// Coordinates are written with this many decimals: sub-pixel precision, stable output.
    static let coordinateDecimals = 2

    public init(widthPixels: Double, heightPixels: Double) {
        self.widthPixels = widthPixels
        self.heightPixels = heightPixels
    }

    public enum TextAnchor: String, Sendable { case start, middle, end }

    /// Any element: `attributes` in the given order; `text` (escaped) as its content.
    public mutating func element(_ name: String, _ attributes: [(String, String)], text: String? = nil) {
        var out = "<\(name)"
        for (key, value) in attributes { out += " \(key)=\"\(SVGDocument.escape(value))\"" }
        if let text { out += ">\(SVGDocument.escape(text))</\(name)>" } else { out += "/>" }
        elements.append(out)
    }

    public mutating func comment(_ text: String) {
        elements.append("<!-- \(text.replacingOccurrences(of: "--", with: "- -")) -->")
    }

    public mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: String, stroke: String? = nil, strokeWidth: Double = 1) {
        var attributes = [("x", n(x)), ("y", n(y)), ("width", n(max(0, width))), ("height", n(max(0, height))), ("fill", fill)]
        if let stroke { attributes += [("stroke", stroke), ("stroke-width", n(strokeWidth))] }
        element("rect", attributes)
    }

    public mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, stroke: String, width: Double = 1, dash: String? = nil) {
        var attributes = [("x1", n(x1)), ("y1", n(y1)), ("x2", n(x2)), ("y2", n(y2)), ("stroke", stroke), ("stroke-width", n(width))]
        if let dash { attributes.append(("stroke-dasharray", dash)) }
        element("line", attributes)
    }

    public mutating func polyline(_ points: [(x: Double, y: Double)], stroke: String, width: Double = 2) {
        element("polyline", [("points", SVGDocument.pointList(points)), ("fill", "none"), ("stroke", stroke),
                             ("stroke-width", n(width)), ("stroke-linejoin", "round")])
    }

    public mutating func polygon(_ points: [(x: Double, y: Double)], fill: String, stroke: String? = nil) {
        var attributes = [("points", SVGDocument.pointList(points)), ("fill", fill)]
        if let stroke { attributes.append(("stroke", stroke)) }
        element("polygon", attributes)
    }

    public mutating func circle(cx: Double, cy: Double, radius: Double, fill: String, stroke: String? = nil) {
        var attributes = [("cx", n(cx)), ("cy", n(cy)), ("r", n(radius)), ("fill", fill)]
        if let stroke { attributes.append(("stroke", stroke)) }
        element("circle", attributes)
    }

    /// Text at (x, y) (the baseline); `rotationDegrees` turns it about that point.
    public mutating func text(_ string: String, x: Double, y: Double, sizePixels: Double, anchor: TextAnchor = .start,
                              bold: Bool = false, rotationDegrees: Double? = nil, fill: String = "#222222") {
        var attributes = [("x", n(x)), ("y", n(y)), ("font-size", n(sizePixels)), ("text-anchor", anchor.rawValue), ("fill", fill)]
        if bold { attributes.append(("font-weight", "bold")) }
        if let rotationDegrees { attributes.append(("transform", "rotate(\(n(rotationDegrees)) \(n(x)) \(n(y)))")) }
        element("text", attributes, text: string)
    }

    /// The whole document, with an XML declaration, a white background and a sans-serif default font.
    public func rendered() -> String {
        var out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        out += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(n(widthPixels))\" height=\"\(n(heightPixels))\" "
        out += "viewBox=\"0 0 \(n(widthPixels)) \(n(heightPixels))\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">\n"
        out += "<rect x=\"0\" y=\"0\" width=\"\(n(widthPixels))\" height=\"\(n(heightPixels))\" fill=\"#ffffff\"/>\n"
        for element in elements { out += element + "\n" }
        out += "</svg>\n"
        return out
    }

    /// Escapes the five XML special characters, and drops control characters XML 1.0 forbids.
    public static func escape(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\t", "\n", "\r": out.unicodeScalars.append(scalar)
            default: if scalar.value >= 0x20 { out.unicodeScalars.append(scalar) }
            }
        }
        return out
    }

    /// A coordinate with fixed decimals, trailing zeros trimmed, never "-0".
    public static func number(_ value: Double) -> String {
        guard value.isFinite else { return "0" }
        var text = FixedDecimal.format(value, decimals: coordinateDecimals)
        if text.contains(".") {
            while text.hasSuffix("0") { text.removeLast() }
            if text.hasSuffix(".") { text.removeLast() }
        }
        return text == "-0" ? "0" : text
    }

    private func n(_ value: Double) -> String { SVGDocument.number(value) }

    private static func pointList(_ points: [(x: Double, y: Double)]) -> String {
        points.map { "\(number($0.x)),\(number($0.y))" }.joined(separator: " ")
    }
}

/// Fixed-decimal formatting that does not depend on the locale.
public enum FixedDecimal {
    public static func format(_ value: Double, decimals: Int) -> String {
        guard value.isFinite else { return value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf") }
        let text = String(format: "%.\(max(0, decimals))f", value)
        // "-0.00" reads as a sign error in a table; print zero as zero.
        if text.hasPrefix("-"), text.dropFirst().allSatisfy({ $0 == "0" || $0 == "." }) { return String(text.dropFirst()) }
        return text
    }
}
