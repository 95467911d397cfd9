import Foundation

/// `sim trace ...`: tools that make and inspect traces.
enum TraceCommands {
    static let synthOptions: [OptionSpec] = [
        OptionSpec("model", value: "NAME", "model whose shape the trace has (`sim models`); a profile fitted on another shape is resampled", default: "mixtral-8x7b"),
        OptionSpec("profile", value: "NAME|FILE|zipf", "fitted routing profile (`sim trace fit`): a shipped name, a JSON file, or zipf for the plain knobs below",
                   default: SyntheticDefaults.profile),
        OptionSpec("tokens", value: "N", "decode tokens per request", default: "drawn from the profile; 256 with zipf"),
        OptionSpec("prompt", value: "N", "prefill (prompt) tokens per request", default: "drawn from the profile if it has prompts; else 0"),
        OptionSpec("requests", value: "N", "requests, one after another", default: "1"),
        OptionSpec("seed", value: "S", "random seed: same seed, same trace, byte for byte", default: "1"),
        OptionSpec("reuse", value: "P", "zipf only: probability a token keeps the previous token's expert at a layer", default: "0.3"),
        OptionSpec("skew", value: "S", "zipf only: Zipf exponent of per-layer expert popularity", default: "0.8"),
        OptionSpec("out", value: "FILE", "write here instead of standard output"),
        OptionSpec("force", "overwrite --out if it exists"),
        OptionSpec("help", "show this help"),
    ]

    /// Defaults of `sim trace synth`.
    enum SyntheticDefaults {
        /// The profile fitted on the real Mixtral HumanEval decode trace (Resources/profiles/).
        static let profile = "mixtral-8x7b-humaneval"
    }

    static let synthHelp = """
    Usage: sim trace synth [--model M] [--profile NAME|FILE|zipf] [--tokens N] [--prompt N] [--requests N] [--seed S] [--out FILE]

    Writes a synthetic moe-trace v1 trace from a profile that `sim trace fit` fitted to a recorded trace. The default,
    \(SyntheticDefaults.profile), was fitted on the real Mixtral-8x7B HumanEval decode trace. Each layer's expert
    popularity, LRU stack-depth (reuse) profile, cross-layer successor correlation and top-1 weight histogram, and the
    request lengths and tasks, follow the fitted trace; on Mixtral-8x7B its per-layer LRU hit-rate curve at 1-7
    experts is within 0.05 of the real one (tested). For another model the profile's curves are resampled to its
    layers, experts and top-k: an extrapolation, and the header says so. --profile zipf is the older plain generator:
    seeded Zipf popularity (--skew) plus temporal reuse (--reuse), fitted to nothing; --skew or --reuse without
    --profile select it too.

    Options:
    \(ArgumentParser.help(synthOptions))
    Example:
      sim trace synth --model mixtral-8x7b --requests 2 --prompt 64 --seed 7 --out traces/my.moetrace.jsonl
    Another model, and a profile of your own:
      sim trace synth --model olmoe-1b-7b --tokens 512 --seed 1
      sim trace fit my-trace.moetrace.jsonl --name mine > mine.json && sim trace synth --profile mine.json --tokens 1000
    """

    static let fitOptions: [OptionSpec] = [
        OptionSpec("phase", value: "decode|prefill|all", "which tokens' routing to fit (decode is what offloading hurts)", default: "decode"),
        OptionSpec("name", value: "NAME", "the profile's name", default: "the trace file's name"),
        OptionSpec("calibration-rounds", value: "N", "calibration rounds (more: closer to the measured statistics, slower)",
                   default: "\(ProfileCalibration.Settings().rounds)"),
        OptionSpec("calibration-tokens", value: "N", "tokens the generator simulates in the last calibration round (earlier rounds are shorter)",
                   default: "\(ProfileCalibration.Settings().finalRoundTokens)"),
        OptionSpec("json", "print the profile as JSON (the only output form; accepted for symmetry with `sim trace stats`)"),
        OptionSpec("help", "show this help"),
    ]

    static let fitHelp = """
    Usage: sim trace fit FILE [--phase decode|prefill|all] [--name NAME] > profile.json

    Fits a synthetic-trace profile (schema \(SyntheticProfile.schemaTag)) to a trace, JSONL or binary, in one streaming
    pass (memory does not grow with the trace's length), and prints it as JSON. Per layer it measures expert popularity
    by rank, consecutive-token reuse, the share of accesses at each LRU stack depth (which fixes the LRU hit-rate curve),
    how often the previous layer's top-1 expert's most frequent successor is chosen, and the top-1 router weight's
    distribution; per request, prompt and output lengths and tasks. It then calibrates the generator's parameters
    (popularity propensity, recency by stack depth, successor boost) by simulation until the generator's expected
    statistics match the measured ones (`calibration` records the remaining error). Deterministic: same trace, same bytes.

    Options:
    \(ArgumentParser.help(fitOptions))
    Example:
      sim trace fit ../shared/traces/mixtral-8x7b-vllm-fp8/humaneval-decode.moetrace.jsonl --name mixtral-8x7b-humaneval
    """

    static func run(_ arguments: [String], out: inout String) throws {
        guard let sub = arguments.first else {
            throw MoESimError("usage: sim trace synth|fit|stats|convert|import|residency ...", hint: "see `sim trace --help`")
        }
        switch sub {
        case "--help", "-h", "help":
            out += "Usage:\n  sim trace synth [options]      write a seeded synthetic trace from a fitted profile (sim trace synth --help)\n"
            out += "  sim trace fit FILE [--phase P] fit a synthetic-trace profile to a trace; prints JSON (sim trace fit --help)\n"
            out += "  sim trace stats FILE [--json]  statistics of a trace (sim trace stats --help)\n"
            out += "  sim trace convert IN OUT       JSONL <-> binary .moetrace (OUT ending in .jsonl: JSONL; else binary)\n"
            out += "  sim trace import IN... OUT     recorder files (hook stream, layer rows, request rows, route_trace) to moe-trace (sim trace import --help)\n"
            out += "  sim trace residency FILE --budget B  byte-budget global LRU vs the recorded cache residency, cell by cell\n"
        case "synth": try synth(Array(arguments.dropFirst()), out: &out)
        case "fit": try fit(Array(arguments.dropFirst()), out: &out)
        case "stats": try stats(Array(arguments.dropFirst()), out: &out)
        case "convert": try convert(Array(arguments.dropFirst()), out: &out)
        case "import": try TraceImportCommand.run(Array(arguments.dropFirst()), out: &out)
        case "residency": try TraceResidencyCommand.run(Array(arguments.dropFirst()), out: &out)
        default: throw MoESimError("unknown command 'trace \(sub)'", hint: "available: sim trace synth, sim trace fit, sim trace stats, sim trace convert, sim trace import, sim trace residency")
        }
    }

    static let convertOptions: [OptionSpec] = [
        OptionSpec("allow-wider-cells", "accept routing cells with more than top_k experts"),
        OptionSpec("force", "overwrite OUT if it exists"),
        OptionSpec("help", "show this help"),
    ]

    static let convertHelp = """
    Usage: sim trace convert IN OUT [--force]

    Converts a trace between the JSONL form and the binary form (.moetrace: versioned, checksummed blocks, read
    about ten times faster; layout in Sources/MoESim/Trace/BinaryTraceFormat.swift). The direction follows OUT:
    a name ending in .jsonl gets JSONL, anything else binary. Either form is read by every command.
    Routing is kept exactly (weights as the float32 values the reader holds), null cells and lookahead included.

    Options:
    \(ArgumentParser.help(convertOptions))
    """

    static func convert(_ arguments: [String], out: inout String) throws {
        let args = try ArgumentParser.parse(arguments, options: convertOptions)
        if args.has("help") { out += convertHelp + "\n"; return }
        guard args.positionals.count == 2 else { throw MoESimError("expected IN and OUT", hint: "usage: sim trace convert IN OUT [--force]") }
        let (input, output) = (args.positionals[0], args.positionals[1])
        guard URL(fileURLWithPath: input).resolvingSymlinksInPath().path != URL(fileURLWithPath: output).resolvingSymlinksInPath().path else {
            throw MoESimError(file: output, "is the input file; not overwriting it")
        }
        let reader = try openTrace(path: input, missingCells: .skip, allowWiderCells: args.has("allow-wider-cells"))
        let toJSONL = traceOutputIsJSONL(path: output)
        // Written under a temporary name and moved into place at the end: a bad line halfway leaves OUT as it was.
        let sink = try createTrace(path: output, header: reader.header, overwrite: args.has("force"))
        var tokens = 0
        while let item = try reader.next() {
            switch item {
            case let .request(i):
                sink.write(request: reader.requests[i])
            case .token:
                sink.write(token: reader.token, requestID: reader.requests[reader.token.request].id)
                tokens += 1
            }
        }
        try sink.close()
        out += "wrote \(output): \(tokens) tokens, \(reader.requests.count) requests, \(reader.missingCellCount) null cells (\(toJSONL ? "JSONL" : "binary"))\n"
    }

    static let statsOptions: [OptionSpec] = [
        OptionSpec("model", value: "NAME|FILE", "model spec, for AdapMoE's per-layer sensitivities", default: "the trace header's model"),
        OptionSpec("threshold", value: "T", "AdapMoE threshold T for the single-expert ratio", default: "\(TraceStatisticsCollector.defaultAdapMoEThreshold)"),
        OptionSpec("request", value: "ID", "only this request's tokens (e.g. humaneval/0)", default: "every request"),
        OptionSpec("missing", value: "error|skip", "what to do with null routing cells", default: "skip"),
        OptionSpec("json", "print the statistics as JSON"),
        OptionSpec("help", "show this help"),
    ]

    static let statsHelp = """
    Usage: sim trace stats FILE [--model M] [--threshold T] [--json]

    One streaming pass over a trace: tokens, requests, phases and null cells; per layer the hottest expert's share
    and the Gini coefficient of expert use; consecutive-token reuse (decode tokens, same request); how predictable
    the next layer's experts are from this layer's top-1 expert (in-sample); how much of a decode token's top-k a
    static list of each layer's k hottest decode experts covers, and how many distinct experts the decode tokens
    touched per layer (fine-grained models; BigMoeOnEdge findings.md's "static" predictor); the mean top-1 router weight; the
    share of selections covered by the hottest 10/25/50 % of experts; and, for models with AdapMoE sensitivities
    (Mixtral), the fraction of decode cells where H_l * w2^2 < T would drop the second expert (papers.md §1.3.A).

    Options:
    \(ArgumentParser.help(statsOptions))
    """

    static func stats(_ arguments: [String], out: inout String) throws {
        let args = try ArgumentParser.parse(arguments, options: statsOptions)
        if args.has("help") { out += statsHelp + "\n"; return }
        guard args.positionals.count == 1 else {
            throw MoESimError("expected exactly one trace file", hint: "usage: sim trace stats FILE [--json]")
        }
        guard let missing = MissingCellPolicy(rawValue: args.value("missing") ?? "skip") else {
            throw MoESimError(field: "--missing", "expected error or skip, found '\(args.value("missing")!)'")
        }
        var threshold = TraceStatisticsCollector.defaultAdapMoEThreshold
        if let t = args.value("threshold") {
            guard let v = Double(t), v.isFinite, v >= 0 else { throw MoESimError(field: "--threshold", "expected a number >= 0, found '\(t)'") }
            threshold = v
        }
        let path = args.positionals[0]
        let reader = try openTrace(path: path, missingCells: missing)
        let header = reader.header
        let model = args.value("model") != nil ? try ModelCatalog.resolve(args.value("model")!) : try? ModelCatalog.resolve(header.model)
        let sensitivity = model?.moeLayers == header.layers ? model?.gateSensitivity : nil
        let collector = TraceStatisticsCollector(header: header, sensitivity: sensitivity?.values, threshold: threshold)
        let full = header.weights == .full
        let only = args.value("request")
        var selectedNullCells = 0, selectedTokens = 0
        while let item = try reader.next() {
            guard case .token = item else { continue }
            if let only, reader.requests[reader.token.request].id != only { continue }
            collector.add(reader.token, weightsAreFull: full)
            selectedTokens += 1
            selectedNullCells += reader.token.counts.reduce(0) { $0 + ($1 < 0 ? 1 : 0) }
        }
        if let only, selectedTokens == 0 {
            throw MoESimError(field: "--request", "no tokens of request '\(only)' in \(path)",
                              hint: "requests: " + reader.requests.prefix(10).map(\.id).joined(separator: ", ") + (reader.requests.count > 10 ? ", ..." : ""))
        }
        let stats = collector.finish(file: path, header: header, requests: only == nil ? reader.requests.count : 1, nullCells: selectedNullCells,
                                     sensitivitySource: sensitivity?.source)
        if args.has("json") {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            out += String(decoding: try encoder.encode(stats), as: UTF8.self) + "\n"
            return
        }
        func f(_ v: Double?, _ digits: Int = 3) -> String { v.map { String(format: "%.\(digits)f", $0) } ?? "n/a" }
        out += "\(path)\n"
        out += "model \(stats.model): \(stats.layers) layers, \(stats.experts) experts, top-\(stats.topK), weights \(stats.weights)\n"
        out += "tokens \(stats.tokens) (prefill \(stats.prefillTokens), decode \(stats.decodeTokens)), requests \(stats.requests), null cells \(stats.nullCells)\n\n"
        out += "hottest expert share   \(f(stats.hottestShare)) (uniform \(f(1 / Double(stats.experts))))\n"
        out += "Gini of expert use     \(f(stats.gini))\n"
        out += "consecutive reuse      \(f(stats.reuse)) (uniform \(f(stats.reuseIfUniform)))\n"
        if let overlap = stats.staticOverlap {
            out += "static hot list        \(f(overlap)) (the k hottest decode experts per layer; uniform \(f(stats.staticOverlapIfUniform)))\n"
        }
        if let mean = stats.distinctDecodeExpertsMean {
            out += "distinct decode experts \(String(format: "%.1f", mean)) per layer (min \(stats.distinctDecodeExpertsMin!), max \(stats.distinctDecodeExpertsMax!)) of \(stats.experts)\n"
        }
        out += "next-layer prediction  \(f(stats.transitionAccuracy)) (uniform \(f(stats.transitionAccuracyIfUniform)))\n"
        out += "mean top-1 weight      \(f(stats.meanTopWeight))\n"
        out += "hottest 10/25/50 %     " + ["10%", "25%", "50%"].map { f(stats.coverageOfHottest[$0]) }.joined(separator: " / ") + " of selections\n"
        if let ratio = stats.singleExpertRatio {
            out += "AdapMoE single-expert  \(f(ratio)) of decode cells at T = \(stats.adapmoeThreshold!) (H_l: \(stats.sensitivitySource ?? ""))\n"
        }
        out += "\nlayer  hottest  gini   reuse  static  distinct  top-1 w  next-layer" + (stats.singleExpertRatio != nil ? "  single" : "") + "\n"
        for (l, s) in stats.perLayer.enumerated() {
            out += CatalogCommands.pad("\(l)", 7) + CatalogCommands.pad(f(s.hottestShare), 9) + CatalogCommands.pad(f(s.gini), 7)
                + CatalogCommands.pad(f(s.reuse), 7) + CatalogCommands.pad(f(s.staticOverlap), 8) + CatalogCommands.pad(s.distinctDecodeExperts.map(String.init) ?? "n/a", 10)
                + CatalogCommands.pad(f(s.meanTopWeight), 9) + CatalogCommands.pad(f(s.transitionAccuracy), 12)
                + (s.singleExpertRatio.map { f($0) } ?? "") + "\n"
        }
    }

    static func synth(_ arguments: [String], out: inout String) throws {
        let args = try ArgumentParser.parse(arguments, options: synthOptions)
        if args.has("help") {
            let shipped = (try? SyntheticProfileCatalog.presets().map(\.name)) ?? []
            out += synthHelp + "\nShipped profiles: \(shipped.joined(separator: ", "))\n"
            return
        }
        guard args.positionals.isEmpty else { throw MoESimError("unexpected argument '\(args.positionals[0])'", hint: "see `sim trace synth --help`") }
        let model = try ModelCatalog.resolve(args.value("model") ?? "mixtral-8x7b")
        let requests = try args.int("requests", default: 1, minimum: 1, maximum: SynthesisLimits.maxRequests)
        guard let seed = UInt64(args.value("seed") ?? "1") else { throw MoESimError(field: "--seed", "expected a non-negative integer") }
        var parameters = SyntheticTraceGenerator.Parameters()
        if let r = args.value("reuse") {
            guard let v = Double(r), (0...1).contains(v) else { throw MoESimError(field: "--reuse", "expected a probability in [0, 1], found '\(r)'") }
            parameters.reuseProbability = v
        }
        if let s = args.value("skew") {
            guard let v = Double(s), v >= 0, v.isFinite else { throw MoESimError(field: "--skew", "expected a number >= 0, found '\(s)'") }
            parameters.popularitySkew = v
        }
        let knobs = args.value("reuse") != nil || args.value("skew") != nil
        let profileName = args.value("profile") ?? (knobs ? "zipf" : SyntheticDefaults.profile)
        if profileName == "zipf" {
            let tokens = try args.int("tokens", default: ProfiledTraceSynthesizer.fallbackOutputTokens, minimum: 0, maximum: SynthesisLimits.maxTokens)
            let prompt = try args.int("prompt", default: 0, minimum: 0, maximum: SynthesisLimits.maxTokens)
            try SynthesisLimits.checkTotal(requests: requests, tokensPerRequest: tokens + prompt, option: "--tokens")
            try zipfSynth(model: model, tokens: tokens, prompt: prompt, requests: requests, seed: seed, parameters: parameters, args: args, out: &out)
            return
        }
        guard !knobs else {
            throw MoESimError(field: args.value("reuse") != nil ? "--reuse" : "--skew", "applies to --profile zipf only; a fitted profile sets reuse and skew per layer")
        }
        let profile = try SyntheticProfileCatalog.resolve(profileName)
        var options = ProfiledTraceSynthesizer.Options()
        options.requests = requests
        options.seed = seed
        options.outputTokens = args.value("tokens") != nil ? try args.int("tokens", default: 0, minimum: 0, maximum: SynthesisLimits.maxTokens) : nil
        options.promptTokens = args.value("prompt") != nil ? try args.int("prompt", default: 0, minimum: 0, maximum: SynthesisLimits.maxTokens) : nil
        // Lengths drawn from the profile are at most its largest quantile.
        let longest = { (d: SyntheticProfile.LengthDistribution?) in Int(d?.quantiles.max() ?? 0) }
        try SynthesisLimits.checkTotal(requests: requests, tokensPerRequest: (options.outputTokens ?? longest(profile.requests.outputTokens))
                                       + (options.promptTokens ?? longest(profile.requests.promptTokens)), option: "--tokens")
        // The command as given (minus --out/--force, which do not change the bytes), so it remakes this trace.
        var command = "sim trace synth --model \(args.value("model") ?? "mixtral-8x7b") --profile \(profileName)"
        if let t = options.outputTokens { command += " --tokens \(t)" }
        if let p = options.promptTokens { command += " --prompt \(p)" }
        command += " --requests \(requests) --seed \(seed)"
        options.command = command
        let writer = try args.value("out").map { try TraceWriter(path: $0, overwrite: args.has("force")) } ?? TraceWriter()
        ProfiledTraceSynthesizer(profile: profile, model: model, options: options).write(to: writer)
        try writer.close()
        if args.value("out") == nil { out += writer.text }
    }

    /// The plain Zipf generator (`--profile zipf`), kept byte for byte as before profiles existed.
    static func zipfSynth(model: ModelSpec, tokens: Int, prompt: Int, requests: Int, seed: UInt64, parameters: SyntheticTraceGenerator.Parameters,
                          args: ParsedArguments, out: inout String) throws {
        var generator = SyntheticTraceGenerator(layers: model.moeLayers, experts: model.experts, topK: model.topK, seed: seed, parameters: parameters)
        let writer = try args.value("out").map { try TraceWriter(path: $0, overwrite: args.has("force")) } ?? TraceWriter()
        var header = generator.header(model: model.name, sharedExperts: model.sharedExperts)
        if case var .object(members) = header.raw {
            members.append(("generated_by", .string("sim trace synth --model \(model.name) --tokens \(tokens) --prompt \(prompt) --requests \(requests) --seed \(seed) --reuse \(parameters.reuseProbability) --skew \(parameters.popularitySkew)")))
            header.raw = .object(members)
        }
        writer.write(header: header)
        var record = generator.makeRecord()
        for r in 0..<requests {
            let id = "synth/\(r)"
            writer.write(request: RequestInfo(id: id, task: "synthetic", promptTokens: prompt > 0 ? prompt : nil, outputTokens: tokens))
            for p in 0..<(prompt + tokens) {
                generator.next(into: &record)
                record.phase = p < prompt ? .prefill : .decode
                record.position = p
                writer.write(token: record, requestID: id, header: header)
            }
        }
        try writer.close()
        if args.value("out") == nil { out += writer.text }
    }

    static func fit(_ arguments: [String], out: inout String) throws {
        let args = try ArgumentParser.parse(arguments, options: fitOptions)
        if args.has("help") { out += fitHelp + "\n"; return }
        guard args.positionals.count == 1 else {
            throw MoESimError("expected exactly one trace file", hint: "usage: sim trace fit FILE [--phase decode|prefill|all] [--name NAME]")
        }
        var options = ProfileFitter.Options()
        if let p = args.value("phase") {
            guard let phase = ProfileMeasurement.PhaseFilter(rawValue: p) else {
                throw MoESimError(field: "--phase", "expected decode, prefill or all, found '\(p)'")
            }
            options.phase = phase
        }
        options.name = args.value("name")
        options.calibration.rounds = try args.int("calibration-rounds", default: options.calibration.rounds, minimum: 0)
        options.calibration.finalRoundTokens = try args.int("calibration-tokens", default: options.calibration.finalRoundTokens, minimum: 1)
        var command = "sim trace fit \(args.positionals[0]) --phase \(options.phase.rawValue)"
        if let name = options.name { command += " --name \(name)" }
        let defaults = ProfileCalibration.Settings()
        if options.calibration.rounds != defaults.rounds { command += " --calibration-rounds \(options.calibration.rounds)" }
        if options.calibration.finalRoundTokens != defaults.finalRoundTokens { command += " --calibration-tokens \(options.calibration.finalRoundTokens)" }
        options.command = command
        out += try ProfileFitter.fit(path: args.positionals[0], options: options).jsonText()
    }
}
