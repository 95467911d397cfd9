import Foundation

/// `sim trace import`: recorder files to moe-trace v1.
enum TraceImportCommand {
    static let options: [OptionSpec] = [
        OptionSpec("from", value: "FORMAT", "recorder format of every input: \(recorderFormats.map(\.name).joined(separator: ", ")), route-trace", default: "detected per file from its first row"),
        OptionSpec("model", value: "NAME|FILE", "model the trace was recorded from (`sim models`)", default: "the one catalog model whose shape fits the data"),
        OptionSpec("task", value: "NAME", "task of every request", default: "the recorder's dataset or domain"),
        OptionSpec("phase", value: "all|prefill|decode", "which tokens to write", default: "all"),
        OptionSpec("source", value: "TEXT", "provenance for the header's source field", default: "the input file names"),
        OptionSpec("force", "overwrite OUT if it exists"),
        OptionSpec("help", "show this help"),
    ]

    static var help: String {
        """
        Usage: sim trace import [--from FORMAT] IN [IN...] OUT [--model M] [--phase all|prefill|decode] [--force]

        Converts what a recorder wrote into a moe-trace v1 trace (OUT ending in .jsonl: JSONL; else binary).
        Formats:
        \(recorderFormats.map { "  \($0.name.padding(toLength: 14, withPad: " ", startingAt: 0))\($0.summary)" }.joined(separator: "\n"))
          route-trace   `# route_trace v1` CSV of a llama.cpp-based flash-streaming engine (one input): turns become requests,
                        prefill steps one pass, decode steps one pass each; weights and the engine's cache residency
                        (`resident`) kept. A model not in the catalog is built from the header (OUT.model.json, also
                        carried in the trace header as model_spec), with a warning naming what was assumed.

        Several inputs are recordings of the same run(s), merged: the first that knows where each token belongs
        (a hook stream, request rows) fixes the places; later ones fill its lost cells, and renumbered layer rows
        are re-aligned into them where exactly one placement fits (never guessed). Where re-alignment cannot be
        done (renumbered rows alone) the affected layers are listed as warnings. Requests are named
        dataset/problem; experts are written highest weight first; weights not summing to 1 are rescaled (counted).

        Options:
        \(ArgumentParser.help(options))
        Example (the HumanEval/0 trace of ../shared, prefill + decode, lost decode cells filled from a second run):
          sim trace import original/analysis/deep_analysis/routing_raw.jsonl \\
              original/routing_data_collected/humaneval_2_routing.jsonl humaneval0.moetrace.jsonl
        """
    }

    static func run(_ arguments: [String], out: inout String) throws {
        let args = try ArgumentParser.parse(arguments, options: options)
        if args.has("help") { out += help + "\n"; return }
        guard args.positionals.count >= 2 else {
            throw MoESimError("expected at least one input and an output file", hint: "usage: sim trace import [--from FORMAT] IN [IN...] OUT")
        }
        let inputs = Array(args.positionals.dropLast()), output = args.positionals.last!
        for input in inputs where URL(fileURLWithPath: input).standardized.path == URL(fileURLWithPath: output).standardized.path {
            throw MoESimError(file: output, "is an input file; not overwriting it")
        }
        var settings = TraceImporter.Options()
        settings.format = args.value("from")
        settings.model = args.value("model")
        settings.task = args.value("task")
        settings.source = args.value("source")
        settings.overwrite = args.has("force")
        if let p = args.value("phase") {
            guard let phases = TraceImporter.PhaseFilter(rawValue: p) else { throw MoESimError(field: "--phase", "expected all, prefill or decode, found '\(p)'") }
            settings.phases = phases
        }
        if settings.format?.lowercased() == "route-trace" || (settings.format == nil && inputs.count == 1 && RouteTraceFile.isRouteTrace(path: inputs[0])) {
            guard inputs.count == 1 else { throw MoESimError(field: "--from", "route-trace imports one file at a time, given \(inputs.count)") }
            let result = try RouteTraceImporter(options: settings).run(input: inputs[0], output: output)
            let s = result.summary
            out += "wrote \(output): \(s.requests) requests, \(s.prefillTokens) prefill + \(s.decodeTokens) decode tokens of \(s.model)"
                + (result.quantization.map { " (replay with --quant \($0))" } ?? "") + ", \(s.nullCells) null cells\n"
            if let spec = result.modelFile { out += "wrote \(spec): the model spec built from the header\n" }
            for w in s.warnings { out += "warning: \(w)\n" }
            return
        }
        let summary = try TraceImporter(options: settings).run(inputs: inputs, output: output)
        out += "wrote \(output): \(summary.requests) requests, \(summary.prefillTokens) prefill + \(summary.decodeTokens) decode tokens of \(summary.model), "
            + "\(summary.nullCells) null cells (\(summary.filledCells) lost cells filled from later inputs)\n"
        for w in summary.warnings { out += "warning: \(w)\n" }
    }
}
