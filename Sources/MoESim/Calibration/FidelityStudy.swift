import Foundation

/// Every published measurement the project ships, simulated with the shipped presets: the error per row and per
/// source, and a one-point calibration per group (fit a few device figures on the group's anchor row only, then
/// predict the group's other rows).
public struct FidelityStudy: Sendable {
    public struct Cell: Sendable {
        public var row: Measurement
        public var simulated: SimulatedRun?
        /// Why the row was not simulated (a shared trace is absent).
        public var skipped: String?
        public var error: Double? { simulated.map { $0.tokensPerSecond / row.tokensPerSecond - 1 } }
    }

    public struct Prediction: Sendable {
        public var row: Measurement
        /// Relative error with the shipped presets, then with the one-point calibration.
        public var before: Double
        public var after: Double
        public var simulated: Double
    }

    public struct OnePoint: Sendable {
        public var group: String
        public var anchor: Measurement
        public var hardware: String
        public var parameters: [CalibrationParameter]
        public var baseValues: [Double]
        public var fittedValues: [Double]
        public var anchorBefore: Double
        public var anchorAfter: Double
        public var predictions: [Prediction]
        public var warnings: [String]
        public var meanAbsoluteError: Double? { FidelityStudy.meanAbsolute(predictions.map(\.after)) }
        public var maxAbsoluteError: Double? { predictions.map { abs($0.after) }.max() }
    }

    public struct Source: Sendable {
        public var file: MeasurementFile
        public var cells: [Cell]
        public var onePoint: [OnePoint]
        public var errors: [Double] { cells.compactMap(\.error) }
        public var meanAbsoluteError: Double? { FidelityStudy.meanAbsolute(errors) }
        public var maxAbsoluteError: Double? { errors.map(abs).max() }
    }

    public var sources: [Source]
    public var onePointParameters: [CalibrationParameter]

    public var errors: [Double] { sources.flatMap(\.errors) }
    public var onePointErrors: [Double] { sources.flatMap { $0.onePoint.flatMap { $0.predictions.map(\.after) } } }

    static func meanAbsolute(_ values: [Double]) -> Double? { values.isEmpty ? nil : values.reduce(0) { $0 + abs($1) } / Double(values.count) }

    public static func run(files: [MeasurementFile], sharedDirectory: String, traceOverride: String?, jobs: Int,
                           onePointParameters: [CalibrationParameter]) throws -> FidelityStudy {
        var sources: [Source] = []
        for file in files {
            var cells: [Cell] = file.rows.map { row in
                let missing = row.sharedFiles(sharedDirectory: sharedDirectory, traceOverride: traceOverride).filter { !FileManager.default.fileExists(atPath: $0) }
                return Cell(row: row, simulated: nil, skipped: missing.isEmpty ? nil : "needs \(missing.joined(separator: ", ")), absent")
            }
            let runnable = cells.indices.filter { cells[$0].skipped == nil }
            var onePoint: [OnePoint] = []
            if !runnable.isEmpty {
                let rows = runnable.map { cells[$0].row }
                let runner = try MeasurementRunner(rows: rows, sharedDirectory: sharedDirectory, traceOverride: traceOverride, jobs: jobs)
                let asGiven = try runner.simulate(.init(hardware: nil, runtime: nil, rowsTakingRuntime: []))
                for (position, index) in runnable.enumerated() { cells[index].simulated = asGiven[position] }
                if !onePointParameters.isEmpty {
                    onePoint = try calibrateGroups(runner: runner, asGiven: asGiven, file: file, parameters: onePointParameters)
                }
            }
            sources.append(Source(file: file, cells: cells, onePoint: onePoint))
        }
        return FidelityStudy(sources: sources, onePointParameters: onePointParameters)
    }

    /// For each group with an anchor row: fit `parameters` on the anchor alone, predict the group's other rows.
    static func calibrateGroups(runner: MeasurementRunner, asGiven: [Int: SimulatedRun], file: MeasurementFile,
                                parameters: [CalibrationParameter]) throws -> [OnePoint] {
        let rows = runner.rows
        var groups: [String] = []
        for row in rows where !row.group.isEmpty && !groups.contains(row.group) { groups.append(row.group) }
        var results: [OnePoint] = []
        for group in groups {
            let members = rows.indices.filter { rows[$0].group == group }
            let anchors = members.filter { rows[$0].anchor }
            guard let anchor = anchors.first else { continue }
            if anchors.count > 1 {
                let second = rows[anchors[1]]
                throw MoESimError(file: second.file, line: second.line, field: "anchor", "group '\(group)' has a second anchor row (the first is line \(rows[anchor].line))")
            }
            let device = asGiven[anchor]!.hardware
            for index in members where asGiven[index]!.hardware != device {
                throw MoESimError(file: rows[index].file, line: rows[index].line, field: "group",
                                  "runs on '\(asGiven[index]!.hardware)', but its group's anchor (line \(rows[anchor].line)) runs on '\(device)'")
            }
            let resolved = rows[anchor].resolvedOptions(sharedDirectory: runner.sharedDirectory, traceOverride: nil)
            let hardware = try ProfileDocument.load(.hardware, Measurement.value(of: "hardware", in: resolved) ?? device)
            var runtime: ProfileDocument?
            if parameters.contains(where: { $0.profile == .runtime }) {
                runtime = try ProfileDocument.load(.runtime, Measurement.value(of: "runtime", in: resolved) ?? asGiven[anchor]!.runtime)
            }
            let taking = Set(members.filter { asGiven[$0]!.runtime == runtime?.name })
            var setup = Calibration.Setup(measurementsPath: file.path, rows: [anchor], parameters: parameters, hardware: hardware,
                                          runtime: runtime, rowsTakingRuntime: taking)
            setup.leaveOneOut = false
            let fit = try Calibration.fit(setup, runner: runner)
            let others = members.filter { $0 != anchor }
            let predicted = try runner.simulate(.init(hardware: fit.hardware, runtime: fit.runtime, rowsTakingRuntime: taking), indices: others)
            let predictions = others.map { index in
                Prediction(row: rows[index], before: asGiven[index]!.tokensPerSecond / rows[index].tokensPerSecond - 1,
                           after: predicted[index]!.tokensPerSecond / rows[index].tokensPerSecond - 1, simulated: predicted[index]!.tokensPerSecond)
            }
            results.append(OnePoint(group: group, anchor: rows[anchor], hardware: device, parameters: parameters, baseValues: fit.baseValues,
                                    fittedValues: fit.fittedValues, anchorBefore: asGiven[anchor]!.tokensPerSecond / rows[anchor].tokensPerSecond - 1,
                                    anchorAfter: fit.fitted[anchor]!.tokensPerSecond / rows[anchor].tokensPerSecond - 1,
                                    predictions: predictions, warnings: fit.warnings))
        }
        return results
    }
}
