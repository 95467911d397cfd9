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
            throw MoESimError("usage: sim trace synth ...", hint: "see `sim trace synth --help`")
        }
        switch sub {
        case "synth": try synth(Array(arguments.dropFirst()), out: &out)
        default: throw MoESimError("unknown command 'trace \(sub)'", hint: "available: sim trace synth")
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
