import Foundation

/// `sim calibrate`: fit physical figures of a hardware and a runtime profile to measured runs.
enum CalibrateCommand {
    static let options: [OptionSpec] = [
        OptionSpec("measurements", value: "FILE", "measurements file (CSV; format in experiments/measurements/README.md)"),
        OptionSpec("fit", value: "NAME,...", "parameters to fit (list below)"),
        OptionSpec("hardware", value: "NAME|FILE", "hardware profile to start from", default: "the rows' hardware, if they all use one"),
        OptionSpec("runtime", value: "NAME|FILE", "runtime profile to start from; rows whose runtime has its name use it", default: "the rows' runtime, if they all use one"),
        OptionSpec("group", value: "NAME", "use only the rows of this group (the file's group column)"),
        OptionSpec("trace", value: "FILE", "replay this trace in every row instead of the row's own"),
        OptionSpec("shared", value: "DIR", "what ${shared} in rows means", default: "$\(ExperimentPlan.sharedEnvironmentVariable), else \(ExperimentPlan.defaultSharedDirectory)"),
        OptionSpec("no-leave-one-out", "skip the leave-one-out refits"),
        OptionSpec("out", value: "DIR", "write the calibrated DIR/hardware.json (and DIR/runtime.json) here"),
        OptionSpec("force", "replace an existing --out folder"),
        OptionSpec("jobs", value: "N", "rows simulated at once", default: "all cores"),
        OptionSpec("help", "show this help"),
    ]

    static var help: String {
        """
        Usage: sim calibrate --measurements FILE --fit NAME,... [--hardware BASE] [--runtime BASE] [--out DIR]

        Fits the named physical figures of a hardware profile and a runtime profile so that `sim run` reproduces measured
        runs: bounded least squares (Levenberg-Marquardt) on the log error of decode tokens/s, and of time to first
        token where a row measured it, over the logarithm of each figure within its physical bounds. Each row is
        simulated by `sim run` itself with the row's options and the candidate profiles. Prints the fitted figures, a
        row per measurement (simulated with the base and the fitted profiles, measured, error), the leave-one-out
        error of each row (fit without it, predict it) and warnings: a parameter the rows cannot move, two that move
        them alike, fewer measured values than parameters, a figure stuck at its bound. With --out, writes
        DIR/hardware.json (and DIR/runtime.json when a runtime is in play) whose fitted figures have the source
        "fitted by sim calibrate on FILE (n rows; residual ...)"; every other field is kept as in the base.

        Rows run on --hardware (a row that names another device is an error: pick rows with --group). Rows whose
        runtime (their --runtime, or their --system's) has the base runtime's name run on the candidate runtime; the
        others keep their own, so one file can mix stacks.

        Options:
        \(ArgumentParser.help(options))
        Parameters (--fit):
        \(CalibrationParameters.helpTable)

        Examples:
          sim calibrate --measurements my-runs.csv --fit host-speed,h2d-bandwidth --out calibrated
          sim calibrate --measurements experiments/measurements/mixtral-offloading-table2.csv --group "T4 2-bit" --hardware t4 --runtime mixtral-offloading --fit host-speed,h2d-bandwidth,per-layer-overhead
        """
    }

    static func run(_ arguments: [String], out: inout String) throws {
        let args = try ArgumentParser.parse(arguments, options: options)
        if args.has("help") { out += help + "\n"; return }
        guard args.positionals.isEmpty else { throw MoESimError("unexpected argument '\(args.positionals[0])'", hint: "see `sim calibrate --help`") }
        guard let path = args.value("measurements") else {
            throw MoESimError(field: "--measurements", "a measurements file is required", hint: "see `sim calibrate --help`")
        }
        guard let fitList = args.value("fit") else {
            throw MoESimError(field: "--fit", "name the parameters to fit", hint: "e.g. --fit host-speed,h2d-bandwidth; see `sim calibrate --help`")
        }
        let names = fitList.split(separator: ",").map { String($0).trimmingSpaces }
        let parameters = try names.map(CalibrationParameters.named)
        if let duplicate = names.first(where: { n in names.filter { $0 == n }.count > 1 }) {
            throw MoESimError(field: "--fit", "'\(duplicate)' given twice")
        }
        try Calibration.checkDistinct(parameters)
        if let outDirectory = args.value("out") { try AtomicOutput.checkDestination(outDirectory, force: args.has("force")) }
        let jobs = try args.int("jobs", default: ProcessInfo.processInfo.activeProcessorCount, minimum: 1)
        var file = try MeasurementFile.load(path: path)
        if let group = args.value("group") {
            let groups = Array(Set(file.rows.map(\.group))).filter { !$0.isEmpty }.sorted()
            file.rows = file.rows.filter { $0.group == group }
            guard !file.rows.isEmpty else {
                throw MoESimError(file: path, field: "--group", "no row has group '\(group)'", hint: "groups: \(groups.joined(separator: ", "))")
            }
        }
        let runner = try MeasurementRunner(rows: file.rows, sharedDirectory: ExperimentPlan.resolveSharedDirectory(args.value("shared")),
                                           traceOverride: args.value("trace"), jobs: jobs)
        let setup = try prepare(path: path, runner: runner, parameters: parameters, hardware: args.value("hardware"), runtime: args.value("runtime"),
                                leaveOneOut: !args.has("no-leave-one-out"))
        let result = try Calibration.fit(setup, runner: runner)
        out += CalibrationReport.text(result, rows: runner.rows, setup: setup, simulations: runner.simulations)
        if let outDirectory = args.value("out") {
            var files: [(name: String, contents: String)] = []
            if let hw = result.hardware { files.append(("hardware.json", hw.text)) }
            if let rt = result.runtime { files.append(("runtime.json", rt.text)) }
            try AtomicOutput.writeDirectory(outDirectory, files: files, force: args.has("force"))
            out += "\nwrote " + files.map { "\(outDirectory)/\($0.name)" }.joined(separator: ", ")
                + "; use them with: sim run --hardware \(outDirectory)/hardware.json" + (result.runtime != nil ? " --runtime \(outDirectory)/runtime.json" : "") + " ...\n"
        }
    }

    /// Picks the base profiles (rows that name a device must name the base's), runs each row once, and finds which rows
    /// take the base runtime (those whose own runtime has its name).
    static func prepare(path: String, runner: MeasurementRunner, parameters: [CalibrationParameter], hardware: String?, runtime: String?,
                        leaveOneOut: Bool = true) throws -> Calibration.Setup {
        let rows = runner.rows
        var given: ProfileDocument?
        if let hardware {
            let document = try ProfileDocument.load(.hardware, hardware)
            for row in rows {
                let words = row.resolvedOptions(sharedDirectory: runner.sharedDirectory, traceOverride: nil)
                guard let named = Measurement.value(of: "hardware", in: words) else { continue }
                let name: String
                do { name = try HardwareCatalog.resolve(named).name } catch let e as MoESimError {
                    throw MoESimError(file: row.file, line: row.line, field: "options", e.message, hint: e.hint)
                }
                guard name == document.name else {
                    throw MoESimError(file: row.file, line: row.line, field: "options", "the row runs on '\(name)', but the calibration's hardware is '\(document.name)'",
                                      hint: "calibrate one device at a time: select its rows with --group, or leave --hardware out of the rows")
                }
            }
            given = document
        }
        // Each row once, on the base hardware if given: checks that `sim` accepts it and learns its device and runtime.
        let asGiven = try runner.simulate(.init(hardware: given, runtime: nil, rowsTakingRuntime: []))
        let hardwareDocument = try given ?? ProfileDocument.load(.hardware, common(asGiven.values.map(\.hardware), what: "hardware", option: "--hardware"))
        var runtimeDocument: ProfileDocument?
        if let runtime {
            runtimeDocument = try ProfileDocument.load(.runtime, runtime)
        } else if parameters.contains(where: { $0.profile == .runtime }) {
            runtimeDocument = try ProfileDocument.load(.runtime, common(asGiven.values.map(\.runtime), what: "runtime", option: "--runtime"))
        }
        let taking = Set(rows.indices.filter { asGiven[$0]!.runtime == runtimeDocument?.name })
        if let runtimeDocument, taking.isEmpty {
            throw MoESimError(field: "--runtime", "no row uses runtime '\(runtimeDocument.name)' (rows use \(Set(asGiven.values.map(\.runtime)).sorted().joined(separator: ", ")))")
        }
        var setup = Calibration.Setup(measurementsPath: path, rows: Array(rows.indices), parameters: parameters, hardware: hardwareDocument,
                                      runtime: runtimeDocument, rowsTakingRuntime: taking)
        setup.leaveOneOut = leaveOneOut
        return setup
    }

    static func common(_ names: [String], what: String, option: String) throws -> String {
        let distinct = Set(names).sorted()
        guard distinct.count == 1 else {
            throw MoESimError(field: option, "the rows use several \(what) profiles (\(distinct.joined(separator: ", "))): name the base with \(option)",
                              hint: "or select rows of one setup with --group")
        }
        return distinct[0]
    }
}
