import Foundation

/// `sim calibrate`'s printed report: the fitted figures, a row per measurement (simulated with the base and the
/// fitted profiles, measured, error), leave-one-out prediction errors and the warnings.
enum CalibrationReport {
    static func text(_ result: Calibration.Result, rows: [Measurement], setup: Calibration.Setup, simulations: Int) -> String {
        var out = "Calibrating on \(setup.measurementsPath): \(setup.rows.count) row(s), \(result.measuredValues) measured value(s)"
        if let hw = setup.hardware { out += "; hardware \(hw.name)" }
        if let rt = setup.runtime { out += "; runtime \(rt.name) (\(setup.rowsTakingRuntime.count) row(s) use it)" }
        out += "\nFitted \(result.parameters.map(\.name).joined(separator: ", ")) in \(result.iterations) iteration(s), \(simulations) simulation(s)\n\n"

        var table: [[String]] = [["parameter", "base", "fitted", "change", "sensitivity"]]
        for (j, p) in result.parameters.enumerated() {
            table.append([p.name, Calibration.format(result.baseValues[j], p), Calibration.format(result.fittedValues[j], p),
                          percent(result.fittedValues[j] / result.baseValues[j] - 1), String(format: "%.3f", result.sensitivities[j])])
        }
        out += render(table, rightAligned: [1, 2, 3, 4])
        out += "  (sensitivity: largest |d log simulated / d log parameter| over the rows at the fit)\n\n"

        let showHit = rows.contains { $0.hitRate != nil }, showTTFT = rows.contains { $0.ttftSeconds != nil }
        var header = ["line", "run", "measured tok/s", "base sim", "error", "fitted sim", "error"]
        if showTTFT { header += ["TTFT sim / meas"] }
        if showHit { header += ["hit rate sim / meas"] }
        header.append("leave-one-out")
        var rowTable = [header]
        for index in setup.rows {
            let row = rows[index]
            let base = result.base[index]!, fitted = result.fitted[index]!
            var cells = [String(row.line), truncate(row.label, 40), String(format: "%.3f", row.tokensPerSecond),
                         String(format: "%.3f", base.tokensPerSecond), percent(base.tokensPerSecond / row.tokensPerSecond - 1),
                         String(format: "%.3f", fitted.tokensPerSecond), percent(fitted.tokensPerSecond / row.tokensPerSecond - 1)]
            if showTTFT { cells.append(row.ttftSeconds.map { m in (fitted.ttftSeconds.map { String(format: "%.3f", $0) } ?? "-") + " / " + String(format: "%.3f s", m) } ?? "") }
            if showHit { cells.append(row.hitRate.map { m in (fitted.hitRate.map { String(format: "%.3f", $0) } ?? "-") + " / " + String(format: "%.3f", m) } ?? "") }
            cells.append(result.leaveOneOut[index].map(percent) ?? "-")
            rowTable.append(cells)
        }
        out += render(rowTable, rightAligned: [0, 2, 3, 4, 5, 6] + Array(7..<header.count))
        out += "\nResidual: \(String(format: "%.2f", result.rmsLogError)) % RMS log error"
        let loo = result.leaveOneOut.values.map(abs)
        if !loo.isEmpty {
            out += "; leave-one-out prediction: mean |error| \(String(format: "%.1f", 100 * loo.reduce(0, +) / Double(loo.count))) %, "
                + "max \(String(format: "%.1f", 100 * (loo.max() ?? 0))) %"
        } else {
            out += "; leave-one-out: needs 2 rows or more"
        }
        out += "\n"
        if !result.warnings.isEmpty {
            out += "\nWarnings:\n" + result.warnings.map { "  - " + $0 + "\n" }.joined()
        }
        return out
    }

    static func percent(_ fraction: Double) -> String { String(format: "%+.1f %%", 100 * fraction) }

    static func truncate(_ text: String, _ width: Int) -> String { text.count <= width ? text : String(text.prefix(width - 1)) + "…" }

    /// A plain aligned table, two spaces between columns.
    static func render(_ rows: [[String]], rightAligned: [Int]) -> String {
        guard let columns = rows.map(\.count).max() else { return "" }
        let widths = (0..<columns).map { c in rows.map { c < $0.count ? $0[c].count : 0 }.max() ?? 0 }
        return rows.map { row in
            "  " + (0..<columns).map { c in
                let cell = c < row.count ? row[c] : ""
                let pad = String(repeating: " ", count: widths[c] - cell.count)
                return rightAligned.contains(c) ? pad + cell : cell + pad
            }.joined(separator: "  ").replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) + "\n"
        }.joined()
    }
}
