import Foundation

/// `sim serve`: request-level serving simulation (continuous batching, SLOs, eMoE's predictor-driven loading).
public enum ServeCommand {
    public static let options: [OptionSpec] = [
        OptionSpec("model", value: "NAME|FILE", "model spec (`sim models`)", default: "the trace header's model with --trace; else mixtral-8x7b"),
        OptionSpec("quant", value: "NAME", "quantization (`sim models show M`)", default: "the model's default (fp16 for Mixtral)"),
        OptionSpec("hardware", value: "NAME|FILE", "device preset (`sim hardware list`)", default: "a100-40g-pcie"),
        OptionSpec("gpus", value: "N", "identical devices: memory adds up, attention is tensor-parallel, experts spread over them", default: "4 (eMoE's 4x A100 40 GB)"),
        OptionSpec("parallelism", value: "expert|tensor", "experts whole on one device each, or split over all", default: "expert"),
        OptionSpec("runtime", value: "NAME|FILE", "software-stack overheads (`sim runtime list`)", default: "tuned"),
        OptionSpec("rate", value: "R", "Poisson arrivals, requests per second (inf: all at time 0)", default: "1"),
        OptionSpec("requests", value: "N", "requests to serve", default: "200 (with --trace: the trace's requests)"),
        OptionSpec("seed", value: "S", "seed of every random choice (arrivals, tasks, lengths, routing, noise)", default: "1"),
        OptionSpec("tasks", value: "NAME|FILE", "task set: lengths, SLOs, sensitivity (moe-sim/serving-tasks/1)", default: "emoe-five-tasks"),
        OptionSpec("task-mix", value: "MIX", "uniform | SUM,QA | SUM=2,CONV=1 (relative weights)", default: "the task set's shares (uniform)"),
        OptionSpec("prompt-tokens", value: "N", "give every request this prompt length instead of drawing it"),
        OptionSpec("output-tokens", value: "N", "give every request this output length instead of drawing it"),
        OptionSpec("max-new-tokens", value: "N", "cap on generated tokens (eMoE: 1000)", default: "1000"),
        OptionSpec("slo-scale", value: "X", "multiply every SLO by X", default: "1"),
        OptionSpec("label-noise", value: "X", "fraction of requests whose task label is wrong (eMoE Fig. 19)", default: "0"),
        OptionSpec("trace", value: "FILE", "replay a moe-trace's requests and routing (request lines give task, arrival, lengths)"),
        OptionSpec("trace-task", value: "TASK", "with --trace: treat every recorded request as this task of the set"),
        OptionSpec("profile", value: "NAME|FILE", "synthetic routing profile for tasks without a trace (`sim trace synth --help`)", default: "mixtral-8x7b-humaneval"),
        OptionSpec("task-divergence", value: "X", "how differently tasks pick experts: per-layer rank swap probability", default: "0.5"),
        OptionSpec("system", value: "NAME", "a serving system as policy + scheduler: \(ServingSystems.entries.map(\.name).joined(separator: ", ")); --policy / --scheduler override it"),
        OptionSpec("policy", value: "NAME", "expert loading: \(servingPolicies.names.joined(separator: ", "))", default: "all-resident"),
        OptionSpec("scheduler", value: "fcfs|emoe", "admission: first come first served, or eMoE's Algorithm 1", default: "fcfs"),
        OptionSpec("experts-loaded", value: "X", "eMoE / random / moe-infinity: fraction of experts kept on the devices", default: "0.6"),
        OptionSpec("period", value: "P", "eMoE: predictor every P requests (random: redraw period)", default: "40"),
        OptionSpec("predictor", value: "SPEC", "eMoE predictor: oracle, previous-request, transition or noisy-oracle[:accuracy=A]", default: "noisy-oracle:accuracy=0.71 (the paper's XLNet: 71 %)"),
        OptionSpec("predictor-cost", value: "SECONDS", "eMoE: seconds per predictor call", default: "0.334 (emoe-a, emoe-e), 4.211 (emoe-l): measured on Mixtral-8x7B"),
        OptionSpec("task-agnostic", "eMoE without the sensitivity rule: every task sensitive at every layer"),
        OptionSpec("token-budget", value: "N", "Tmax: tokens per iteration (decode tokens + prompt chunks)", default: "\(ServingConfig.defaultTokenBudget.value)"),
        OptionSpec("memory-cap", value: "SIZE", "memory for weights, KV cache and activations, all devices together (e.g. 100GB)", default: "devices' memory less the runtime's reserve"),
        OptionSpec("attention-memory", value: "flash|eager", "activation model: fused attention, or materialised score matrices and full logits (HF eager)", default: "flash"),
        OptionSpec("kv-reserve-output", value: "N", "KV cache reserved per request: its prompt plus N generated tokens", default: "1000"),
        OptionSpec("seconds-per-token", value: "C", "eMoE scheduler's c (Eq. 3)", default: "measured online: busy seconds per processed token"),
        OptionSpec("json", "print the full report as JSON"),
        OptionSpec("csv", "print one CSV header and row: configuration and headline numbers (as `sim run --csv`)"),
        OptionSpec.presetOverrides,
        OptionSpec("help", "show this help"),
    ]

    public static let help = """
    Usage: sim serve [--policy NAME] [--scheduler fcfs|emoe] [--rate R] [--requests N] [options]

    Simulates serving a stream of requests with continuous batching, and reports end-to-end latency, time to first
    token (TTFT), time per output token (TPOT), SLO attainment, throughput, peak memory and the largest batch and
    prompt that fit. Defaults reproduce eMoE's setting (arXiv 2503.06823, ../shared/docs/papers.md Part 2):
    Mixtral-8x7B in fp16 on 4x A100 40 GB, requests arriving as a Poisson process, each one of five tasks drawn
    uniformly (SUM, CLSFY, QA, COMP, CONV).

    How a run works:
      - Requests arrive (--rate, --requests, --seed). Each has a task, a prompt and output length drawn from the
        task's distribution, a TTFT SLO and an end-to-end SLO (`--tasks`: every default names its source; eMoE
        gives no SLOs or length tables, so those are marked estimates). Routing of each request comes from a
        synthetic generator fitted to a real Mixtral trace, with each task preferring its own experts (--profile,
        --task-divergence), or from a recorded trace (--trace). The report says which.
      - At every iteration the scheduler admits waiting requests (fcfs: arrival order; emoe: Algorithm 1 by SLO
        stringency, admitting only when Eq. 3 says no running request misses its SLO) within the token budget and
        the memory left for their KV cache. One forward pass then runs every running request's next token plus
        prompt chunks (chunked prefill), timed layer by layer from the hardware's rooflines: attention split over
        the GPUs, each layer's experts on their devices, expert loads over each GPU's host link.
      - The policy decides which experts are on the GPUs:
    \(servingPolicies.entries.map { "        " + $0.name.padding(toLength: 14, withPad: " ", startingAt: 0) + $0.summary }.joined(separator: "\n"))
      - eMoE (emoe-a|l|e): request 0 runs with all experts; every --period-th request the predictor predicts its
        routing (oracle | previous-request | transition | noisy-oracle at an accuracy; the paper's XLNet is ~71 %
        accurate) and the call stalls serving for its measured cost. On each admission Eq. 2,
        N_i = (sum W_j + T*W_o) * s * f_i, summed over the running tasks, keeps the top L experts per layer
        (L from --experts-loaded); s = 0 on the layers where a task tolerates mis-routing, so CLSFY and COMP load
        nothing of their own. A token whose expert is absent is rerouted to the highest-ranked resident expert,
        never loaded: the rerouted fraction per task (overall and on sensitive layers) is the quality proxy.

    Systems (--system):
    \(ServingSystems.entries.map { "  " + $0.name.padding(toLength: 20, withPad: " ", startingAt: 0) + "--policy \($0.policy) --scheduler \($0.scheduler): " + $0.summary }.joined(separator: "\n"))

    Options:
    \(ArgumentParser.help(options))
    Memory: weights + resident experts + the eMoE predictor (0.108B params) + KV cache + activations, summed over the
    GPUs. Headroom: the largest batch of 512-token prompts (with room for 1000 output tokens) and the longest prompt
    that fit the capacity, and, as eMoE reports them (Figs. 17-18), within the memory all-resident needs at batch 4 /
    at a 512-token prompt. Eager attention's O(n^2) score matrix is what limits long prompts there.

    Examples:
      sim serve                                                   all-resident + FCFS, 200 requests at 1 req/s
      sim serve --system emoe --rate 2                            eMoE (emoe-a + Algorithm 1) at 60 % of experts loaded
      sim serve --policy emoe-a --experts-loaded 0.4 --predictor oracle --label-noise 0.2 --json
      sim serve --policy on-demand --requests 20                  eMoE's dynamic-loading motivation baseline
      sim serve --trace ../shared/traces/mixtral-8x7b-vllm-fp8/humaneval0.moetrace.jsonl --trace-task COMP --requests 50
      sim experiment run emoe-serving                              the paper's latency-vs-rate and headroom figures
    """

    public static func run(_ arguments: [String], out: inout String) throws {
        let args = try ArgumentParser.parse(arguments, options: options)
        if args.has("help") { out += help + "\n"; return }
        guard args.positionals.isEmpty else { throw MoESimError("unexpected argument '\(args.positionals[0])'", hint: "see `sim serve --help`") }
        let report = try simulate(args)
        guard !(args.has("json") && args.has("csv")) else { throw MoESimError(field: "--csv", "choose one of --json and --csv") }
        out += args.has("json") ? try ServingReportFormatter.json(report)
            : args.has("csv") ? ServingReportFormatter.csv(report) : ServingReportFormatter.text(report)
        // The report is printed; a run that served nothing still fails, so scripts and sweeps cannot take it for a result.
        if report.requests.completed == 0 {
            throw MoESimError("no request completed: \(report.requests.rejected) rejected" + (report.requests.rejectedBecause.map { ", because \($0)" } ?? ""),
                              hint: "lower --kv-reserve-output or --prompt-tokens, raise --memory-cap or --gpus, or load fewer experts")
        }
    }

    static func double(_ args: ParsedArguments, _ name: String, default fallback: Double, minimum: Double = -.infinity, allowInfinity: Bool = false) throws -> Double {
        guard let text = args.value(name) else { return fallback }
        let value = ["inf", "infinity"].contains(text.lowercased()) ? Double.infinity : Double(text)
        guard let v = value, !v.isNaN, v >= minimum, allowInfinity || v.isFinite else {
            throw MoESimError(field: "--\(name)", "expected a number\(minimum > -.infinity ? " >= \(minimum)" : "")\(allowInfinity ? " or inf" : ""), found '\(text)'")
        }
        return v
    }

    public static func simulate(_ args: ParsedArguments) throws -> ServingReport {
        let overrides = try PresetOverrides.parse(args.all("set"))
        // A replayed trace names its model in its header, as for `sim run`; without one, eMoE's Mixtral.
        let model = try args.value("trace").map { path in
            try ModelCatalog.resolve(args.value("model"), for: try openTrace(path: path).header, tracePath: path, overrides: overrides)
        } ?? ModelCatalog.resolve(args.value("model") ?? "mixtral-8x7b", overrides: overrides)
        let tasks = try ServingTaskCatalog.resolve(args.value("tasks") ?? "emoe-five-tasks")
        let hardware = try HardwareCatalog.resolve(args.value("hardware") ?? "a100-40g-pcie", overrides: overrides)
        var config = ServingConfig(model: model, hardware: hardware,
                                   quantization: try QuantizationCatalog.resolve(args.value("quant") ?? model.defaultQuantization),
                                   runtime: try RuntimeCatalog.resolve(args.value("runtime") ?? "tuned", overrides: overrides).reservingOSMemory(of: hardware),
                                   tasks: tasks)
        config.gpus = try args.int("gpus", default: 4, minimum: 1)
        guard let parallelism = ServingCostModel.Parallelism(rawValue: args.value("parallelism") ?? "expert") else {
            throw MoESimError(field: "--parallelism", "expected expert or tensor, found '\(args.value("parallelism")!)'")
        }
        config.parallelism = parallelism
        let system = try args.value("system").map(ServingSystems.resolve)
        config.policy = args.value("policy") ?? system?.policy ?? "all-resident"
        config.scheduler = args.value("scheduler") ?? system?.scheduler ?? "fcfs"
        config.expertsLoadedFraction = try double(args, "experts-loaded", default: 0.6)
        config.period = try args.int("period", default: EMoEConstants.period.value, minimum: 1)
        config.predictor = args.value("predictor") ?? "noisy-oracle"
        config.predictorCallSeconds = try args.value("predictor-cost").map { _ in try double(args, "predictor-cost", default: 0, minimum: 0) }
        config.taskAware = !args.has("task-agnostic")
        config.tokenBudget = try args.int("token-budget", default: ServingConfig.defaultTokenBudget.value, minimum: 1)
        config.memoryCapBytes = try args.value("memory-cap").map { try ByteSize.parse($0, field: "--memory-cap") }
        guard let attention = ServingMemoryModel.AttentionMemory(rawValue: args.value("attention-memory") ?? "flash") else {
            throw MoESimError(field: "--attention-memory", "expected flash or eager, found '\(args.value("attention-memory")!)'")
        }
        config.attentionMemory = attention
        config.kvReserveOutputTokens = try args.int("kv-reserve-output", default: 1000, minimum: 0)
        config.secondsPerToken = try args.value("seconds-per-token").map { _ in try double(args, "seconds-per-token", default: 0, minimum: 0) }
        let seedText = args.value("seed") ?? "1"
        guard let seed = UInt64(seedText) else { throw MoESimError(field: "--seed", "expected an integer in 0...\(UInt64.max), found '\(seedText)'") }
        config.seed = seed

        var workload = WorkloadOptions()
        workload.requests = try args.int("requests", default: 200, minimum: 1, maximum: SynthesisLimits.maxRequests)
        workload.ratePerSecond = try double(args, "rate", default: 1, allowInfinity: true)
        guard workload.ratePerSecond > 0 else { throw MoESimError(field: "--rate", "expected a positive number of requests per second (or inf)") }
        workload.seed = seed
        workload.mix = try args.value("task-mix").map { try TaskMix.parse($0, tasks: tasks) }
        workload.promptTokens = try args.value("prompt-tokens").map { _ in try args.int("prompt-tokens", default: 1, minimum: 1, maximum: SynthesisLimits.maxTokens) }
        workload.outputTokens = try args.value("output-tokens").map { _ in try args.int("output-tokens", default: 1, minimum: 1, maximum: SynthesisLimits.maxTokens) }
        workload.maxNewTokens = try args.int("max-new-tokens", default: 1000, minimum: 1, maximum: SynthesisLimits.maxTokens)
        workload.sloScale = try double(args, "slo-scale", default: 1)
        workload.labelNoise = try double(args, "label-noise", default: 0)
        workload.traceTask = args.value("trace-task")

        let routing: RequestRoutingModel
        let requests: [ServingRequest]
        var arrivals = workload.ratePerSecond.isFinite ? "poisson" : "all at time 0"
        var notes = overrides.texts.map { "override: --set \($0)" }
        if let trace = args.value("trace") {
            let recorded = try RecordedRequestRouting(path: trace, model: model)
            let built = try RequestStream.fromTrace(recorded, options: workload, tasks: tasks, requestsGiven: args.value("requests") != nil)
            routing = recorded
            requests = built.requests
            if built.arrivalsFromTrace { arrivals = "from the trace" }
            notes.append("routing replayed from \(trace): a request longer than its recording reuses its tokens from the start")
        } else {
            guard args.value("trace-task") == nil else { throw MoESimError(field: "--trace-task", "only applies with --trace") }
            let profile = try SyntheticProfileCatalog.resolve(args.value("profile") ?? "mixtral-8x7b-humaneval")
            let divergence = try double(args, "task-divergence", default: 0.5)
            guard (0...1).contains(divergence) else { throw MoESimError(field: "--task-divergence", "expected a probability in [0, 1], found \(divergence)") }
            routing = SyntheticRequestRouting(profile: profile, model: model, tasks: tasks, taskDivergence: divergence)
            requests = try RequestStream.generate(workload, tasks: tasks)
            notes.append("routing is synthetic (no per-task recorded trace); task divergence \(divergence) is an estimate")
        }
        // A replayed trace's tasks are what its requests say (or --trace-task), not the mix.
        let mix = args.value("trace") != nil
            ? TaskMix(probabilities: tasks.tasks.indices.map { t in Double(requests.filter { $0.task == t }.count) })
            : workload.mix ?? TaskMix(probabilities: tasks.tasks.map(\.share.value))
        let loop = try ServingLoop(config: config, requests: requests, routing: routing)
        _ = try loop.run()
        let used = Set(requests.map(\.task))
        let description = ServingReport.Workload(
            requests: requests.count, ratePerSecond: arrivals == "poisson" ? workload.ratePerSecond : nil, arrivals: arrivals, taskSet: tasks.name,
            taskMix: mix.describe(tasks), labelNoise: workload.labelNoise, sloScale: workload.sloScale,
            routing: tasks.tasks.indices.filter(used.contains).map { ServingReport.TaskSource(task: tasks.tasks[$0].name, source: routing.sourceDescription(task: $0)) })
        return ServingReport.make(loop: loop, workload: description, notes: notes)
    }
}
