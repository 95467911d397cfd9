import Foundation

/// `sim run`: replay a trace on a device with a policy set and print the report.
public enum RunCommand {
    public static let options: [OptionSpec] = [
        OptionSpec("trace", value: "FILE", "moe-trace v1 JSONL file to replay (see ../shared/docs/trace-format.md)"),
        OptionSpec("hardware", value: "NAME|FILE", "device preset or alias (`sim hardware list`) or a JSON profile", default: "rtx4090"),
        OptionSpec("model", value: "NAME|FILE", "model spec (`sim models`)", default: "the trace header's model"),
        OptionSpec("system", value: "NAME|FILE", "a published system's cache, gating, prefetch, miss, runtime and quant (`sim systems`); explicit options override it"),
        OptionSpec("quant", value: "NAME", "quantization: fp16, fp8, int8, hqq4, hqq3, hqq2, mxfp4 or hqqB-gG", default: "the model's default"),
        OptionSpec("runtime", value: "NAME|FILE", "software stack profile (`sim runtime list`)", default: "hf-eager"),
        OptionSpec("cache", value: "SPEC", "all-resident | none | POLICY-per-layer:N | POLICY-global:N | ...:total=N | ...:bytes=6GiB | ...:fit | adapmoe-dp[-nogating]:total=N | adapmoe-dp-measured:total=N,prefix=K; POLICY: \(cachePolicies.names.joined(separator: ", "))", default: "lru-per-layer:fit"),
        OptionSpec("cache-experts", value: "N", "total experts cached on the device, keeping the cache policy of --cache or --system (lru-per-layer:fit becomes lru-per-layer:total=N)"),
        OptionSpec("static-profile", value: "whole|prefix:N", "passes a static hot set is chosen from", default: "whole"),
        OptionSpec("gating", value: "SPEC", "gating policy NAME[:OPTIONS]: \(gatingPolicies.names.joined(separator: ", ")) (see Gating below)", default: "topk"),
        OptionSpec("prefetch", value: "SPEC", "prefetch policy NAME[:OPTIONS]: \(prefetchPolicies.names.joined(separator: ", ")) (see Prefetch below)", default: "none"),
        OptionSpec("miss", value: "SPEC", "miss policy NAME[:OPTIONS]: \(missPolicies.names.joined(separator: ", ")) (see Misses below)", default: "load"),
        OptionSpec("seed", value: "S", "seed of every random choice (a prefetch predictor's guesses): same seed, same output", default: "\(SimulationConfig.defaultSeed)"),
        OptionSpec("missing", value: "error|skip", "what to do with null routing cells", default: "skip"),
        OptionSpec("initial-fill", value: "highest-index|empty", "how the cache starts", default: "highest-index"),
        OptionSpec("kv-reserve-tokens", value: "N", "KV-cache tokens kept free when sizing a `fit` cache", default: "\(SimulationConfig.defaultKVReserveTokens)"),
        OptionSpec("baseline", value: "SET", "also run with these changes and print the speedup, e.g. \"cache=none\" or \"cache=lru-per-layer:2 prefetch=none\""),
        OptionSpec("allow-wider-cells", "accept routing cells with more than top_k experts"),
        OptionSpec("timeline", value: "FILE", "write the simulated schedule as a Chrome Trace Event JSON file (open in ui.perfetto.dev or chrome://tracing)"),
        OptionSpec("timeline-svg", value: "FILE", "draw a few passes' schedule as an SVG (rows GPU, H2D, D2H, and CPU when a miss policy ran experts there)"),
        OptionSpec("timeline-passes", value: "A..B|N", "passes (from 0) the timeline records", default: "\(PassRange.defaultJSON) for --timeline, \(PassRange.defaultSVG) for --timeline-svg alone"),
        OptionSpec("force", "overwrite existing --timeline / --timeline-svg files"),
        OptionSpec("check", "check the engine's invariants while it runs; a violation is an error naming the invariant, pass, layer and expert"),
        OptionSpec("json", "print the report as JSON"),
        OptionSpec("csv", "print the report as one CSV header line and one data line"),
        OptionSpec("help", "show this help"),
    ]

    public static let help = """
    Usage: sim [run] --trace FILE [--hardware NAME] [options]

    Replays a recorded gating trace through a discrete-event model of MoE inference with offloaded experts
    and reports decode speed, time to first token, cache hit rate, bytes over the host link and GPU stalls.

    Options:
    \(ArgumentParser.help(options))
    Units: seconds, bytes (binary prefixes: GiB = 2^30), bytes/s; rates are fractions.

    Gating (--gating NAME or NAME:OPTION,KEY=VALUE,...; also a --baseline key):
    \(gatingPolicies.helpText(nameColumn: 12))
      A policy that drops experts adds to the report the single-expert ratio (cells run with fewer experts than
      recorded, overall, decode-only and per layer), the cut in activated experts, and AdapMoE's loss-increase
      PROXY: the sum over dropped cells of H_l * w2^2 / 2, an estimate, not a measured loss.

    Prefetch (--prefetch NAME or NAME:KEY=VALUE,...; also a --baseline key):
    \(prefetchPolicies.helpText(nameColumn: 22))
      Options every speculating policy takes: link=fifo (one copy queue, as a CUDA stream) | low-priority (on-demand
      loads start first; a dropped prefetch's queued transfers are cancelled) | preempt (also suspends a speculative
      transfer in flight when an on-demand load arrives; it resumes later); admit=buffer (staged, cached only if used,
      dropped after its layer) | cache (inserted on arrival, evicting by the cache policy); buffers=N staging buffers.
      The report adds prefetch accuracy (used / issued) and coverage (needed misses served by a prefetch) overall and
      per layer, useful and wasted bytes, late prefetches and the time on-demand loads waited behind speculation.
      Presets: AdapMoE released code = next-layer-gate; AdapMoE paper = next-layer-gate:depth=3,issue=all;
      mixtral-offloading = mixtral-offloading (= next-layer-gate:issue=all,admit=cache,wait=off);
      ProMoE = promoe (= next-layer-gate:stride=2,top=TOP_K,issue=all,link=preempt,admit=cache,wait=off,prefill;
      with --runtime tuned, whose per-matrix transfers are ProMoE's chunks); also moe-infinity and edgemoe.

    Misses (--miss NAME or NAME:KEY=VALUE,...; also a --baseline key): what happens to a routed expert that is neither
      cached nor prefetched.
    \(missPolicies.helpText(nameColumn: 12))
      The CPU runs experts from its host copy (host DRAM bandwidth and CPU flops of the hardware profile), one at a time,
      in parallel with the GPU; the layer waits for both. On storage-tier devices (Jetson) the CPU holds no copy and
      every miss loads. The report adds what the policy did; policies that skip, substitute or run low-precision copies
      add a quality PROXY: the share of routed (token, expert) cells and of their gate-weight mass that was changed
      (not a measured accuracy).

    AdapMoE cache allocation (--cache, per-layer LRU; papers.md §1.3.C; `sim cache allocate` prints the table):
      adapmoe-dp:total=N             N experts divided among layers by AdapMoE's DP with the model's published a_l, r_l
      adapmoe-dp-nogating:total=N    the same DP with r_l = 0 (no adaptive-gating statistics)
      adapmoe-dp-measured:total=N,prefix=K
                                     a_l, r_l measured on the first K decode tokens (r_l: this run's --gating)
      (total also as N, bytes=SIZE or fit.) Alternatives: lru-per-layer:total=N (equal split), lru-global:total=N.

    Timeline (--timeline FILE, --timeline-svg FILE): the main run's schedule, one track per resource (GPU compute
      with stalls named by the expert waited for, H2D link, D2H link or one link carrying both, CPU), one slice per
      attention block, expert computation and transfer (args: layer, expert, pass, request, cause, bytes). Only
      --timeline-passes are recorded; a note on stderr says when the run had more. Existing files need --force.
    Checks (--check): time never runs backwards; experts compute only while resident; cache groups stay within
      capacity; bytes moved = loads x expert bytes + write-backs; each pass takes at least its compute and its
      on-demand bytes at link bandwidth; GPU compute + stalls tile each pass; hits + misses = accesses; all-resident
      moves nothing; a miss run on the CPU, skipped or substituted moves no bytes, a substitute is cached and runs in
      its place, CPU results arrive before their layer's output is used. Also applied to a --baseline run.

    Examples:
      sim --hardware 4090 --trace traces/mixtral-8x7b-synth.moetrace.jsonl
      sim --hardware 4090 --quant hqq4 --cache lru-per-layer:4 --timeline run.json --timeline-passes 0..7 --timeline-svg run.svg --trace FILE
      sim --hardware a100-80g --quant hqq4 --cache lru-global:128 --trace FILE --json
      sim --hardware 4090 --quant hqq2 --cache lru-per-layer:4 --baseline "cache=none" --trace FILE
      sim --hardware t4 --runtime tuned --prefetch oracle-next-layer --trace FILE --csv
      sim --hardware 4090 --quant hqq4 --cache lru-per-layer:4 --prefetch next-layer-gate:depth=3 --seed 7 --trace FILE
      sim --hardware 4090 --quant hqq2 --gating adapmoe:T=0.007 --cache adapmoe-dp:total=64 --baseline "gating=topk" --trace FILE
      sim --system fiddler --hardware 4090 --trace FILE --baseline "miss=load"
      sim --hardware 4090 --quant fp16 --cache lru-per-layer:2 --miss hobbit:low=hqq2 --trace FILE
    """

    /// The policy set a run uses (what `--baseline` changes).
    struct PolicySet {
        var quant: String?
        var runtime: String
        var cache: String
        var gating: String
        var prefetch: String
        var miss: String

        mutating func apply(_ text: String) throws {
            let items = text.split(whereSeparator: { $0 == " " || $0 == ";" }).map(String.init)
            guard !items.isEmpty else { throw MoESimError(field: "--baseline", "empty policy set", hint: "e.g. \"cache=none\"") }
            let keys = "keys: cache, prefetch, miss, gating, runtime, quant"
            for item in items {
                let kv = item.split(separator: "=", maxSplits: 1).map(String.init)
                guard kv.count == 2 else { throw MoESimError(field: "--baseline", "expected key=value, found '\(item)'", hint: keys) }
                switch kv[0] {
                case "cache": cache = kv[1]
                case "prefetch": prefetch = kv[1]
                case "miss": miss = kv[1]
                case "gating": gating = kv[1]
                case "runtime": runtime = kv[1]
                case "quant": quant = kv[1]
                default: throw MoESimError(field: "--baseline", "unknown key '\(kv[0])'", hint: keys)
                }
            }
        }

        var summary: String {
            "cache=\(cache) prefetch=\(prefetch) gating=\(gating) runtime=\(runtime)" + (quant.map { " quant=\($0)" } ?? "") + (miss == "load" ? "" : " miss=\(miss)")
        }
    }

    public static func run(_ arguments: [String], out: inout String) throws {
        let args = try ArgumentParser.parse(arguments, options: options)
        if args.has("help") { out += help + "\n"; return }
        guard args.positionals.isEmpty else {
            throw MoESimError("unexpected argument '\(args.positionals[0])'", hint: "see `sim --help`")
        }
        guard let tracePath = args.value("trace") else {
            throw MoESimError(field: "--trace", "a trace file is required", hint: "e.g. --trace traces/mixtral-8x7b-synth.moetrace.jsonl; see `sim --help`")
        }
        guard !(args.has("json") && args.has("csv")) else { throw MoESimError("--json and --csv exclude each other") }
        guard let missing = MissingCellPolicy(rawValue: args.value("missing") ?? "skip") else {
            throw MoESimError(field: "--missing", "expected error or skip, found '\(args.value("missing")!)'")
        }
        guard let fill = ExpertCache.InitialFill(rawValue: args.value("initial-fill") ?? "highest-index") else {
            throw MoESimError(field: "--initial-fill", "expected highest-index or empty, found '\(args.value("initial-fill")!)'")
        }
        let hardware = try HardwareCatalog.resolve(args.value("hardware") ?? "rtx4090")
        let kvReserve = try args.int("kv-reserve-tokens", default: SimulationConfig.defaultKVReserveTokens, minimum: 0, maximum: MemoryPlanRules.maxKVReserveTokens)
        let allowWider = args.has("allow-wider-cells")
        let staticProfile = try PopularityProfile.parse(args.value("static-profile") ?? "whole")
        let seedText = args.value("seed") ?? "\(SimulationConfig.defaultSeed)"
        guard let seed = UInt64(seedText) else {
            throw MoESimError(field: "--seed", "expected an integer in 0...\(UInt64.max), found '\(seedText)'")
        }

        // The header names the model; read it once up front.
        let header = try openTrace(path: tracePath, missingCells: missing, allowWiderCells: allowWider).header
        let model = try ModelCatalog.resolve(args.value("model") ?? header.model)
        // A system preset fills the options the user did not give.
        let system = try args.value("system").map(SystemCatalog.resolve)
        func setting(_ key: String) -> String? { args.value(key) ?? system?.settings[key] }
        var policies = PolicySet(quant: setting("quant"), runtime: setting("runtime") ?? "hf-eager",
                                 cache: setting("cache") ?? "lru-per-layer:fit", gating: setting("gating") ?? "topk",
                                 prefetch: setting("prefetch") ?? "none", miss: setting("miss") ?? "load")
        if args.value("cache-experts") != nil {
            let total = try args.int("cache-experts", default: 0, minimum: 0)
            policies.cache = try CacheSpec.replacingCapacity(in: policies.cache, totalExperts: total)
        }

        let check = args.has("check")
        let timelinePath = args.value("timeline"), svgPath = args.value("timeline-svg")
        let explicitPasses = try args.value("timeline-passes").map { try PassRange.parse($0) }
        if explicitPasses != nil && timelinePath == nil && svgPath == nil {
            throw MoESimError(field: "--timeline-passes", "chooses the passes of a timeline, but none was asked for", hint: "add --timeline FILE or --timeline-svg FILE")
        }
        if let range = explicitPasses, timelinePath == nil, range.count > PassRange.maximumSVGPasses {
            throw MoESimError(field: "--timeline-passes", "\(range.count) passes are too many for a readable SVG (at most \(PassRange.maximumSVGPasses))",
                              hint: "choose fewer, or add --timeline FILE for the full schedule")
        }
        // Refuse before a long run, not after it.
        try OutputPath.checkDistinct([("--timeline", timelinePath), ("--timeline-svg", svgPath)])
        for (option, path) in [("--timeline", timelinePath), ("--timeline-svg", svgPath)] {
            guard let path else { continue }
            try OutputPath.checkReplaceable(path, folder: false)
            if FileManager.default.fileExists(atPath: path) && !args.has("force") {
                throw MoESimError(file: path, field: option, "already exists; not overwriting it", hint: "pass --force to replace it, or choose another file")
            }
        }
        let range = explicitPasses ?? (timelinePath != nil ? PassRange.defaultJSON : PassRange.defaultSVG)
        var timeline: TimelineRecorder?
        var checkSummaries: [String] = []

        func simulate(_ p: PolicySet, recordsTimeline: Bool = false) throws -> Report {
            var config = SimulationConfig(hardware: hardware, model: model,
                                          quantization: try QuantizationCatalog.resolve(p.quant ?? model.defaultQuantization),
                                          runtime: try RuntimeCatalog.resolve(p.runtime), cache: try CacheSpec.parse(p.cache),
                                          gating: p.gating, prefetch: p.prefetch, missingCells: missing, initialFill: fill,
                                          kvReserveTokens: kvReserve, seed: seed)
            config.staticProfile = staticProfile
            config.miss = p.miss
            let source = try TracePassSource(path: tracePath, missingCells: missing, allowWiderCells: allowWider)
            let simulation = try Simulation(config: config, source: source)
            let checker = check ? InvariantChecker(simulation: simulation) : nil
            if recordsTimeline && (timelinePath != nil || svgPath != nil) { timeline = TimelineRecorder(simulation: simulation, range: range) }
            let observers: [SimulationObserver] = ([checker, recordsTimeline ? timeline : nil] as [SimulationObserver?]).compactMap { $0 }
            simulation.observer = observers.count > 1 ? ObserverFanout(observers) : observers.first
            let report = try simulation.run()
            try ReportEncoding.checkFinite(makespanSeconds: report.makespanSeconds)
            do {
                try checker?.verify(report: report)
            } catch let violation as InvariantViolation {
                throw violation.asError
            }
            if let checker { checkSummaries.append(checker.summary) }
            return report
        }

        let report = try simulate(policies, recordsTimeline: true)
        if let timeline { try writeTimeline(timeline, json: timelinePath, svg: svgPath, explicitPasses: explicitPasses) }
        var baseline: Report?
        if let set = args.value("baseline") {
            do {
                try policies.apply(set)
                baseline = try simulate(policies)
            } catch var error as MoESimError {
                // Name the option the user typed, not the one the baseline set stands for.
                error.message = "in the baseline: " + (error.field.map { "\($0): " } ?? "") + error.message
                error.field = "--baseline"
                throw error
            }
        }
        if args.has("json") {
            out += try ReportFormatter.json(report, baseline: baseline, baselineSet: args.value("baseline"))
        } else if args.has("csv") {
            out += ReportFormatter.csv(report, baseline: baseline)
        } else {
            out += ReportFormatter.text(report, hardware: hardware)
            if let baseline { out += ReportFormatter.speedupText(report, baseline: baseline, set: args.value("baseline")!) }
            if !checkSummaries.isEmpty {
                out += "\n"
                for (i, summary) in checkSummaries.enumerated() { out += (checkSummaries.count > 1 ? (i == 0 ? "run: " : "baseline: ") : "") + summary + "\n" }
            }
        }
    }

    /// Writes the recorded timeline's files, each through a temporary file and a rename; says on stderr what was left out.
    static func writeTimeline(_ timeline: TimelineRecorder, json: String?, svg: String?, explicitPasses: PassRange?) throws {
        guard let recorded = timeline.recordedPasses else {
            throw MoESimError(field: "--timeline-passes", "the run has \(timeline.passesSeen) passes (0..\(timeline.passesSeen - 1)); none is in \(timeline.range)",
                              hint: "choose passes the trace has")
        }
        if let note = truncationNote(timeline) { FileHandle.standardError.write(Data(("note: " + note + "\n").utf8)) }
        if let json { try AtomicOutput.writeFile(json, contents: ChromeTrace.render(timeline)) }
        if let svg {
            // Without an explicit range, the SVG shows the first few recorded passes: more would not be readable.
            let last = explicitPasses == nil ? min(recorded.last, recorded.first + PassRange.defaultSVG.count - 1)
                : min(recorded.last, recorded.first + PassRange.maximumSVGPasses - 1)
            try AtomicOutput.writeFile(svg, contents: TimelineSVG.render(timeline, passes: PassRange(first: recorded.first, last: last)))
        }
    }

    /// Nil when the timeline holds every pass of the run.
    static func truncationNote(_ timeline: TimelineRecorder) -> String? {
        guard let recorded = timeline.recordedPasses, recorded.count < timeline.passesSeen else { return nil }
        return "the timeline records passes \(recorded) of the run's \(timeline.passesSeen) (0..\(timeline.passesSeen - 1)); choose others with --timeline-passes A..B"
    }
}
