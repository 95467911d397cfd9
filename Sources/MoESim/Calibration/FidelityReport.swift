import Foundation

/// The fidelity study as a Markdown report (printed and written as report.md), as JSON (--json, results.json) and
/// as a log-log scatter of simulated against measured tokens/s.
enum FidelityReport {
    static let scatterFile = "fidelity.svg"

    static func markdown(_ study: FidelityStudy, command: String) -> String {
        var out = "# Fidelity: simulated vs published measurements\n\n"
        out += "Every row of every measurements file, simulated with the shipped presets (decode tokens/s; error = simulated / measured - 1).\n"
        out += "Regenerate with: `\(command)`\n\n"
        out += "| source | rows | simulated | mean abs error | max abs error | within 10 % |\n|---|---:|---:|---:|---:|---:|\n"
        for source in study.sources {
            let errors = source.errors
            out += "| \(source.file.name) | \(source.cells.count) | \(errors.count) | \(pct(source.meanAbsoluteError)) | \(pct(source.maxAbsoluteError)) | "
                + "\(errors.filter { abs($0) <= 0.1 }.count) of \(errors.count) |\n"
        }
        let all = study.errors
        out += "| **all** | \(study.sources.reduce(0) { $0 + $1.cells.count }) | \(all.count) | \(pct(FidelityStudy.meanAbsolute(all))) | "
            + "\(pct(all.map(abs).max())) | \(all.filter { abs($0) <= 0.1 }.count) of \(all.count) |\n\n"
        out += "![simulated vs measured](\(scatterFile))\n\n"
        for source in study.sources {
            out += "## \(source.file.name)\n\nSource: \(source.file.citation)\n\n"
            out += "| line | run | measured tok/s | simulated tok/s | error | hit rate (sim) |\n|---:|---|---:|---:|---:|---:|\n"
            for cell in source.cells {
                let sim = cell.simulated.map { String(format: "%.3f", $0.tokensPerSecond) } ?? "skipped"
                let hit = cell.simulated?.hitRate.map { String(format: "%.1f %%", 100 * $0) } ?? ""
                out += "| \(cell.row.line) | \(cell.row.label) | \(String(format: "%.3f", cell.row.tokensPerSecond)) | \(sim) | \(signed(cell.error)) | \(hit) |\n"
            }
            let skipped = Set(source.cells.compactMap(\.skipped))
            if !skipped.isEmpty { out += "\nSkipped rows: " + skipped.sorted().joined(separator: "; ") + "\n" }
            out += "\nMean absolute error \(pct(source.meanAbsoluteError)), largest \(pct(source.maxAbsoluteError)).\n\n"
            if !source.onePoint.isEmpty { out += onePoint(source, parameters: study.onePointParameters) }
        }
        return out
    }

    static func onePoint(_ source: FidelityStudy.Source, parameters: [CalibrationParameter]) -> String {
        var out = "### One-point calibration\n\nFor each group, only \(parameters.map(\.name).joined(separator: " and ")) are fitted, on the group's anchor row alone "
        out += "(`sim calibrate --group G --fit \(parameters.map(\.name).joined(separator: ","))` restricted to that row); the group's other rows are then predicted. "
        out += "With one measured value and \(parameters.count) parameters the fit is underdetermined: it makes the smallest change that matches "
        out += "in log space (each parameter moves in proportion to its influence), so it tests whether one measured run fixes the rest of the column.\n\n"
        out += "| group | anchor (line) | " + parameters.map { "\($0.name) preset -> fitted" }.joined(separator: " | ")
            + " | anchor error before -> after | predicted rows: error before -> after | mean abs error after | max abs |\n"
        out += "|---|---|" + parameters.map { _ in "---|" }.joined() + "---|---|---:|---:|\n"
        for group in source.onePoint {
            let values = zip(parameters.indices, parameters).map { j, p in
                "\(Calibration.format(group.baseValues[j], p)) -> \(Calibration.format(group.fittedValues[j], p))"
            }
            let predictions = group.predictions.map { "\(shortLabel($0.row)): \(signed($0.before)) -> \(signed($0.after))" }.joined(separator: "; ")
            out += "| \(group.group) | \(shortLabel(group.anchor)) (\(group.anchor.line)) | " + values.joined(separator: " | ")
                + " | \(signed(group.anchorBefore)) -> \(signed(group.anchorAfter)) | \(predictions) | \(pct(group.meanAbsoluteError)) | \(pct(group.maxAbsoluteError)) |\n"
        }
        let after = source.onePoint.flatMap { $0.predictions.map(\.after) }
        let before = source.onePoint.flatMap { $0.predictions.map(\.before) }
        out += "\nPredicted rows: mean absolute error \(pct(FidelityStudy.meanAbsolute(before))) with the presets, \(pct(FidelityStudy.meanAbsolute(after))) after the "
            + "one-point calibration; \(after.filter { abs($0) <= 0.1 }.count) of \(after.count) within 10 %.\n"
        let warnings = Set(source.onePoint.flatMap(\.warnings)).sorted()
        if !warnings.isEmpty { out += "\nFit notes: " + warnings.joined(separator: "; ") + ".\n" }
        return out + "\n"
    }

    /// The note up to its first comma (Table 2's row name), else the whole label.
    static func shortLabel(_ row: Measurement) -> String { row.label.split(separator: ",").first.map(String.init) ?? row.label }

    static func pct(_ v: Double?) -> String { v.map { String(format: "%.1f %%", 100 * $0) } ?? "-" }
    static func signed(_ v: Double?) -> String { v.map { String(format: "%+.1f %%", 100 * $0) } ?? "-" }

    static func number(_ v: Double?) -> JSONValue { v.map { .number($0) } ?? .null }
    static func count(_ n: Int) -> JSONValue { .number(Double(n)) }

    static func json(_ cell: FidelityStudy.Cell) -> JSONValue {
        var members: [(String, JSONValue)] = [("line", count(cell.row.line)), ("label", .string(cell.row.label))]
        members.append(("options", .string(cell.row.options.joined(separator: " "))))
        members.append(("measuredTokensPerSecond", .number(cell.row.tokensPerSecond)))
        members.append(("simulatedTokensPerSecond", number(cell.simulated?.tokensPerSecond)))
        members.append(("error", number(cell.error)))
        members.append(("simulatedHitRate", number(cell.simulated?.hitRate)))
        members.append(("skipped", cell.skipped.map { JSONValue.string($0) } ?? .null))
        return .object(members)
    }

    static func json(_ p: FidelityStudy.Prediction) -> JSONValue {
        let members: [(String, JSONValue)] = [("line", count(p.row.line)), ("label", .string(p.row.label)), ("measured", .number(p.row.tokensPerSecond)),
                                              ("simulated", .number(p.simulated)), ("errorBefore", .number(p.before)), ("errorAfter", .number(p.after))]
        return .object(members)
    }

    static func json(_ group: FidelityStudy.OnePoint) -> JSONValue {
        let fitted: [(String, JSONValue)] = zip(group.parameters, group.fittedValues).map { ($0.name, JSONValue.number($1)) }
        let preset: [(String, JSONValue)] = zip(group.parameters, group.baseValues).map { ($0.name, JSONValue.number($1)) }
        var members: [(String, JSONValue)] = [("group", .string(group.group)), ("anchorLine", count(group.anchor.line)), ("hardware", .string(group.hardware))]
        members.append(("fitted", .object(fitted)))
        members.append(("preset", .object(preset)))
        members.append(("anchorErrorBefore", .number(group.anchorBefore)))
        members.append(("anchorErrorAfter", .number(group.anchorAfter)))
        members.append(("predictions", .array(group.predictions.map(json))))
        members.append(("meanAbsoluteError", number(group.meanAbsoluteError)))
        members.append(("maxAbsoluteError", number(group.maxAbsoluteError)))
        members.append(("warnings", .array(group.warnings.map { JSONValue.string($0) })))
        return .object(members)
    }

    static func json(_ source: FidelityStudy.Source) -> JSONValue {
        var members: [(String, JSONValue)] = [("name", .string(source.file.name)), ("file", .string(source.file.path)), ("citation", .string(source.file.citation))]
        members.append(("rows", count(source.cells.count)))
        members.append(("simulated", count(source.errors.count)))
        members.append(("meanAbsoluteError", number(source.meanAbsoluteError)))
        members.append(("maxAbsoluteError", number(source.maxAbsoluteError)))
        members.append(("cells", .array(source.cells.map(json))))
        members.append(("onePoint", .array(source.onePoint.map(json))))
        return .object(members)
    }

    static func json(_ study: FidelityStudy) -> JSONValue {
        let onePoint = study.onePointErrors
        var members: [(String, JSONValue)] = [("schema", .string("moe-sim/fidelity/1"))]
        members.append(("rows", count(study.sources.reduce(0) { $0 + $1.cells.count })))
        members.append(("simulated", count(study.errors.count)))
        members.append(("meanAbsoluteError", number(FidelityStudy.meanAbsolute(study.errors))))
        members.append(("maxAbsoluteError", number(study.errors.map(abs).max())))
        members.append(("onePointParameters", .array(study.onePointParameters.map { JSONValue.string($0.name) })))
        members.append(("onePointMeanAbsoluteError", number(FidelityStudy.meanAbsolute(onePoint))))
        members.append(("onePointMaxAbsoluteError", number(onePoint.map(abs).max())))
        members.append(("sources", .array(study.sources.map(json))))
        return .object(members)
    }

    static func scatter(_ study: FidelityStudy) -> String {
        let series = study.sources.map { source in
            ScatterChart.Series(name: source.file.name, points: source.cells.compactMap { cell in cell.simulated.map { (x: cell.row.tokensPerSecond, y: $0.tokensPerSecond) } })
        }
        return ScatterChart(title: "Simulated vs measured decode tokens/s (shipped presets), one marker per source",
                            xLabel: "measured decode tokens/s (log)", yLabel: "simulated decode tokens/s (log)", series: series).svg()
    }
}
