import Foundation

/// `sim trace ...`: tools that make and inspect traces.
enum TraceCommands {
    static let synthOptions: [OptionSpec] = [
        OptionSpec("model", value: "NAME", "model whose shape the trace has (`sim models`)", default: "mixtral-8x7b"),
        OptionSpec("tokens", value: "N", "decode tokens per request", default: "256"),
        OptionSpec("prompt", value: "N", "prefill (prompt) tokens per request", default: "0"),
        OptionSpec("requests", value: "N", "requests, one after another", default: "1"),
        OptionSpec("seed", value: "S", "random seed: same seed, same trace, byte for byte", default: "1"),
        OptionSpec("reuse", value: "P", "probability a token keeps the previous token's expert at a layer", default: "0.3"),
        OptionSpec("skew", value: "S", "Zipf exponent of per-layer expert popularity", default: "0.8"),
        OptionSpec("out", value: "FILE", "write here instead of standard output"),
        OptionSpec("force", "overwrite --out if it exists"),
        OptionSpec("help", "show this help"),
    ]

    static let synthHelp = """
    Usage: sim trace synth [--model M] [--tokens N] [--prompt N] [--requests N] [--seed S] [--out FILE]

    Writes a synthetic moe-trace v1 trace: seeded Zipf expert popularity per layer plus temporal reuse.
    These parameters are plain knobs, not fitted to recorded traces.

    Options:
    \(ArgumentParser.help(synthOptions))
    Example:
      sim trace synth --model mixtral-8x7b --prompt 64 --tokens 256 --seed 7 --out traces/my.moetrace.jsonl
    """

    static func run(_ arguments: [String], out: inout String) throws {
        guard let sub = arguments.first else {
            throw MoESimError("usage: sim trace synth|stats ...", hint: "see `sim trace synth --help` or `sim trace stats --help`")
        }
        switch sub {
        case "--help", "-h", "help":
            out += "Usage:\n  sim trace synth [options]      write a seeded synthetic trace (sim trace synth --help)\n"
            out += "  sim trace stats FILE [--json]  statistics of a trace (sim trace stats --help)\n"
            out += "  sim trace convert IN OUT       JSONL <-> binary .moetrace (OUT ending in .jsonl: JSONL; else binary)\n"
        case "synth": try synth(Array(arguments.dropFirst()), out: &out)
        case "stats": try stats(Array(arguments.dropFirst()), out: &out)
        case "convert": try convert(Array(arguments.dropFirst()), out: &out)
        default: throw MoESimError("unknown command 'trace \(sub)'", hint: "available: sim trace synth, sim trace stats")
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
        guard URL(fileURLWithPath: input).standardized.path != URL(fileURLWithPath: output).standardized.path else {
            throw MoESimError(file: output, "is the input file; not overwriting it")
        }
        let reader = try openTrace(path: input, missingCells: .skip, allowWiderCells: args.has("allow-wider-cells"))
        let toJSONL = output.hasSuffix(".jsonl")
        let jsonl = toJSONL ? try TraceWriter(path: output, overwrite: args.has("force")) : nil
        let binary = toJSONL ? nil : try BinaryTraceWriter(path: output, header: reader.header, overwrite: args.has("force"))
        jsonl?.write(header: reader.header)
        var tokens = 0
        while let item = try reader.next() {
            switch item {
            case let .request(i):
                jsonl?.write(request: reader.requests[i])
                binary?.write(request: reader.requests[i])
            case .token:
                let id = reader.requests[reader.token.request].id
                jsonl?.write(token: reader.token, requestID: id, header: reader.header)
                binary?.write(token: reader.token, requestID: id)
                tokens += 1
            }
        }
        jsonl?.close()
        binary?.close()
        out += "wrote \(output): \(tokens) tokens, \(reader.requests.count) requests, \(reader.missingCellCount) null cells (\(toJSONL ? "JSONL" : "binary"))\n"
    }

    static let statsOptions: [OptionSpec] = [
        OptionSpec("model", value: "NAME|FILE", "model spec, for AdapMoE's per-layer sensitivities", default: "the trace header's model"),
        OptionSpec("threshold", value: "T", "AdapMoE threshold T for the single-expert ratio", default: "\(TraceStatisticsCollector.defaultAdapMoEThreshold)"),
        OptionSpec("missing", value: "error|skip", "what to do with null routing cells", default: "skip"),
        OptionSpec("json", "print the statistics as JSON"),
        OptionSpec("help", "show this help"),
    ]

    static let statsHelp = """
    Usage: sim trace stats FILE [--model M] [--threshold T] [--json]

    One streaming pass over a trace: tokens, requests, phases and null cells; per layer the hottest expert's share
    and the Gini coefficient of expert use; consecutive-token reuse (decode tokens, same request); how predictable
    the next layer's experts are from this layer's top-1 expert (in-sample); the mean top-1 router weight; the
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
        while let item = try reader.next() {
            if case .token = item { collector.add(reader.token, weightsAreFull: full) }
        }
        let stats = collector.finish(file: path, header: header, requests: reader.requests.count, nullCells: reader.missingCellCount,
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
        out += "next-layer prediction  \(f(stats.transitionAccuracy)) (uniform \(f(stats.transitionAccuracyIfUniform)))\n"
        out += "mean top-1 weight      \(f(stats.meanTopWeight))\n"
        out += "hottest 10/25/50 %     " + ["10%", "25%", "50%"].map { f(stats.coverageOfHottest[$0]) }.joined(separator: " / ") + " of selections\n"
        if let ratio = stats.singleExpertRatio {
            out += "AdapMoE single-expert  \(f(ratio)) of decode cells at T = \(stats.adapmoeThreshold!) (H_l: \(stats.sensitivitySource ?? ""))\n"
        }
        out += "\nlayer  hottest  gini   reuse  top-1 w  next-layer" + (stats.singleExpertRatio != nil ? "  single" : "") + "\n"
        for (l, s) in stats.perLayer.enumerated() {
            out += CatalogCommands.pad("\(l)", 7) + CatalogCommands.pad(f(s.hottestShare), 9) + CatalogCommands.pad(f(s.gini), 7)
                + CatalogCommands.pad(f(s.reuse), 7) + CatalogCommands.pad(f(s.meanTopWeight), 9) + CatalogCommands.pad(f(s.transitionAccuracy), 12)
                + (s.singleExpertRatio.map { f($0) } ?? "") + "\n"
        }
    }

    static func synth(_ arguments: [String], out: inout String) throws {
        let args = try ArgumentParser.parse(arguments, options: synthOptions)
        if args.has("help") { out += synthHelp + "\n"; return }
        guard args.positionals.isEmpty else { throw MoESimError("unexpected argument '\(args.positionals[0])'", hint: "see `sim trace synth --help`") }
        let model = try ModelCatalog.resolve(args.value("model") ?? "mixtral-8x7b")
        let tokens = try args.int("tokens", default: 256, minimum: 0)
        let prompt = try args.int("prompt", default: 0, minimum: 0)
        let requests = try args.int("requests", default: 1, minimum: 1)
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
        writer.close()
        if args.value("out") == nil { out += writer.text }
    }
}
