import Foundation

/// `sim fidelity`: every published measurement the project ships, simulated vs measured (`make experiment NAME=fidelity`).
enum FidelityCommand {
    static let defaultMeasurements = "experiments/measurements"
    static let defaultOnePoint = "host-speed,link-rate"

    static let options: [OptionSpec] = [
        OptionSpec("measurements", value: "DIR|FILE", "a measurements file, or a folder of them (*.csv)", default: defaultMeasurements),
        OptionSpec("one-point-fit", value: "NAME,...|none", "figures the one-point calibration fits on each group's anchor row", default: defaultOnePoint),
        OptionSpec("trace", value: "FILE", "replay this trace in every row instead of the row's own (a quick check)"),
        OptionSpec("shared", value: "DIR", "what ${shared} in rows means", default: "$\(ExperimentPlan.sharedEnvironmentVariable), else \(ExperimentPlan.defaultSharedDirectory)"),
        OptionSpec("out", value: "DIR", "write report.md, results.json and \(FidelityReport.scatterFile) here"),
        OptionSpec("force", "replace an existing --out folder"),
        OptionSpec("json", "print the results as JSON instead of the report"),
        OptionSpec("jobs", value: "N", "rows simulated at once", default: "all cores"),
        OptionSpec("help", "show this help"),
    ]

    static var help: String {
        """
        Usage: sim fidelity [--measurements DIR|FILE] [--out DIR] [--force] [--json]

        Simulates every row of every measurements file (experiments/measurements/*.csv: published runs with their
        citation) with the shipped presets, and prints simulated vs measured decode tokens/s, the error per row and
        the mean absolute error per source. Then, for each group of rows that has an anchor row (a column of a paper's
        table: one device setup), a one-point calibration: fit only --one-point-fit on the anchor row, predict the
        group's other rows, report their errors. Rows that need absent shared traces are skipped and listed.
        With --out, writes report.md, results.json and a log-log scatter (\(FidelityReport.scatterFile), y = x line, one
        marker per source). `make experiment NAME=fidelity` runs `sim fidelity --out results/fidelity --force`.

        Options:
        \(ArgumentParser.help(options))
        """
    }

    static func run(_ arguments: [String], out: inout String) throws {
        let args = try ArgumentParser.parse(arguments, options: options)
        if args.has("help") { out += help + "\n"; return }
        guard args.positionals.isEmpty else { throw MoESimError("unexpected argument '\(args.positionals[0])'", hint: "see `sim fidelity --help`") }
        if let folder = args.value("out") { try AtomicOutput.checkDestination(folder, force: args.has("force")) }
        let fitText = args.value("one-point-fit") ?? defaultOnePoint
        let parameters = fitText == "none" ? [] : try fitText.split(separator: ",").map { try CalibrationParameters.named(String($0).trimmingSpaces) }
        try Calibration.checkDistinct(parameters)
        let files = try MeasurementFile.loadAll(args.value("measurements") ?? defaultMeasurements)
        let jobs = try args.int("jobs", default: ProcessInfo.processInfo.activeProcessorCount, minimum: 1)
        let study = try FidelityStudy.run(files: files, sharedDirectory: ExperimentPlan.resolveSharedDirectory(args.value("shared")),
                                          traceOverride: args.value("trace"), jobs: jobs, onePointParameters: parameters)
        let command = ShellQuoting.line(["sim", "fidelity"] + arguments.filter { $0 != "--json" })
        let report = FidelityReport.markdown(study, command: command)
        if let folder = args.value("out") {
            try AtomicOutput.writeDirectory(folder, files: [("report.md", report), ("results.json", PrettyJSON.render(FidelityReport.json(study))),
                                                            (FidelityReport.scatterFile, FidelityReport.scatter(study))], force: args.has("force"))
        }
        if args.has("json") {
            out += PrettyJSON.render(FidelityReport.json(study))
        } else {
            out += report
            if let folder = args.value("out") { out += "\nwrote \(folder)/: report.md, results.json, \(FidelityReport.scatterFile)\n" }
        }
    }
}
