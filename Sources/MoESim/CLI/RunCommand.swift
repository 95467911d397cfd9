import Foundation

/// `sim run`: replay a trace on a device with a policy set and print the report.
public enum RunCommand {
    public static let options: [OptionSpec] = [
        OptionSpec("trace", value: "FILE", "moe-trace v1 JSONL file to replay (see docs/trace-format.md)"),
        OptionSpec("hardware", value: "NAME|FILE", "device preset or alias (`sim hardware list`) or a JSON profile", default: "rtx4090"),
        OptionSpec("model", value: "NAME|FILE", "model spec (`sim models`)", default: "the trace header's model"),
        OptionSpec("system", value: "NAME|FILE", "a published system's cache, gating, prefetch, miss, runtime and quant (`sim systems`); explicit options override it"),
        OptionSpec("quant", value: "NAME", "quantization: fp16, fp8, int8, hqq4, hqq3, hqq2, mxfp4, hqqB-gG, or a llama.cpp GGUF preset (q4_k_m, q5_k_m, q8_0, q4_0, ...)", default: "the model's default"),
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
        OptionSpec("optimum", value: "on|off", "also replay the trace through Belady's optimum for the same cache and report the gap (off: skip that pass; the report says so)", default: "on"),
        OptionSpec("kv-reserve-tokens", value: "N", "KV-cache tokens kept free when sizing a `fit` cache", default: "\(SimulationConfig.defaultKVReserveTokens)"),
        OptionSpec("baseline", value: "SET", "also run with these changes and print the speedup: space-separated KEY=VALUE, any option below that takes a value (system and hardware included), e.g. \"cache=none\" or \"system=adapmoe-baseline hardware=3060\""),
        OptionSpec("allow-wider-cells", "accept routing cells with more than top_k experts"),
        OptionSpec("timeline", value: "FILE", "write the simulated schedule as a Chrome Trace Event JSON file (open in ui.perfetto.dev or chrome://tracing)"),
        OptionSpec("timeline-svg", value: "FILE", "draw a few passes' schedule as an SVG (rows GPU, H2D, D2H, and CPU when a miss policy ran experts there)"),
        OptionSpec("timeline-passes", value: "A..B|N", "passes (from 0) the timeline records", default: "\(PassRange.defaultJSON) for --timeline, \(PassRange.defaultSVG) for --timeline-svg alone"),
        OptionSpec("force", "overwrite existing --timeline / --timeline-svg files"),
        OptionSpec("check", "check the engine's invariants while it runs; a violation is an error naming the invariant, pass, layer and expert"),
        OptionSpec("json", "print the report as JSON"),
        OptionSpec("csv", "print the report as one CSV header line and one data line (a sweep: one line per run, same columns)"),
        OptionSpec.presetOverrides,
        OptionSpec("svg", value: "FILE", "with a sweep: draw the ranked decode latencies as a bar chart"),
        OptionSpec("log-scale", "with --svg: a logarithmic latency axis (for latencies orders of magnitude apart)"),
        OptionSpec("progress", "progress on stderr (tokens/s, ETA) even when stderr is not a terminal"),
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

    Sweeps: a comma list on any of --\(sweepable.joined(separator: ", --")) runs every combination and prints one
      table ranked by mean decode latency (--csv: one line per run, --json: every report, --svg FILE: a bar chart).
      After a value with options (NAME:...), a part without ':' continues it unless it is a policy name:
      --cache none,lru-per-layer:1,2,4 is two values; --gating adapmoe:T=0.007,prefill,topk is two. Runs that fail are listed under the
      table with their error; the exit status is 1 only when every run failed.
    Overrides (--set PATH=VALUE, repeatable): PATH is a field of the hardware, runtime or model preset's JSON (as in
      `sim hardware show`), dotted, e.g. hostLink.h2dBytesPerSecond=12e9, runtime.writeBackOnEvict=false; a sourced
      figure takes the value and the override as its source (unconfirmed). An unknown field is an error naming it.

    Examples:
      sim --hardware 4090 --trace traces/mixtral-8x7b-synth.moetrace.jsonl
      sim --system mixtral-offloading,adapmoe,promoe --hardware 4090,3060 --quant hqq4 --trace FILE
      sim --hardware 3060 --set hostLink.h2dBytesPerSecond=12e9 --trace FILE
      sim --hardware 4090 --quant hqq4 --cache lru-per-layer:4 --timeline run.json --timeline-passes 0..7 --timeline-svg run.svg --trace FILE
      sim --hardware a100-80g --quant hqq4 --cache lru-global:128 --trace FILE --json
      sim --hardware 4090 --quant hqq2 --cache lru-per-layer:4 --baseline "cache=none" --trace FILE
      sim --hardware t4 --runtime tuned --prefetch oracle-next-layer --trace FILE --csv
      sim --hardware 4090 --quant hqq4 --cache lru-per-layer:4 --prefetch next-layer-gate:depth=3 --seed 7 --trace FILE
      sim --hardware 4090 --quant hqq2 --gating adapmoe:T=0.007 --cache adapmoe-dp:total=64 --baseline "gating=topk" --trace FILE
      sim --system fiddler --hardware 4090 --trace FILE --baseline "miss=load"
      sim --hardware 4090 --quant fp16 --cache lru-per-layer:2 --miss hobbit:low=hqq2 --trace FILE
    """

    /// The options a comma list sweeps and a `--baseline` set may change: every option that takes a value, except the
    /// outputs (timelines) and the baseline itself.
    static let sweepable = ["trace", "hardware", "model", "system", "quant", "runtime", "cache", "cache-experts", "static-profile",
                            "gating", "prefetch", "miss", "seed", "missing", "initial-fill", "kv-reserve-tokens"]

    /// One simulation's reports and what the text output adds to them.
    struct Outcome {
        var report: Report
        var baseline: Report?
        var hardware: HardwareProfile
        var checkSummaries: [String]
    }

    public static func run(_ arguments: [String], out: inout String) throws {
        let args = try ArgumentParser.parse(arguments, options: options)
        if args.has("help") { out += help + "\n"; return }
        guard args.positionals.isEmpty else {
            throw MoESimError("unexpected argument '\(args.positionals[0])'", hint: "see `sim --help`")
        }
        guard args.value("trace") != nil else {
            throw MoESimError(field: "--trace", "a trace file is required", hint: "e.g. --trace traces/mixtral-8x7b-synth.moetrace.jsonl; see `sim --help`")
        }
        guard !(args.has("json") && args.has("csv")) else { throw MoESimError("--json and --csv exclude each other") }
        let sweep = RunSweep(args)
        if sweep.isSweep {
            try sweep.run(out: &out)
            return
        }
        if let svg = args.value("svg") {
            throw MoESimError(field: "--svg", "draws a sweep's ranked chart, but no option has a comma list ('\(svg)')",
                              hint: "e.g. --system adapmoe,promoe --svg ranked.svg; --timeline-svg draws one run's schedule")
        }
        let outcome = try simulate(args, progress: ProgressLine.wanted(explicit: args.has("progress")))
        if args.has("json") {
            out += try ReportFormatter.json(outcome.report, baseline: outcome.baseline, baselineSet: args.value("baseline"))
        } else if args.has("csv") {
            out += ReportFormatter.csv(outcome.report, baseline: outcome.baseline)
        } else {
            out += ReportFormatter.text(outcome.report, hardware: outcome.hardware)
            if let baseline = outcome.baseline { out += ReportFormatter.speedupText(outcome.report, baseline: baseline, set: args.value("baseline")!) }
            if !outcome.checkSummaries.isEmpty {
                out += "\n"
                for (i, summary) in outcome.checkSummaries.enumerated() {
                    out += (outcome.checkSummaries.count > 1 ? (i == 0 ? "run: " : "baseline: ") : "") + summary + "\n"
                }
            }
        }
    }

    /// The arguments of the baseline run: `args` with the `--baseline` set's options ("cache=none prefetch=none") in
    /// place. Any option a sweep takes may be changed, `system` and `hardware` included.
    static func baselineArguments(_ args: ParsedArguments, set text: String) throws -> ParsedArguments {
        let items = text.split(whereSeparator: { $0 == " " || $0 == ";" }).map(String.init)
        guard !items.isEmpty else { throw MoESimError(field: "--baseline", "empty set of changes", hint: "e.g. \"cache=none\"") }
        let keys = "keys: \(sweepable.joined(separator: ", ")), separated by spaces, e.g. \"cache=none prefetch=none\""
        var baseline = args
        baseline.values["baseline"] = nil
        baseline.values["timeline"] = nil
        baseline.values["timeline-svg"] = nil
        for item in items {
            let kv = item.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2, !kv[1].isEmpty else { throw MoESimError(field: "--baseline", "expected key=value, found '\(item)'", hint: keys) }
            guard sweepable.contains(kv[0]) else {
                let suggestion = NameMatching.closest(to: kv[0], among: sweepable)
                throw MoESimError(field: "--baseline", "unknown key '\(kv[0])'", hint: (suggestion.map { "did you mean '\($0)'? " } ?? "") + keys)
            }
            if let other = sweepable.first(where: { kv[1].contains(",\($0)=") }) {
                let fixed = sweepable.reduce(text) { $0.replacingOccurrences(of: ",\($1)=", with: " \($1)=") }
                throw MoESimError(field: "--baseline", "'\(item)': keys are separated by spaces, not commas (\(other)= is a key)",
                                  hint: "write --baseline \"\(fixed)\"")
            }
            baseline.values[kv[0]] = kv[1]
            // A new cache spec is taken as given, not resized by the run's --cache-experts.
            if kv[0] == "cache" && !items.contains(where: { $0.hasPrefix("cache-experts=") }) { baseline.values["cache-experts"] = nil }
        }
        return baseline
    }

    /// One simulation (and its baseline) with single-valued options.
    static func simulate(_ args: ParsedArguments, progress: Bool, label: String = "replay") throws -> Outcome {
        var tracePath = args.value("trace")!
        // A route_trace CSV (a flash-streaming engine's recording) replays through a temporary import.
        var routeImport: RouteTraceReplay?
        if RouteTraceFile.isRouteTrace(path: tracePath) {
            routeImport = try RouteTraceReplay.importing(tracePath)
            tracePath = routeImport!.tracePath
        }
        defer { routeImport?.remove() }
        guard let missing = MissingCellPolicy(rawValue: args.value("missing") ?? "skip") else {
            throw MoESimError(field: "--missing", "expected error or skip, found '\(args.value("missing")!)'")
        }
        guard let fill = ExpertCache.InitialFill(rawValue: args.value("initial-fill") ?? "highest-index") else {
            throw MoESimError(field: "--initial-fill", "expected highest-index or empty, found '\(args.value("initial-fill")!)'")
        }
        let overrides = try PresetOverrides.parse(args.all("set"))
        let hardware = try HardwareCatalog.resolve(args.value("hardware") ?? "rtx4090", overrides: overrides)
        let kvReserve = try args.int("kv-reserve-tokens", default: SimulationConfig.defaultKVReserveTokens, minimum: 0, maximum: MemoryPlanRules.maxKVReserveTokens)
        let allowWider = args.has("allow-wider-cells")
        let staticProfile = try PopularityProfile.parse(args.value("static-profile") ?? "whole")
        let optimum = try Report.Optimum.parse(args.value("optimum"))
        let seedText = args.value("seed") ?? "\(SimulationConfig.defaultSeed)"
        guard let seed = UInt64(seedText) else {
            throw MoESimError(field: "--seed", "expected an integer in 0...\(UInt64.max), found '\(seedText)'")
        }

        // The header names the model; read it once up front.
        let header = try openTrace(path: tracePath, missingCells: missing, allowWiderCells: allowWider).header
        let model = try ModelCatalog.resolve(args.value("model"), for: header, tracePath: tracePath, overrides: overrides)
        // A system preset fills the options the user did not give.
        let system = try args.value("system").map(SystemCatalog.resolve)
        func setting(_ key: String) -> String? { args.value(key) ?? system?.settings[key] }
        var cache = setting("cache") ?? "lru-per-layer:fit"
        if args.value("cache-experts") != nil {
            let total = try args.int("cache-experts", default: 0, minimum: 0)
            cache = try CacheSpec.replacingCapacity(in: cache, totalExperts: total)
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
        var config = SimulationConfig(hardware: hardware, model: model,
                                      quantization: try QuantizationCatalog.resolve(setting("quant") ?? routeImport?.quantization ?? model.defaultQuantization),
                                      runtime: try RuntimeCatalog.resolve(setting("runtime") ?? "hf-eager", overrides: overrides).reservingOSMemory(of: hardware),
                                      cache: try CacheSpec.parse(cache),
                                      gating: setting("gating") ?? "topk", prefetch: setting("prefetch") ?? "none", missingCells: missing,
                                      initialFill: fill, kvReserveTokens: kvReserve, seed: seed)
        config.staticProfile = staticProfile
        config.miss = setting("miss") ?? "load"
        config.beladyReference = optimum == .computed
        let source = try TracePassSource(path: tracePath, missingCells: missing, allowWiderCells: allowWider)
        let simulation = try Simulation(config: config, source: source)
        let checker = check ? InvariantChecker(simulation: simulation) : nil
        let timeline = timelinePath != nil || svgPath != nil ? TimelineRecorder(simulation: simulation, range: range) : nil
        let meter = progress ? RunProgress(label: label, tracePath: tracePath) : nil
        let observers: [SimulationObserver] = ([checker, timeline, meter] as [SimulationObserver?]).compactMap { $0 }
        simulation.observer = observers.count > 1 ? ObserverFanout(observers) : observers.first
        var report = try simulation.run()
        meter?.finish()
        try ReportEncoding.checkFinite(makespanSeconds: report.makespanSeconds)
        do {
            try checker?.verify(report: report)
        } catch let violation as InvariantViolation {
            throw violation.asError
        }
        report.run = RunInfo(toolVersion: CommandLineTool.version, system: system?.name, seed: seed, overrides: overrides.texts)
        if let timeline { try writeTimeline(timeline, json: timelinePath, svg: svgPath, explicitPasses: explicitPasses) }
        var outcome = Outcome(report: report, baseline: nil, hardware: hardware, checkSummaries: checker.map { [$0.summary] } ?? [])
        if let set = args.value("baseline") {
            do {
                let baseline = try simulate(try baselineArguments(args, set: set), progress: progress, label: "baseline")
                outcome.baseline = baseline.report
                outcome.checkSummaries += baseline.checkSummaries
            } catch var error as MoESimError {
                // Name the option the user typed, not the one the baseline set stands for.
                if error.field != "--baseline" {
                    error.message = "in the baseline: " + (error.field.map { "\($0): " } ?? "") + error.message
                    error.field = "--baseline"
                }
                throw error
            }
        }
        return outcome
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
