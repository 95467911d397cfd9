import Foundation

/// `sim experiment list|run|check|bless|merge`: experiments as code (experiments/NAME.json).
enum ExperimentCommands {
    static let options: [OptionSpec] = [
        OptionSpec("experiments", value: "DIR", "folder of experiment specs (expectations in DIR/expected/)", default: "experiments"),
        OptionSpec("out", value: "DIR", "results folder (run, merge)", default: "results/NAME, or results/NAME-shard-I-of-N with --shard"),
        OptionSpec("shard", value: "I/N", "run only the runs whose index mod N is I and write DIR/shard.json for `merge`"),
        OptionSpec("jobs", value: "N", "runs executed at once", default: "all cores"),
        OptionSpec("force", "replace an existing results folder"),
        OptionSpec("shared", value: "DIR", "what ${shared} in specs means: the shared traces folder",
                   default: "$\(ExperimentPlan.sharedEnvironmentVariable), else \(ExperimentPlan.defaultSharedDirectory)"),
        OptionSpec("quiet", "no progress lines on stderr"),
        OptionSpec("progress", "progress lines on stderr (runs/s, ETA) even when stderr is not a terminal"),
        OptionSpec("set", value: "KEY=VALUE", "run: change an axis (to that one value), a base option, any other option of the runs' command, or a preset field (hostLink.h2dBytesPerSecond=12e9, passed to every run); repeatable", repeatable: true),
        OptionSpec("help", "show this help"),
    ]

    static let help = """
    Usage:
      sim experiment list                      the experiments in --experiments DIR, one line each
      sim experiment run NAME [--out DIR] [--force] [--jobs N] [--shard I/N] [--set KEY=VALUE...]
                                               run every run of experiments/NAME.json and write results/NAME/;
                                               --set quant=fp16 (an axis, base or run option) or
                                               --set hostLink.h2dBytesPerSecond=12e9 (a preset field) re-runs it
                                               on other settings
      sim experiment check [NAME...]           re-run each experiment's small check variant and compare its key
                                               numbers with experiments/expected/NAME.json (all experiments if none named)
      sim experiment bless NAME...             re-run the check variant and store its numbers as the new expectations
      sim experiment merge OUT SHARD_DIR...    merge the shards of one experiment into OUT (same files as one run)

    An experiment is a JSON spec: a sweep of `sim` command lines (base options x the Cartesian product of its axes),
    the baseline speedups are measured against, the numbers to take from each run's --json output, tables, SVG
    plots, reference numbers from papers, and a check variant. Format: experiments/README.md.

    `run` writes results.json (each run's full JSON report), results.csv, report.md (tables, speedups, simulated vs
    paper with the error, each run's exact command) and the plots (.svg). Runs execute in parallel on --jobs
    workers, in-process; the output does not depend on --jobs. Runs that need files under ${shared} that are absent
    are skipped, with a note in report.md and in check's output. An existing results folder is replaced only with
    --force (`make experiment NAME=x` passes it); folders are written whole or not at all.

    `check` prints one line per experiment (ok, skip, or FAIL with one line per number that moved:
    "experiment E, run R, metric M: expected X, got Y (...)") and exits 1 on any difference. Tolerances: counts
    exact, times and ratios relative 1e-9 (the simulation is deterministic), unless the spec's check says otherwise.

    Sharding: shard I of N runs the runs whose index mod N is I (deterministic), so N machines can split a sweep
    with no coordination; `merge` checks the shards are the complete parts of one plan and writes what one
    unsharded run would have written, byte for byte.

    Options:
    \(ArgumentParser.help(options))
    Examples:
      sim experiment list
      sim experiment run quickstart --force
      sim experiment check
      sim experiment bless quickstart
      sim experiment run hardware-sweep --shard 0/2 --out /tmp/hw-0 && sim experiment run hardware-sweep --shard 1/2 --out /tmp/hw-1
      sim experiment merge results/hardware-sweep /tmp/hw-0 /tmp/hw-1 --force
    """

    static func run(_ arguments: [String], out: inout String) throws {
        guard let sub = arguments.first, !["--help", "-h", "help"].contains(sub) else { out += help + "\n"; return }
        let args: ParsedArguments
        do {
            args = try ArgumentParser.parse(Array(arguments.dropFirst()), options: options)
        } catch var error as MoESimError {
            // `sim experiment run x --quant fp16`: say how to change a run's option.
            if let field = error.field, error.message == "unknown option", RunCommand.options.contains(where: { "--" + $0.name == field }) {
                error.hint = "options of the runs are changed with --set \(field.dropFirst(2))=VALUE; see `sim experiment --help`"
            }
            throw error
        }
        if args.has("help") { out += help + "\n"; return }
        let directory = args.value("experiments") ?? "experiments"
        let shared = ExperimentPlan.resolveSharedDirectory(args.value("shared"))
        let jobs = try args.int("jobs", default: ProcessInfo.processInfo.activeProcessorCount, minimum: 1)
        let progress: ((String, Int) -> ExperimentProgress)? = !ProgressLine.wanted(explicit: args.has("progress"), quiet: args.has("quiet")) ? nil : { name, total in
            ExperimentProgress(experiment: name, total: total) { FileHandle.standardError.write(Data($0.utf8)) }
        }
        switch sub {
        case "list":
            try expectPositionals(args, count: 0, usage: "sim experiment list")
            out += try list(directory: directory)
        case "run":
            try expectPositionals(args, count: 1, usage: "sim experiment run NAME")
            try runExperiment(args.positionals[0], directory: directory, shared: shared, jobs: jobs, args: args, progress: progress, out: &out)
        case "check":
            let specs = try args.positionals.isEmpty ? allSpecs(directory: directory).filter { $0.check != nil }
                : args.positionals.map { try loadSpec($0, directory: directory) }
            guard !specs.isEmpty else { throw MoESimError(file: directory, "no experiment here has a check variant") }
            try ExperimentCheck.check(specs: specs, experimentsDirectory: directory, sharedDirectory: shared, jobs: jobs, progress: progress, out: &out)
        case "bless":
            guard !args.positionals.isEmpty else { throw MoESimError("name the experiment(s) to bless", hint: "sim experiment bless quickstart") }
            for name in args.positionals {
                let spec = try loadSpec(name, directory: directory)
                out += try ExperimentCheck.bless(spec, experimentsDirectory: directory, sharedDirectory: shared, jobs: jobs,
                                                 progress: progress.map { make in { make(spec.name, $0) } })
            }
        case "merge":
            guard args.positionals.count >= 2 else {
                throw MoESimError("usage: sim experiment merge OUT SHARD_DIR...", hint: "e.g. sim experiment merge results/x results/x-shard-0-of-2 results/x-shard-1-of-2")
            }
            let results = try ExperimentMerge.merge(Array(args.positionals.dropFirst()))
            try write(results, to: args.positionals[0], force: args.has("force"), out: &out)
        default:
            throw MoESimError("unknown command 'experiment \(sub)'", hint: "use list, run, check, bless or merge; see `sim experiment --help`")
        }
    }

    static func expectPositionals(_ args: ParsedArguments, count: Int, usage: String) throws {
        guard args.positionals.count == count else {
            throw MoESimError("expected \(count == 0 ? "no arguments" : "\(count) argument(s)"), found \(args.positionals.count)", hint: "usage: \(usage)")
        }
    }

    static func runExperiment(_ name: String, directory: String, shared: String, jobs: Int, args: ParsedArguments,
                              progress: ((String, Int) -> ExperimentProgress)?, out: inout String) throws {
        let shipped = try loadSpec(name, directory: directory)
        let spec = try ExperimentSettings.apply(args.all("set"), to: shipped, commandOptions: commandOptions(shipped.command))
        let plan = ExperimentPlan(spec: spec, sharedDirectory: shared)
        let shard = try args.value("shard").map(Shard.parse)
        let indices = plan.indices(for: shard)
        let folder = args.value("out") ?? (shard.map { "results/\(spec.name)-shard-\($0.index)-of-\($0.count)" } ?? "results/\(spec.name)")
        // Refused now rather than after the sweep.
        try AtomicOutput.checkDestination(folder, force: args.has("force"))
        // Ctrl-C: no new run starts; the finished ones are written (the rest listed as not run) and the command fails.
        let outcomes = try Interruption.whileStoppingGracefully(notice: "finishing the runs in progress, then writing the finished runs to \(folder)/") {
            try ExperimentPreflight.run(plan: plan, indices: indices, jobs: jobs, progress: progress?(spec.name, indices.count), stop: { Interruption.requested })
        }
        if let shard {
            try AtomicOutput.writeDirectory(folder, files: [(ExperimentMerge.shardFile, ExperimentMerge.shardJSON(plan: plan, shard: shard, outcomes: outcomes))],
                                            force: args.has("force"))
            out += "wrote \(folder)/\(ExperimentMerge.shardFile): shard \(shard), \(indices.count) of \(plan.runs.count) runs\(skipNote(outcomes)); "
            out += "merge all \(shard.count) with `sim experiment merge OUT DIR...`\n"
        } else {
            try write(try ExperimentResults(plan: plan, outcomes: outcomes), to: folder, force: args.has("force"), out: &out)
        }
        let listedIn = "\(folder)/" + (shard == nil ? ExperimentResults.reportFile + " and " + ExperimentResults.resultsFile : ExperimentMerge.shardFile)
        try failIfInterrupted(outcomes, listedIn: listedIn)
        try failIfNoRunSucceeded(outcomes, listedIn: listedIn)
    }

    /// A sweep in which runs failed and none succeeded measured nothing: its results are written (they say why each
    /// run failed), and the command fails, so a script or CI does not take it for a result. (A sweep whose runs were
    /// all skipped, their shared traces being absent, stays a success: skipping is documented, not an error.)
    static func failIfNoRunSucceeded(_ outcomes: [RunOutcome], listedIn files: String) throws {
        let ok = outcomes.contains { if case .ok = $0.status { return true } else { return false } }
        let failed = outcomes.contains { if case .failed = $0.status { return true } else { return false } }
        guard failed && !ok else { return }
        throw MoESimError("no run succeeded: \(outcomes.count) runs\(skipNote(outcomes)); why each did not is in \(files)",
                          hint: "repeat one run's command (listed there) to see its error")
    }

    /// After a sweep stopped by Ctrl-C: a non-zero exit that says what was kept.
    static func failIfInterrupted(_ outcomes: [RunOutcome], listedIn files: String) throws {
        let notRun = outcomes.filter { $0.status == .skipped(ExperimentRunner.interruptedReason) }.count
        guard notRun > 0 else { return }
        throw MoESimError("interrupted: \(outcomes.count - notRun) of \(outcomes.count) runs finished and were written; "
                          + "\(notRun) did not run (listed as not run in \(files))",
                          hint: "run the experiment again with --force to complete it")
    }

    static func skipNote(_ outcomes: [RunOutcome]) -> String {
        let skipped = outcomes.filter { if case .skipped = $0.status { return true } else { return false } }.count
        let failed = outcomes.filter { if case .failed = $0.status { return true } else { return false } }.count
        var parts: [String] = []
        if skipped > 0 { parts.append("\(skipped) skipped (see report.md)") }
        if failed > 0 { parts.append("\(failed) failed (recorded)") }
        return parts.isEmpty ? "" : ", " + parts.joined(separator: ", ")
    }

    static func write(_ results: ExperimentResults, to folder: String, force: Bool, out: inout String) throws {
        let files = results.files()
        try AtomicOutput.writeDirectory(folder, files: files, force: force)
        out += "wrote \(folder)/: \(files.map(\.name).joined(separator: ", ")) (\(results.plan.runs.count) runs\(skipNote(results.outcomes)))\n"
    }

    /// The option names the runs' command takes (what `--set KEY=VALUE` may add).
    static func commandOptions(_ command: [String]) -> [String] {
        let specs: [OptionSpec]
        switch command.first {
        case "run": specs = RunCommand.options
        case "serve": specs = ServeCommand.options
        case "cache": specs = command.dropFirst().first == "run" ? CacheCommands.runOptions : CacheCommands.sweepOptions
        default: specs = []
        }
        return specs.filter { !$0.isFlag || !["help", "json", "csv"].contains($0.name) }.map(\.name)
    }

    /// A name in the experiments folder, or a path to a spec file.
    static func loadSpec(_ name: String, directory: String) throws -> ExperimentSpec {
        let spec = try findSpec(name, directory: directory)
        try ExperimentPreflight.checkOptions(spec, commandOptions: commandOptions(spec.command))
        return spec
    }

    static func findSpec(_ name: String, directory: String) throws -> ExperimentSpec {
        if name.hasSuffix(".json") || name.contains("/") { return try ExperimentSpec.load(path: name) }
        let path = URL(fileURLWithPath: directory).appendingPathComponent("\(name).json").path
        guard FileManager.default.fileExists(atPath: path) else {
            let names = specPaths(directory: directory).map { URL(fileURLWithPath: $0).deletingPathExtension().lastPathComponent }
            let suggestion = NameMatching.closest(to: name, among: names)
            throw MoESimError(file: path, "no such experiment",
                              hint: (suggestion.map { "did you mean \($0)? " } ?? "") + "experiments: \(names.joined(separator: ", "))")
        }
        return try ExperimentSpec.load(path: path)
    }

    static func specPaths(directory: String) -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasSuffix(".json") && !$0.hasPrefix(".") }.sorted()
            .map { URL(fileURLWithPath: directory).appendingPathComponent($0).path }
    }

    static func allSpecs(directory: String) throws -> [ExperimentSpec] {
        let paths = specPaths(directory: directory)
        guard !paths.isEmpty else { throw MoESimError(file: directory, "no experiment specs (*.json) here", hint: "--experiments DIR") }
        return try paths.map { path in
            let spec = try ExperimentSpec.load(path: path)
            try ExperimentPreflight.checkOptions(spec, commandOptions: commandOptions(spec.command))
            return spec
        }
    }

    static func list(directory: String) throws -> String {
        let paths = specPaths(directory: directory)
        guard !paths.isEmpty else { throw MoESimError(file: directory, "no experiment specs (*.json) here", hint: "--experiments DIR") }
        var rows: [(String, String)] = []
        for path in paths {
            let name = URL(fileURLWithPath: path).deletingPathExtension().lastPathComponent
            do {
                rows.append((name, try ExperimentSpec.load(path: path).description))
            } catch {
                rows.append((name, "INVALID: \(error)"))
            }
        }
        let width = (rows.map(\.0.count).max() ?? 0) + 2
        var out = "Experiments in \(directory)/ (run one: make experiment NAME=x, or sim experiment run x):\n\n"
        for (name, description) in rows { out += "  " + name + String(repeating: " ", count: width - name.count) + description + "\n" }
        out += "\nResults go to results/NAME/ (report.md, results.json, results.csv, plots). `sim experiment --help` for more.\n"
        return out
    }
}
