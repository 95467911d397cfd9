import Foundation

/// `sim serve` output: a readable summary, or the full report as JSON.
public enum ServingReportFormatter {
    public static func json(_ r: ServingReport) throws -> String { try ReportEncoding.json(r) }

    /// One header line and one row: the configuration and the headline numbers (every figure is in `--json`). Seconds,
    /// bytes and fractions, as in `sim run --csv`.
    public static func csv(_ r: ServingReport) -> String {
        func f(_ v: Double?) -> String { v.map { "\($0)" } ?? "" }
        let c = r.configuration, l = r.latency
        let columns: [(String, String)] = [
            ("model", c.model), ("quantization", c.quantization), ("hardware", c.hardware), ("gpus", "\(c.gpus)"), ("runtime", c.runtime),
            ("policy", c.policy), ("scheduler", c.scheduler), ("requests", "\(r.workload.requests)"), ("rate_per_second", f(r.workload.ratePerSecond)),
            ("completed", "\(r.requests.completed)"), ("rejected", "\(r.requests.rejected)"),
            ("e2e_p50_s", f(l.endToEnd?.p50Seconds)), ("e2e_p99_s", f(l.endToEnd?.p99Seconds)),
            ("ttft_p50_s", f(l.timeToFirstToken?.p50Seconds)), ("ttft_p99_s", f(l.timeToFirstToken?.p99Seconds)),
            ("tpot_mean_s", f(l.timePerOutputToken?.meanSeconds)), ("slo_attainment", f(r.slo.attainment)),
            ("output_tokens_per_second", f(r.throughput.outputTokensPerSecond)), ("makespan_s", f(r.throughput.makespanSeconds)),
            ("peak_bytes", f(r.memory.peakBytes)), ("expert_loads", "\(r.experts.loads)"),
        ]
        return columns.map { ReportFormatter.csvField($0.0) }.joined(separator: ",") + "\n"
            + columns.map { ReportFormatter.csvField($0.1) }.joined(separator: ",") + "\n"
    }

    static func s(_ v: Double?) -> String { v.map { String(format: "%.3f s", $0) } ?? "-" }
    static func ms(_ v: Double?) -> String { v.map { String(format: "%.1f ms", $0 * 1000) } ?? "-" }
    static func pct(_ v: Double?) -> String { v.map { String(format: "%.1f %%", $0 * 100) } ?? "-" }
    static func gb(_ v: Double) -> String { String(format: "%.2f GB", v / 1e9) }

    public static func text(_ r: ServingReport) -> String {
        let c = r.configuration, w = r.workload
        var out = "moe-sim serve: \(c.model) \(c.quantization) on \(c.gpus) x \(c.hardware) (\(c.parallelism)-parallel experts), runtime \(c.runtime)\n"
        out += "policy \(c.policy)"
        if let f = c.expertsLoadedFraction { out += String(format: ", %.0f %% of experts loaded", f * 100) }
        if let p = c.predictor { out += ", predictor \(p) every \(c.period ?? 1) requests (\(c.predictorCallSeconds ?? 0) s per call)" }
        out += "; scheduler \(c.scheduler); token budget \(c.tokenBudget)\n"
        out += "workload: \(w.requests) requests, " + (w.ratePerSecond.map { String(format: "Poisson %.3g req/s", $0) } ?? w.arrivals)
        out += ", tasks \(w.taskMix)" + (w.labelNoise > 0 ? String(format: ", label noise %.0f %%", w.labelNoise * 100) : "") + "\n\n"

        out += "requests      \(r.requests.completed) completed, \(r.requests.rejected) rejected; \(r.requests.promptTokens) prompt + \(r.requests.outputTokens) output tokens\n"
        if let why = r.requests.rejectedBecause { out += "rejected      \(why)\n" }
        func latency(_ name: String, _ l: LatencySummary?, _ f: (Double?) -> String) -> String {
            "\(name)mean \(f(l?.meanSeconds))   p50 \(f(l?.p50Seconds))   p99 \(f(l?.p99Seconds))\n"
        }
        out += latency("end-to-end    ", r.latency.endToEnd, s)
        out += latency("TTFT          ", r.latency.timeToFirstToken, s)
        out += latency("TPOT          ", r.latency.timePerOutputToken, ms)
        out += latency("queueing      ", r.latency.queueing, s)
        out += "SLO           attained \(pct(r.slo.attainment)) (TTFT \(pct(r.slo.timeToFirstTokenAttainment)), end-to-end \(pct(r.slo.endToEndAttainment)))\n"
        out += "throughput    " + (r.throughput.requestsPerSecond.map { String(format: "%.3f req/s", $0) } ?? "-")
        out += ", " + (r.throughput.outputTokensPerSecond.map { String(format: "%.1f output tokens/s", $0) } ?? "-")
        out += String(format: " over %.1f s\n", r.throughput.makespanSeconds)
        out += "batching      \(r.batching.iterations) iterations; batch mean " + (r.batching.meanBatchRequests.map { String(format: "%.1f", $0) } ?? "-")
        out += " / max \(r.batching.maxBatchRequests) requests, max \(r.batching.maxBatchTokens) tokens; stalled \(s(r.batching.stallSeconds))\n"
        let m = r.memory
        out += "memory        peak \(gb(m.peakBytes)) of \(gb(m.capacityBytes)) (steady \(m.steadyPeakBytes.map(gb) ?? "not reached")); weights \(gb(m.steadyWeightBytes)) vs all-resident \(gb(m.allResidentWeightBytes))"
        out += String(format: " (-%.1f %%)\n", m.weightReductionVsAllResident * 100)
        let h = r.headroom
        out += "headroom      max batch \(h.maxBatch) (all-resident \(h.allResidentMaxBatch)) at \(h.referencePromptTokens)+\(h.referenceOutputTokens) tokens; "
        out += "max prompt \(h.maxPromptTokens) (all-resident \(h.allResidentMaxPromptTokens))\n"
        out += "              within all-resident's memory at batch \(h.referenceBatch): batch \(h.batchAtAllResidentMemory)"
        out += String(format: " (%.1fx); at a %d-token prompt: %d tokens (%.1fx)\n", h.batchGainAtAllResidentMemory, h.referencePromptTokens, h.promptAtAllResidentMemory, h.promptGainAtAllResidentMemory)
        let e = r.experts
        out += "experts       \(e.loads) loads (\(gb(e.loadedBytes)))"
        if let calls = e.predictorCalls { out += "; \(calls) predictor calls (\(s(e.predictorSeconds))), \(e.predictorSkippedInsensitive ?? 0) skipped as insensitive" }
        out += "\n"
        out += "rerouted      \(pct(e.reroutedFraction)) of expert choices, \(pct(e.reroutedSensitiveFraction)) on sensitive layers (quality proxy)\n\n"
        out += "task     requests  e2e mean   TTFT mean  SLO met   rerouted  on sensitive layers\n"
        for t in r.perTask {
            out += t.task.padding(toLength: 9, withPad: " ", startingAt: 0) + String(format: "%8d  ", t.requests)
            out += s(t.endToEndMeanSeconds).padding(toLength: 11, withPad: " ", startingAt: 0) + s(t.timeToFirstTokenMeanSeconds).padding(toLength: 11, withPad: " ", startingAt: 0)
            out += pct(t.sloAttainment).padding(toLength: 10, withPad: " ", startingAt: 0) + pct(t.reroutedFraction).padding(toLength: 10, withPad: " ", startingAt: 0)
            out += pct(t.reroutedSensitiveFraction) + "\n"
        }
        for source in w.routing { out += "routing \(source.task): \(source.source)\n" }
        for note in r.notes { out += "note: \(note)\n" }
        return out
    }
}
