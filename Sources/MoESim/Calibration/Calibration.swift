import Foundation

/// Fits physical figures of a hardware and a runtime profile to measured runs: bounded least squares on the log
/// error of decode tokens/s (and of time to first token where measured), in log-parameter space, with
/// leave-one-out prediction errors and identifiability warnings. The simulator is driven only through
/// `MeasurementRunner`, i.e. through `sim run` itself.
public enum Calibration {
    public struct Setup: Sendable {
        public var measurementsPath: String
        /// Rows (indices into the runner's rows) the fit uses.
        public var rows: [Int]
        public var parameters: [CalibrationParameter]
        public var hardware: ProfileDocument?
        public var runtime: ProfileDocument?
        public var rowsTakingRuntime: Set<Int>
        public var leaveOneOut = true
        public var options = BoundedLeastSquares.Options()

        public init(measurementsPath: String, rows: [Int], parameters: [CalibrationParameter], hardware: ProfileDocument?,
                    runtime: ProfileDocument?, rowsTakingRuntime: Set<Int>) {
            self.measurementsPath = measurementsPath
            self.rows = rows
            self.parameters = parameters
            self.hardware = hardware
            self.runtime = runtime
            self.rowsTakingRuntime = rowsTakingRuntime
        }
    }

    public struct Result: Sendable {
        public var parameters: [CalibrationParameter]
        public var baseValues: [Double]
        public var fittedValues: [Double]
        /// Largest |d log(simulated) / d log(parameter)| over the rows, at the fit.
        public var sensitivities: [Double]
        public var base: [Int: SimulatedRun]
        public var fitted: [Int: SimulatedRun]
        /// Row index -> relative error of its prediction by a fit without it (nil: not computed).
        public var leaveOneOut: [Int: Double]
        public var warnings: [String]
        public var iterations: Int
        /// Root mean square of the fitted log errors, as a percentage-like figure (100 x).
        public var rmsLogError: Double
        public var measuredValues: Int
        public var hardware: ProfileDocument?
        public var runtime: ProfileDocument?
        public var source: String
    }

    /// The value a parameter has in the base profiles (fractions of another figure for relative ones).
    public static func value(of parameter: CalibrationParameter, hardware: ProfileDocument?, runtime: ProfileDocument?) throws -> Double {
        let document = try profile(parameter, hardware: hardware, runtime: runtime)
        guard document.hasParent(of: parameter.path) else {
            throw MoESimError(file: document.path, field: parameter.path, "\(parameter.name) cannot be fitted: '\(document.name)' has no \(parameter.path.split(separator: ".").first!)")
        }
        if let base = parameter.relativeTo {
            guard let denominator = document.figure(base), denominator > 0 else {
                throw MoESimError(file: document.path, field: base, "\(parameter.name) is a fraction of \(base), which '\(document.name)' lacks")
            }
            return document.figure(parameter.path).map { $0 / denominator } ?? parameter.valueWhenAbsent!
        }
        guard let v = document.figure(parameter.path) ?? parameter.valueWhenAbsent else {
            throw MoESimError(file: document.path, field: parameter.path,
                              "\(parameter.name) cannot be fitted: '\(document.name)' has no \(parameter.path)", hint: "add the figure to a copy of the profile first")
        }
        return v
    }

    static func profile(_ parameter: CalibrationParameter, hardware: ProfileDocument?, runtime: ProfileDocument?) throws -> ProfileDocument {
        switch parameter.profile {
        case .hardware:
            guard let hardware else { throw MoESimError(field: "--fit", "\(parameter.name) is a hardware figure: give --hardware") }
            return hardware
        case .runtime:
            guard let runtime else { throw MoESimError(field: "--fit", "\(parameter.name) is a runtime figure: give --runtime") }
            return runtime
        }
    }

    /// The profiles with `values` written in (absolute figures first, then fractions of them; figures a parameter
    /// scales move by its factor over the base).
    public static func apply(_ values: [Double], _ parameters: [CalibrationParameter], hardware: ProfileDocument?, runtime: ProfileDocument?,
                             source: String) -> (hardware: ProfileDocument?, runtime: ProfileDocument?) {
        var hw = hardware, rt = runtime
        for relative in [false, true] {
            for (p, v) in zip(parameters, values) where (p.relativeTo != nil) == relative {
                let base = p.profile == .hardware ? hardware! : runtime!
                var document = p.profile == .hardware ? hw! : rt!
                let stored = p.relativeTo.map { v * document.figure($0)! } ?? v
                document.setFigure(p.path, value: stored, source: source)
                if let old = base.figure(p.path), old > 0 {
                    for path in p.scales { if let companion = base.figure(path) { document.setFigure(path, value: companion * v / old, source: source) } }
                }
                if p.profile == .hardware { hw = document } else { rt = document }
            }
        }
        return (hw, rt)
    }

    /// Two parameters may not write the same figure.
    static func checkDistinct(_ parameters: [CalibrationParameter]) throws {
        for (i, a) in parameters.enumerated() {
            for b in parameters[(i + 1)...] where a.profile == b.profile {
                let overlap = Set([a.path] + a.scales).intersection([b.path] + b.scales)
                if let path = overlap.first {
                    throw MoESimError(field: "--fit", "\(a.name) and \(b.name) both set \(path)", hint: "fit one of them")
                }
            }
        }
    }

    public static func fit(_ setup: Setup, runner: MeasurementRunner) throws -> Result {
        let parameters = setup.parameters
        let rows = setup.rows
        try checkDistinct(parameters)
        var warnings: [String] = []
        var baseValues: [Double] = []
        for p in parameters {
            let v = try value(of: p, hardware: setup.hardware, runtime: setup.runtime)
            if v < p.lower || v > p.upper {
                warnings.append("\(p.name): the base value \(format(v, p)) is outside its physical bounds [\(format(p.lower, p)), \(format(p.upper, p))]; the fit starts from the nearest bound")
            }
            baseValues.append(min(max(v, p.lower), p.upper))
        }
        func assignment(_ values: [Double], source: String = "fitting") -> MeasurementRunner.Assignment {
            let docs = apply(values, parameters, hardware: setup.hardware, runtime: setup.runtime, source: source)
            return .init(hardware: docs.hardware, runtime: docs.runtime, rowsTakingRuntime: setup.rowsTakingRuntime)
        }
        func residuals(_ u: [Double], over subset: [Int]) throws -> [Double] {
            let runs = try runner.simulate(assignment(u.map(exp)), indices: subset)
            return subset.flatMap { index in logErrors(runs[index]!, runner.rows[index]) }
        }
        let lower = parameters.map { log($0.lower) }, upper = parameters.map { log($0.upper) }
        let start = baseValues.map(log)
        let measuredValues = rows.reduce(0) { $0 + 1 + (runner.rows[$1].ttftSeconds == nil ? 0 : 1) }
        let solution = try BoundedLeastSquares.minimize({ try residuals($0, over: rows) }, start: start, lower: lower, upper: upper, options: setup.options)
        let fittedValues = solution.u.map(exp)
        let sensitivities = parameters.indices.map { j in solution.jacobian.map { abs($0[j]) }.max() ?? 0 }

        if measuredValues < parameters.count {
            warnings.append("\(parameters.count) parameters from \(measuredValues) measured value(s): underdetermined; the fit makes the smallest change "
                            + "that matches (in log space: each parameter moves in proportion to its influence), so only their combined effect is determined")
        }
        for (j, p) in parameters.enumerated() {
            if sensitivities[j] < identifiableSensitivity {
                warnings.append("\(p.name) is not identifiable from these rows: the fit cannot move it (a 10 % change moves no simulated row by more than "
                                + "\(String(format: "%.2f", 10 * sensitivities[j])) %); it stays near \(format(fittedValues[j], p))")
            } else if solution.u[j] <= lower[j] + 1e-9 || solution.u[j] >= upper[j] - 1e-9 {
                warnings.append("\(p.name) ended at its physical bound \(format(fittedValues[j], p)): the rows push it further; a mechanism the model lacks may be at work")
            }
        }
        if measuredValues >= parameters.count {
            for a in parameters.indices {
                for b in parameters.indices where b > a && sensitivities[a] >= identifiableSensitivity && sensitivities[b] >= identifiableSensitivity {
                    let ca = solution.jacobian.map { $0[a] }, cb = solution.jacobian.map { $0[b] }
                    let dot = zip(ca, cb).reduce(0) { $0 + $1.0 * $1.1 }
                    let cosine = dot / (norm(ca) * norm(cb))
                    if abs(cosine) > collinearCosine {
                        warnings.append("\(parameters[a].name) and \(parameters[b].name) are not separately identifiable: they change these rows almost alike "
                                        + "(|cos| = \(String(format: "%.4f", abs(cosine)))); only a combination is fitted. Add rows that move one and not the other")
                    }
                }
            }
        }

        let rms = measuredValues > 0 ? 100 * sqrt(2 * solution.cost / Double(measuredValues)) : 0
        let source = "fitted by sim calibrate on \(setup.measurementsPath) (\(rows.count) rows; residual \(String(format: "%.2f", rms)) % RMS log error)"
        let fittedAssignment = assignment(fittedValues, source: source)
        let base = try runner.simulate(assignment(baseValues), indices: rows)
        let fitted = try runner.simulate(fittedAssignment, indices: rows)

        var looErrors: [Int: Double] = [:]
        if setup.leaveOneOut && rows.count >= 2 {
            for held in rows {
                let rest = rows.filter { $0 != held }
                // From the base values, not the full fit: starting there would leak the held-out row into an underdetermined refit.
                let partial = try BoundedLeastSquares.minimize({ try residuals($0, over: rest) }, start: start, lower: lower, upper: upper, options: setup.options)
                let predicted = try runner.simulate(assignment(partial.u.map(exp)), indices: [held])[held]!
                looErrors[held] = predicted.tokensPerSecond / runner.rows[held].tokensPerSecond - 1
            }
        }
        return Result(parameters: parameters, baseValues: baseValues, fittedValues: fittedValues, sensitivities: sensitivities, base: base,
                      fitted: fitted, leaveOneOut: looErrors, warnings: warnings, iterations: solution.iterations, rmsLogError: rms,
                      measuredValues: measuredValues, hardware: fittedAssignment.hardware, runtime: fittedAssignment.runtime, source: source)
    }

    /// Below this largest |d log(simulated) / d log(parameter)|, a parameter does not move the rows.
    static let identifiableSensitivity = 0.01
    static let collinearCosine = 0.995

    /// Log errors of a simulated run against its measurement: tokens/s, then time to first token where measured.
    static func logErrors(_ run: SimulatedRun, _ row: Measurement) -> [Double] {
        var errors = [log(run.tokensPerSecond / row.tokensPerSecond)]
        if let measured = row.ttftSeconds, let simulated = run.ttftSeconds { errors.append(log(simulated / measured)) }
        return errors
    }

    static func norm(_ v: [Double]) -> Double { sqrt(v.reduce(0) { $0 + $1 * $1 }) }

    /// A parameter's value with its unit, compactly.
    public static func format(_ v: Double, _ p: CalibrationParameter) -> String {
        switch p.unit {
        case "B/s": return String(format: "%.3g GB/s", v / 1e9)
        case "s": return v >= 1e-3 ? String(format: "%.3g ms", v * 1e3) : String(format: "%.3g us", v * 1e6)
        default: return String(format: "%.3g", v) + (p.unit.isEmpty ? "" : " " + p.unit)
        }
    }
}
