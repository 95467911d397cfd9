import Foundation

/// `sim cache run|sweep`: hit rates without timing, and how far each policy is from Belady's optimum.
enum CacheCommands {
    static let commonOptions: [OptionSpec] = [
        OptionSpec("trace", value: "FILE", "moe-trace v1 JSONL file"),
        OptionSpec("gating", value: "SPEC", "gating policy applied before the cache: \(gatingPolicies.names.joined(separator: ", ")), with options as in `sim run --help` (e.g. adapmoe:T=0.007)", default: "topk"),
        OptionSpec("model", value: "NAME|FILE", "model spec, for gating sensitivities and AdapMoE allocation profiles", default: "the trace header's model, if known"),
        OptionSpec("initial-fill", value: "empty|highest-index", "how caches start", default: "empty for sweep (stack distances need it), highest-index for run (as `sim run`)"),
        OptionSpec("static-profile", value: "whole|prefix:N", "passes a static hot set is chosen from", default: "whole"),
        OptionSpec("optimum", value: "on|off", "Belady's optimum next to each result (off: skip it and its look-ahead; the output says so)", default: "on"),
        OptionSpec("missing", value: "error|skip", "what to do with null routing cells", default: "skip"),
        OptionSpec("allow-wider-cells", "accept routing cells with more than top_k experts"),
        OptionSpec("json", "print results as JSON"),
        OptionSpec("csv", "print results as CSV"),
        OptionSpec.presetOverrides,
        OptionSpec("help", "show this help"),
    ]
    static let sweepOptions = [
        OptionSpec("capacities", value: "A..B|A,B,...", "capacities to sweep: experts per layer (per-layer) or in all (global)", default: "1..(experts-1)"),
        OptionSpec("layout", value: "per-layer|global", "one cache per layer or one shared pool", default: "per-layer"),
        OptionSpec("policies", value: "LIST", "comma-separated: \(cachePolicies.names.joined(separator: ","))", default: "all"),
    ] + commonOptions
    static let runOptions = [OptionSpec("cache", value: "SPEC", "POLICY-per-layer:N, POLICY-global:N, a per-layer list, all-resident, none, or adapmoe-dp:total=N | adapmoe-dp-nogating:total=N | adapmoe-dp-measured:total=N,prefix=K")] + commonOptions
    static let allocateOptions: [OptionSpec] = [
        OptionSpec("model", value: "NAME|FILE", "model spec with a published AdapMoE profile (gating, nogating)", default: "the trace header's model"),
        OptionSpec("total", value: "N", "experts cached in all, divided among layers"),
        OptionSpec("mode", value: "gating|nogating|measured", "published a_l and r_l; published a_l with r_l = 0; or both measured on --trace", default: "gating"),
        OptionSpec("trace", value: "FILE", "trace to measure on (measured mode)"),
        OptionSpec("prefix", value: "K", "decode tokens to measure on (measured mode)"),
        OptionSpec("gating", value: "SPEC", "gating whose single-expert ratio is r_l (measured mode)", default: "topk"),
        OptionSpec("missing", value: "error|skip", "what to do with null routing cells", default: "skip"),
        OptionSpec("json", "print results as JSON"),
        OptionSpec("csv", "print results as CSV"),
        OptionSpec("help", "show this help"),
    ]

    static let help = """
    Usage:
      sim cache sweep --trace FILE [--capacities 1..7] [--layout per-layer|global] [--policies lru,belady,...]
      sim cache run --trace FILE --cache SPEC
      sim cache allocate --model M --total N [--mode gating|nogating|measured --trace FILE --prefix K --gating SPEC]

    Cache-only mode: hit rates without timing, for every policy and capacity in one pass over the trace, next to
    Belady's optimum (OPT with bypass) for the same capacity. Accesses are exactly the timed engine's: each
    distinct expert of a (pass, layer) once, after gating, so with the same initial fill a configuration's hits
    equal those of `sim run`. LRU from a cold start uses stack distances (every capacity in one pass). `sweep`
    starts caches empty, `run` with the highest-numbered experts (as `sim run`); --initial-fill overrides both.

    Sweep options:
    \(ArgumentParser.help(sweepOptions))
    Run options: --cache SPEC plus the common ones above. With a gating policy that drops experts (adapmoe,
    score) the output adds the single-expert ratio per layer and AdapMoE's loss-increase proxy.

    `allocate` prints AdapMoE's DP per-layer cache allocation (papers.md §1.3.C) for a total, with the expected
    on-demand loads per token next to an equal split. `--cache adapmoe-dp:total=N` (and -nogating, -measured)
    gives `sim run` and `sim cache run` a per-layer LRU with those capacities.

    Allocate options:
    \(ArgumentParser.help(allocateOptions))

    Examples:
      sim cache sweep --trace ../shared/traces/mixtral-8x7b-vllm-fp8/humaneval-decode.moetrace.jsonl --capacities 1..7
      sim cache run --trace FILE --gating adapmoe --cache adapmoe-dp:total=64
      sim cache allocate --model mixtral-8x7b --total 64 --mode nogating
    """

    static func run(_ arguments: [String], out: inout String) throws {
        guard let sub = arguments.first, sub != "--help", sub != "-h" else { out += help + "\n"; return }
        let rest = Array(arguments.dropFirst())
        switch sub {
        case "sweep": try sweep(try ArgumentParser.parse(rest, options: sweepOptions), out: &out)
        case "run": try single(try ArgumentParser.parse(rest, options: runOptions), out: &out)
        case "allocate": try allocate(try ArgumentParser.parse(rest, options: allocateOptions), out: &out)
        default: throw MoESimError("unknown command 'cache \(sub)'", hint: "use `sim cache sweep`, `sim cache run` or `sim cache allocate`; see `sim cache --help`")
        }
    }

    struct Common {
        var source: PassSource
        var replay: CacheOnlyReplay
        var fill: ExpertCache.InitialFill
        var format: String
        var model: ModelSpec?
        var gating: String
        var optimum: Report.Optimum
    }

    /// `--model`, or the trace header's model when the catalog knows it (nil otherwise: only gating and
    /// allocations that need a model then fail, saying so). Checked against the trace.
    static func model(_ args: ParsedArguments, header: TraceHeader, file: String) throws -> ModelSpec? {
        // Cache-only mode has no device or runtime: only model fields (gating sensitivities) can be overridden.
        let overrides = try PresetOverrides.parse(args.all("set"))
        if let other = overrides.items.first(where: { $0.kind != ModelSpec.noun }) {
            throw MoESimError(field: "--set \(other.text)", "sim cache times nothing, so \(other.kind) figures do not apply",
                              hint: "use it with sim run; here only model fields can be set")
        }
        let model = try args.value("model").map { try ModelCatalog.resolve($0, overrides: overrides) }
            ?? (try? ModelCatalog.resolve(nil, for: header, tracePath: file, overrides: overrides))
        if let model { try Simulation.checkCompatible(model: model, header: header, file: file) }
        return model
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
        let model = try model(args, header: source.header, file: path)
        let gating = args.value("gating") ?? "topk"
        let optimum = try Report.Optimum.parse(args.value("optimum"))
        let replay = CacheOnlyReplay(source: source, gating: gating, model: model, initialFill: fill,
                                     staticProfile: try PopularityProfile.parse(args.value("static-profile") ?? "whole"))
        return Common(source: source, replay: replay, fill: fill, format: args.has("json") ? "json" : (args.has("csv") ? "csv" : "text"),
                      model: model, gating: gating, optimum: optimum)
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
        let skipped = c.optimum == .skipped
        let policies = (args.value("policies") ?? cachePolicies.names.filter { !(skipped && $0 == "belady") }.joined(separator: ","))
            .split(separator: ",").map(String.init)
        for p in policies { _ = try cachePolicies.resolve(p, kind: "cache policy") }
        if skipped && policies.contains("belady") {
            throw MoESimError(field: "--policies", "belady is Belady's optimum, which --optimum off skips", hint: "drop belady from --policies, or use --optimum on")
        }

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
            let gating = try gatingPolicies.make(c.gating, model: c.model, header: header)
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
            struct Sweep: Encodable {
                var trace: String; var layout: String; var initialFill: String; var optimum: Report.Optimum; var capacities: [Int]; var hitRate: [String: [Double?]]
            }
            let sweep = Sweep(trace: c.source.sourceName, layout: layout.rawValue, initialFill: c.fill.rawValue, optimum: c.optimum, capacities: capacities,
                              hitRate: Dictionary(uniqueKeysWithValues: policies.map { p in (p, capacities.map { rate(p, $0) }) }))
            out += String(decoding: try encoder.encode(sweep), as: UTF8.self) + "\n"
        case "csv":
            // With the optimum skipped its column stays, saying so in every row.
            out += "capacity," + policies.joined(separator: ",") + (skipped ? ",belady" : "") + "\n"
            for capacity in capacities {
                out += "\(capacity)," + policies.map { rate($0, capacity).map { "\($0)" } ?? "" }.joined(separator: ",") + (skipped ? ",skipped" : "") + "\n"
            }
        default:
            let accesses = results.first?.accesses ?? 0
            out += "Hit rate by capacity: \(c.source.sourceName)\n"
            for o in args.all("set") { out += "override: --set \(o)\n" }
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
            if skipped { out += "\(Report.Optimum.skippedNote)\n" }
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
        let source = c.source, model = c.model, gating = c.gating
        let context = CacheAllocationContext(model: model, topK: header.topK, source: { try source.reopen() },
                                             gating: { try gatingPolicies.make(gating, model: model, header: header) }, gatingText: gating)
        let capacities = try spec.resolve(layers: header.layers, experts: header.experts, expertBytes: 1, freeBytes: 0, allocation: context)
        let full = spec.capacity == .everything
        let measured = CacheOnlyReplay.Configuration(policy: spec.policy, layout: spec.layout, capacities: capacities, startsFull: full)
        let results = try c.replay.run(c.optimum == .computed
            ? [measured, .init(policy: "belady", layout: spec.layout, capacities: capacities, startsFull: full)] : [measured])
        let (r, opt) = (results[0], results.count > 1 ? results[1] : nil)
        let g = c.replay.gatingReport
        switch c.format {
        case "json":
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            struct Single: Encodable {
                var result: CacheOnlyReplay.Result; var belady: CacheOnlyReplay.Result?; var hitRate: Double?; var beladyHitRate: Double?
                var optimum: Report.Optimum; var gating: Report.Gating?
            }
            out += String(decoding: try encoder.encode(Single(result: r, belady: opt, hitRate: r.hitRate, beladyHitRate: opt?.hitRate,
                                                               optimum: c.optimum, gating: g)), as: UTF8.self) + "\n"
        case "csv":
            func f(_ v: Double?) -> String { v.map { "\($0)" } ?? "" }
            out += "policy,layout,accesses,hits,hit_rate,belady_hits,belady_hit_rate,optimum,single_expert_ratio,activated_expert_reduction,loss_increase_proxy\n"
            out += "\(r.policy),\(r.layout),\(r.accesses),\(r.hits),\(f(r.hitRate)),\(opt.map { "\($0.hits)" } ?? ""),\(f(opt?.hitRate)),\(c.optimum.rawValue),"
            out += "\(f(g?.singleExpertRatio)),\(f(g?.activatedExpertReduction)),\(f(g?.estimatedLossIncreaseProxy))\n"
        default:
            out += "\(spec.text) (caches start \(full ? "full" : c.fill.rawValue)) on \(c.source.sourceName): hit rate \(ReportFormatter.percent(r.hitRate)) (\(r.hits) of \(r.accesses)); "
            if let opt {
                out += "Belady \(ReportFormatter.percent(opt.hitRate)); gap \(ReportFormatter.percent((opt.hitRate ?? 0) - (r.hitRate ?? 0)))\n"
            } else {
                out += "\(Report.Optimum.skippedNote)\n"
            }
            if spec.allocation != nil { out += "Capacities by layer \(capacities)\n" }
            if let g { out += ReportFormatter.gatingText(g) + ReportFormatter.gatingByLayerText(g) }
            if c.replay.lookaheadExceeded { out += "warning: \(Simulation.lookaheadWarning(c.replay.lookaheadWindow))\n" }
        }
    }
}

extension CacheCommands {
    /// `sim cache allocate`: AdapMoE's DP per-layer allocation for a total, next to an equal split.
    static func allocate(_ args: ParsedArguments, out: inout String) throws {
        if args.has("help") { out += help + "\n"; return }
        guard args.positionals.isEmpty else { throw MoESimError("unexpected argument '\(args.positionals[0])'", hint: "see `sim cache --help`") }
        guard !(args.has("json") && args.has("csv")) else { throw MoESimError("--json and --csv exclude each other") }
        guard let totalText = args.value("total") else {
            throw MoESimError(field: "--total", "the number of cached experts is required", hint: "e.g. --total 64")
        }
        guard let total = Int(totalText), total >= 0 else { throw MoESimError(field: "--total", "expected an integer >= 0, found '\(totalText)'") }
        let mode = args.value("mode") ?? "gating"
        let allocation: CacheAllocation
        switch mode {
        case "gating": allocation = .adapmoeDP(gatingStatistics: true)
        case "nogating": allocation = .adapmoeDP(gatingStatistics: false)
        case "measured":
            guard args.value("trace") != nil else { throw MoESimError(field: "--trace", "measured mode measures a_l and r_l on a trace", hint: "give --trace FILE --prefix K") }
            guard let prefix = args.value("prefix") else { throw MoESimError(field: "--prefix", "measured mode needs the decode tokens to measure on", hint: "e.g. --prefix 294") }
            guard let k = Int(prefix), k >= 1 else { throw MoESimError(field: "--prefix", "expected an integer >= 1, found '\(prefix)'") }
            allocation = .adapmoeDPMeasured(prefixTokens: k)
        default: throw MoESimError(field: "--mode", "expected gating, nogating or measured, found '\(mode)'")
        }
        if mode != "measured", args.value("prefix") != nil { throw MoESimError(field: "--prefix", "only measured mode takes a prefix") }

        // The model: --model, else the trace header's.
        var source: PassSource?
        if let path = args.value("trace") {
            guard let missing = MissingCellPolicy(rawValue: args.value("missing") ?? "skip") else {
                throw MoESimError(field: "--missing", "expected error or skip, found '\(args.value("missing")!)'")
            }
            source = try TracePassSource(path: path, missingCells: missing)
        }
        let model: ModelSpec
        if let name = args.value("model") {
            model = try ModelCatalog.resolve(name)
        } else if let header = source?.header {
            model = try ModelCatalog.resolve(nil, for: header, tracePath: args.value("trace") ?? "")
        } else {
            throw MoESimError(field: "--model", "a model is required", hint: "e.g. --model mixtral-8x7b")
        }
        if let source { try Simulation.checkCompatible(model: model, header: source.header, file: source.sourceName) }
        let keySpace = model.moeLayers * model.experts
        guard total <= keySpace else { throw MoESimError(field: "--total", "\(total) exceeds the model's \(keySpace) experts") }
        let gating = args.value("gating") ?? "topk"
        // Only measured mode, which has a trace, builds the gating policy (for r_l).
        let context = CacheAllocationContext(model: model, topK: model.topK, source: source.map { s in { try s.reopen() } },
                                             gating: { try source.map { try gatingPolicies.make(gating, model: model, header: $0.header) } ?? TopKReplayGating() },
                                             gatingText: gating)
        let prefixOption: String = { if case let .adapmoeDPMeasured(k) = allocation { return ",prefix=\(k)" }; return "" }()
        guard model.topK == AdapMoEAllocation.modelledTopK else {
            throw MoESimError(field: "--model", "AdapMoE's allocation objective models top-\(AdapMoEAllocation.modelledTopK) routing; \(model.name) routes top-\(model.topK)")
        }
        let inputs = try allocation.inputs(context: context, layers: model.moeLayers)
        let capacities = AdapMoEAllocation.capacities(total: total, experts: model.experts, prefetchAccuracy: inputs.prefetchAccuracy,
                                                      singleExpertRatio: inputs.singleExpertRatio)
        let equal = try CacheSpec.parse("lru-per-layer:total=\(total)").resolve(layers: model.moeLayers, experts: model.experts, expertBytes: 1, freeBytes: 0)
        func loads(_ l: Int, _ s: Int) -> Double {
            AdapMoEAllocation.expectedLoads(cached: s, experts: model.experts, prefetchAccuracy: inputs.prefetchAccuracy[l], singleExpertRatio: inputs.singleExpertRatio[l])
        }
        let perLayer = capacities.indices.map { loads($0, capacities[$0]) }
        let equalLoads = equal.indices.reduce(0) { $0 + loads($1, equal[$1]) }
        switch args.has("json") ? "json" : (args.has("csv") ? "csv" : "text") {
        case "json":
            struct Allocation: Encodable {
                var model: String; var total: Int; var mode: String; var inputs: String; var measuredDecodeTokens: Int?
                var prefetchAccuracy: [Double]; var singleExpertRatio: [Double]; var capacities: [Int]
                var expectedLoadsPerLayer: [Double]; var expectedLoadsPerToken: Double
                var equalSplitCapacities: [Int]; var equalSplitExpectedLoadsPerToken: Double
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            out += String(decoding: try encoder.encode(Allocation(
                model: model.name, total: total, mode: allocation.name, inputs: inputs.provenance, measuredDecodeTokens: inputs.measuredDecodeTokens,
                prefetchAccuracy: inputs.prefetchAccuracy, singleExpertRatio: inputs.singleExpertRatio, capacities: capacities,
                expectedLoadsPerLayer: perLayer, expectedLoadsPerToken: perLayer.reduce(0, +),
                equalSplitCapacities: equal, equalSplitExpectedLoadsPerToken: equalLoads)), as: UTF8.self) + "\n"
        case "csv":
            out += "layer,prefetch_accuracy,single_expert_ratio,capacity,expected_loads,equal_split_capacity\n"
            for l in capacities.indices {
                out += "\(l),\(inputs.prefetchAccuracy[l]),\(inputs.singleExpertRatio[l]),\(capacities[l]),\(perLayer[l]),\(equal[l])\n"
            }
        default:
            out += "AdapMoE DP cache allocation (papers.md §1.3.C), \(allocation.name): \(model.name), \(total) experts in all\n"
            out += "inputs: \(inputs.provenance)\n"
            out += "f(l,s): expected on-demand loads per token at layer l with s cached (top-2, uniform experts, prefetch fixes one miss)\n\n"
            out += CatalogCommands.pad("layer", 7) + CatalogCommands.pad("a_l", 9) + CatalogCommands.pad("r_l", 9)
                + CatalogCommands.pad("capacity", 10) + CatalogCommands.pad("f(l,s)", 9) + "equal split\n"
            for l in capacities.indices {
                out += CatalogCommands.pad("\(l)", 7) + CatalogCommands.pad(String(format: "%.4f", inputs.prefetchAccuracy[l]), 9)
                    + CatalogCommands.pad(String(format: "%.4f", inputs.singleExpertRatio[l]), 9) + CatalogCommands.pad("\(capacities[l])", 10)
                    + CatalogCommands.pad(String(format: "%.4f", perLayer[l]), 9) + "\(equal[l])\n"
            }
            out += "\nexpected on-demand loads per token: \(String(format: "%.4f", perLayer.reduce(0, +))) (equal split \(String(format: "%.4f", equalLoads)))\n"
            out += "--cache \(allocation.name):total=\(total)\(prefixOption) (sim run, sim cache run) gives these capacities\n"
        }
    }
}
