import Foundation

extension SyntheticProfile {
    /// Significant digits kept of every fitted number: far below the sampling noise of any trace (1e-6 relative),
    /// and short enough that a profile reads and diffs well.
    public static let significantDigits = 6

    /// Member order in written profiles (Foundation's encoder does not keep declaration order); keys not
    /// listed follow in alphabetical order.
    static let keyOrder = [
        "schema", "name", "aliases", "source", "notes", "model", "moeLayers", "experts", "topK", "phase", "fittedTokens",
        "calibration", "requests", "perLayer",
        "seed", "rounds", "finalRoundTokens", "maxSelectionShareError", "maxStackDepthShareError", "maxSuccessorShareError",
        "count", "tasks", "task", "share", "promptTokens", "outputTokens", "mean", "min", "max", "quantiles",
        "measured", "generator",
        "selectionShareByRank", "reuse", "stackDepthShare", "successorShare", "meanTopWeight",
        "expertByRank", "propensityByRank", "recencyByStackDepth", "successorRankByRank", "successorBoost",
        "topWeightHistogram", "slotWeightMeans",
    ]

    /// The profile as readable JSON: one member per line, lists of numbers on one line.
    public func jsonText() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let value = try JSONValue.parse(String(decoding: try encoder.encode(self), as: UTF8.self))
        var out = ""
        SyntheticProfile.write(value, indent: 0, to: &out)
        return out + "\n"
    }

    static func write(_ value: JSONValue, indent: Int, to out: inout String) {
        let pad = String(repeating: "  ", count: indent + 1), closing = String(repeating: "  ", count: indent)
        switch value {
        case let .object(members) where !members.isEmpty:
            let rank = { (key: String) in keyOrder.firstIndex(of: key) ?? keyOrder.count }
            let ordered = members.sorted { rank($0.0) != rank($1.0) ? rank($0.0) < rank($1.0) : $0.0 < $1.0 }
            out += "{\n"
            for (i, (key, member)) in ordered.enumerated() {
                out += pad
                JSONValue.writeString(key, to: &out)
                out += ": "
                write(member, indent: indent + 1, to: &out)
                out += i + 1 < ordered.count ? ",\n" : "\n"
            }
            out += closing + "}"
        case let .array(items) where items.contains(where: { if case .object = $0 { return true } else { return false } }):
            out += "[\n"
            for (i, item) in items.enumerated() {
                out += pad
                write(item, indent: indent + 1, to: &out)
                out += i + 1 < items.count ? ",\n" : "\n"
            }
            out += closing + "]"
        case let .array(items):
            out += "[" + items.map(\.serialized).joined(separator: ", ") + "]"
        default:
            value.write(to: &out)
        }
    }

    /// Every fitted number rounded to `significantDigits`, so the profile in memory equals the one written.
    public func rounded() -> SyntheticProfile {
        func r(_ v: Double) -> Double { SyntheticProfile.round(v) }
        func r(_ v: Double?) -> Double? { v.map(SyntheticProfile.round) }
        var copy = self
        for l in copy.perLayer.indices {
            var m = copy.perLayer[l].measured, g = copy.perLayer[l].generator
            m.selectionShareByRank = m.selectionShareByRank.map(r)
            m.reuse = r(m.reuse)
            m.stackDepthShare = m.stackDepthShare.map(r)
            m.successorShare = r(m.successorShare)
            m.meanTopWeight = r(m.meanTopWeight)
            g.propensityByRank = g.propensityByRank.map(r)
            g.recencyByStackDepth = g.recencyByStackDepth.map(r)
            g.successorBoost = r(g.successorBoost)
            g.topWeightHistogram = g.topWeightHistogram?.map(r)
            g.slotWeightMeans = g.slotWeightMeans.map(r)
            copy.perLayer[l] = Layer(measured: m, generator: g)
        }
        for i in copy.requests.tasks.indices { copy.requests.tasks[i].share = r(copy.requests.tasks[i].share) }
        for keyPath in [\Requests.promptTokens, \Requests.outputTokens] {
            guard var d = copy.requests[keyPath: keyPath] else { continue }
            d.mean = r(d.mean)
            d.quantiles = d.quantiles.map(r)
            copy.requests[keyPath: keyPath] = d
        }
        copy.calibration.maxSelectionShareError = r(copy.calibration.maxSelectionShareError)
        copy.calibration.maxStackDepthShareError = r(copy.calibration.maxStackDepthShareError)
        copy.calibration.maxSuccessorShareError = r(copy.calibration.maxSuccessorShareError)
        return copy
    }

    static func round(_ v: Double) -> Double {
        guard v.isFinite, v != 0 else { return v }
        return Double(String(format: "%.\(significantDigits)g", v)) ?? v
    }
}
