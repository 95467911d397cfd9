import Foundation

/// `sim cache run|sweep`: hit rates without timing, and how far each policy is from Belady's optimum.
enum CacheCommands {
    static let commonOptions: [OptionSpec] = [
        OptionSpec("trace", value: "FILE", "moe-trace v1 JSONL file"),
        OptionSpec("gating", value: "NAME", "gating policy applied before the cache: \(gatingPolicies.names.joined(separator: ", "))", default: "topk"),
        OptionSpec("initial-fill", value: "empty|highest-index", "how caches start", default: "empty for sweep (stack distances need it), highest-index for run (as `sim run`)"),
        OptionSpec("static-profile", value: "whole|prefix:N", "passes a static hot set is chosen from", default: "whole"),
        OptionSpec("missing", value: "error|skip", "what to do with null routing cells", default: "skip"),
        OptionSpec("allow-wider-cells", "accept routing cells with more than top_k experts"),
        OptionSpec("json", "print results as JSON"),
        OptionSpec("csv", "print results as CSV"),
        OptionSpec("help", "show this help"),
    ]
    static let sweepOptions = [
        OptionSpec("capacities", value: "A..B|A,B,...", "capacities to sweep: experts per layer (per-layer) or in all (global)", default: "1..(experts-1)"),
        OptionSpec("layout", value: "per-layer|global", "one cache per layer or one shared pool", default: "per-layer"),
        OptionSpec("policies", value: "LIST", "comma-separated: \(cachePolicies.names.joined(separator: ","))", default: "all"),
    ] + commonOptions
    static let runOptions = [OptionSpec("cache", value: "SPEC", "POLICY-per-layer:N, POLICY-global:N, a per-layer list, all-resident or none")] + commonOptions

    static let help = """
    Usage:
      sim cache sweep --trace FILE [--capacities 1..7] [--layout per-layer|global] [--policies lru,belady,...]
      sim cache run --trace FILE --cache SPEC

    Cache-only mode: hit rates without timing, for every policy and capacity in one pass over the trace, next to
    Belady's optimum (OPT with bypass) for the same capacity. Accesses are exactly the timed engine's: each
    distinct expert of a (pass, layer) once, after gating, so with the same initial fill a configuration's hits
    equal those of `sim run`. LRU from a cold start uses stack distances (every capacity in one pass). `sweep`
    starts caches empty, `run` with the highest-numbered experts (as `sim run`); --initial-fill overrides both.

    Sweep options:
    \(ArgumentParser.help(sweepOptions))
    Run options: --cache SPEC plus the common ones above.

    Example:
      sim cache sweep --trace ../shared/traces/mixtral-8x7b-vllm-fp8/humaneval-decode.moetrace.jsonl --capacities 1..7
    """

    static func run(_ arguments: [String], out: inout String) throws {
        guard let sub = arguments.first, sub != "--help", sub != "-h" else { out += help + "\n"; return }
        let rest = Array(arguments.dropFirst())
        switch sub {
        case "sweep": try sweep(try ArgumentParser.parse(rest, options: sweepOptions), out: &out)
        case "run": try single(try ArgumentParser.parse(rest, options: runOptions), out: &out)
        default: throw MoESimError("unknown command 'cache \(sub)'", hint: "use `sim cache sweep` or `sim cache run`; see `sim cache --help`")
        }
    }

    struct Common {
        var source: PassSource
        var replay: CacheOnlyReplay
        var fill: ExpertCache.InitialFill
        var format: String
    }

    static func common(_ args: ParsedArguments, defaultFill: ExpertCache.InitialFill) throws -> Common {
        guard args.positionals.isEmpty else { throw MoESimError("unexpected argument '\(args.positionals[0])'", hint: "see `sim cache --help`") }
        guard let path = args.value("trace") else { throw MoESimError(field: "--trace", "a trace file is required", hint: "see `sim cache --help`") }
        guard let missing = MissingCellPolicy(rawValue: args.value("missing") ?? "skip") else {
            throw MoESimError(field: "--missing", "expected error or skip, found '\(args.value("missing")!)'")
        }
        guard let fill = ExpertCache.InitialFill(rawValue: args.value("initial-fill") ?? defaultFill.rawValue) else {
            throw MoESimError(field: "--initial-fill", "expected empty or highest-index, found '\(args.value("initial-fill")!)'")
        }
        guard !(args.has("json") && args.has("csv")) else { throw MoESimError("--json and --csv exclude each other") }
        let source = try TracePassSource(path: path, missingCells: missing, allowWiderCells: args.has("allow-wider-cells"))
        let replay = CacheOnlyReplay(source: source, gating: args.value("gating") ?? "topk", initialFill: fill,
                                     staticProfile: try PopularityProfile.parse(args.value("static-profile") ?? "whole"))
        return Common(source: source, replay: replay, fill: fill, format: args.has("json") ? "json" : (args.has("csv") ? "csv" : "text"))
    }

    static func parseCapacities(_ text: String, maximum: Int) throws -> [Int] {
        let values: [Int]
        if let range = text.range(of: "..") {
            guard let a = Int(text[..<range.lowerBound]), let b = Int(text[range.upperBound...]), a <= b else {
                throw MoESimError(field: "--capacities", "expected A..B with A <= B, found '\(text)'")
            }
            values = Array(a...b)
        } else {
            let parsed = text.split(separator: ",", omittingEmptySubsequences: false).map { Int($0) }
            guard !parsed.isEmpty, parsed.allSatisfy({ $0 != nil }) else {
                throw MoESimError(field: "--capacities", "expected A..B or a comma list of integers, found '\(text)'")
            }
            values = parsed.map { $0! }
        }
        if let bad = values.first(where: { $0 < 0 || $0 > maximum }) {
            throw MoESimError(field: "--capacities", "capacity \(bad) is outside 0...\(maximum)")
        }
        return values
    }

    static func sweep(_ args: ParsedArguments, out: inout String) throws {
        if args.has("help") { out += help + "\n"; return }
        let c = try common(args, defaultFill: .empty)
        let header = c.source.header
        guard let layout = CacheSpec.Layout(rawValue: args.value("layout") ?? "per-layer") else {
            throw MoESimError(field: "--layout", "expected per-layer or global, found '\(args.value("layout")!)'")
        }
        let keySpace = header.layers * header.experts
        let maximum = layout == .perLayer ? header.experts : keySpace
        let capacities = try parseCapacities(args.value("capacities") ?? "1..\(header.experts - 1)", maximum: maximum)
        let policies = (args.value("policies") ?? cachePolicies.names.joined(separator: ",")).split(separator: ",").map(String.init)
        for p in policies { _ = try cachePolicies.resolve(p, kind: "cache policy") }

        // LRU from a cold start: every capacity from one stack pass. Everything else: one cache per (policy, capacity).
        let stackLRU = c.fill == .empty && policies.contains("lru")
        var configurations: [CacheOnlyReplay.Configuration] = []
        for p in policies where !(stackLRU && p == "lru") {
            for capacity in capacities {
                configurations.append(.init(policy: p, layout: layout,
                                            capacities: layout == .perLayer ? Array(repeating: capacity, count: header.layers) : [capacity]))
            }
        }
        var results = try c.replay.run(configurations)
        let lookaheadNote = c.replay.lookaheadExceeded ? Simulation.lookaheadWarning(c.replay.lookaheadWindow) : nil
        if stackLRU {
            let gating = try gatingPolicies.resolve(args.value("gating") ?? "topk", kind: "gating policy").make()
            let stack = LRUStackDistances(layers: header.layers, experts: header.experts, layout: layout)
            try stack.consume(AccessStream(source: try c.source.reopen(), gating: gating))
            for capacity in capacities {
                let hits = stack.hits(capacity: capacity)
                results.append(.init(policy: "lru", layout: layout.rawValue,
                                     capacities: layout == .perLayer ? Array(repeating: capacity, count: header.layers) : [capacity],
                                     accesses: stack.accessesPerLayer.reduce(0, +), hits: hits.reduce(0, +), perLayerHits: hits,
                                     perLayerAccesses: stack.accessesPerLayer))
            }
        }
        func rate(_ policy: String, _ capacity: Int) -> Double? {
            results.first { $0.policy == policy && $0.capacities.reduce(0, +) == (layout == .perLayer ? capacity * header.layers : capacity) }?.hitRate
        }
        switch c.format {
        case "json":
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            struct Sweep: Encodable { var trace: String; var layout: String; var initialFill: String; var capacities: [Int]; var hitRate: [String: [Double?]] }
            let sweep = Sweep(trace: c.source.sourceName, layout: layout.rawValue, initialFill: c.fill.rawValue, capacities: capacities,
                              hitRate: Dictionary(uniqueKeysWithValues: policies.map { p in (p, capacities.map { rate(p, $0) }) }))
            out += String(decoding: try encoder.encode(sweep), as: UTF8.self) + "\n"
        case "csv":
            out += "capacity," + policies.joined(separator: ",") + "\n"
            for capacity in capacities {
                out += "\(capacity)," + policies.map { rate($0, capacity).map { "\($0)" } ?? "" }.joined(separator: ",") + "\n"
            }
        default:
            let accesses = results.first?.accesses ?? 0
            out += "Hit rate by capacity: \(c.source.sourceName)\n"
            out += "\(accesses) accesses; \(layout.rawValue) cache (capacity = experts \(layout == .perLayer ? "per layer" : "in all")), caches start \(c.fill.rawValue)\n\n"
            out += CatalogCommands.pad("capacity", 10) + policies.map { CatalogCommands.pad($0, 9) }.joined()
            out += policies.contains("belady") ? "best non-OPT gap" : ""
            out += "\n"
            for capacity in capacities {
                out += CatalogCommands.pad("\(capacity)", 10)
                out += policies.map { CatalogCommands.pad(rate($0, capacity).map { String(format: "%.4f", $0) } ?? "n/a", 9) }.joined()
                if policies.contains("belady"), let opt = rate("belady", capacity) {
                    let best = policies.filter { $0 != "belady" }.compactMap { rate($0, capacity) }.max()
                    out += best.map { String(format: "%.4f", opt - $0) } ?? ""
                }
                out += "\n"
            }
            if let lookaheadNote { out += "warning: \(lookaheadNote)\n" }
        }
    }

    static func single(_ args: ParsedArguments, out: inout String) throws {
        if args.has("help") { out += help + "\n"; return }
        let c = try common(args, defaultFill: .highestIndex)
        let header = c.source.header
        guard let text = args.value("cache") else { throw MoESimError(field: "--cache", "a cache spec is required", hint: "e.g. --cache lru-per-layer:4") }
        let spec = try CacheSpec.parse(text)
        switch spec.capacity {
        case .fit, .bytes:
            throw MoESimError(field: "--cache", "'\(text)' depends on a device; cache-only mode takes expert counts", hint: "use `sim run` with --hardware, or give N")
        default: break
        }
        let capacities = try spec.resolve(layers: header.layers, experts: header.experts, expertBytes: 1, freeBytes: 0)
        let full = spec.capacity == .everything
        let results = try c.replay.run([.init(policy: spec.policy, layout: spec.layout, capacities: capacities, startsFull: full),
                                        .init(policy: "belady", layout: spec.layout, capacities: capacities, startsFull: full)])
        let (r, opt) = (results[0], results[1])
        switch c.format {
        case "json":
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            struct Single: Encodable { var result: CacheOnlyReplay.Result; var belady: CacheOnlyReplay.Result; var hitRate: Double?; var beladyHitRate: Double? }
            out += String(decoding: try encoder.encode(Single(result: r, belady: opt, hitRate: r.hitRate, beladyHitRate: opt.hitRate)), as: UTF8.self) + "\n"
        case "csv":
            out += "policy,layout,accesses,hits,hit_rate,belady_hits,belady_hit_rate\n"
            out += "\(r.policy),\(r.layout),\(r.accesses),\(r.hits),\(r.hitRate.map { "\($0)" } ?? ""),\(opt.hits),\(opt.hitRate.map { "\($0)" } ?? "")\n"
        default:
            out += "\(spec.text) (caches start \(full ? "full" : c.fill.rawValue)) on \(c.source.sourceName): hit rate \(ReportFormatter.percent(r.hitRate)) (\(r.hits) of \(r.accesses)); "
            out += "Belady \(ReportFormatter.percent(opt.hitRate)); gap \(ReportFormatter.percent((opt.hitRate ?? 0) - (r.hitRate ?? 0)))\n"
            if c.replay.lookaheadExceeded { out += "warning: \(Simulation.lookaheadWarning(c.replay.lookaheadWindow))\n" }
        }
    }
}
