import Foundation

/// Renders a `Report` for people (aligned text) and machines (JSON with sorted keys, CSV).
public enum ReportFormatter {
    static func ms(_ s: Double?) -> String { s.map { String(format: "%.2f ms", $0 * 1000) } ?? "n/a" }
    static func seconds(_ s: Double?) -> String { s.map { $0 >= 1 ? String(format: "%.3f s", $0) : String(format: "%.2f ms", $0 * 1000) } ?? "n/a" }
    static func percent(_ f: Double?) -> String { f.map { String(format: "%.1f %%", $0 * 100) } ?? "n/a" }
    static func gb(_ bytes: Double?) -> String { bytes.map { String(format: "%.3f GB", $0 / 1e9) } ?? "n/a" }

    /// Speedup of `report` over `baseline`: ratio of mean decode latencies, or of makespans when there is no decode.
    public static func speedup(_ report: Report, over baseline: Report) -> Double? {
        if let a = report.decode.latency?.meanSeconds, let b = baseline.decode.latency?.meanSeconds, a > 0 { return b / a }
        return report.makespanSeconds > 0 ? baseline.makespanSeconds / report.makespanSeconds : nil
    }

    /// One expert's size, or the range when it varies by layer.
    static func expertSize(_ sizes: Report.Sizes) -> String {
        guard let perLayer = sizes.expertBytesPerLayer, let low = perLayer.min() else { return ByteSize.format(Double(sizes.expertBytes)) }
        return "\(ByteSize.format(Double(low)))-\(ByteSize.format(Double(sizes.expertBytes))) by layer"
    }

    public static func text(_ r: Report, hardware: HardwareProfile) -> String {
        let c = r.configuration
        var out = "moe-sim: \(c.trace)\n"
        out += "  hardware  \(c.hardware) (\(hardware.title))\n"
        out += "  model     \(c.model), quantization \(c.quantization) (expert \(expertSize(r.sizes)), resident weights \(ByteSize.format(Double(r.sizes.residentWeightBytes))))\n"
        let perLayer = r.sizes.cacheCapacityExperts.count > 1 ? (Set(r.sizes.cacheCapacityExperts).count == 1 ? "\(r.sizes.cacheCapacityExperts[0]) per layer, " : "per layer \(r.sizes.cacheCapacityExperts), ") : ""
        out += "  policies  cache \(c.cache) (\(perLayer)\(r.sizes.cacheCapacityTotalExperts) experts), gating \(c.gating), prefetch \(c.prefetch)"
            + (c.miss.map { ", miss \($0)" } ?? "") + ", runtime \(c.runtime)\n"
        if let system = r.run?.system { out += "  system    \(system)\n" }
        for (i, o) in (r.run?.overrides ?? []).enumerated() { out += (i == 0 ? "  overrides " : "            ") + "--set \(o)\n" }
        out += "\n"
        let d = r.decode
        if let lat = d.latency {
            out += "Decode     \(d.tokens) tokens, \(String(format: "%.3f", d.tokensPerSecond ?? 0)) tokens/s; latency mean \(ms(lat.meanSeconds)), p50 \(ms(lat.p50Seconds)), p99 \(ms(lat.p99Seconds))\n"
        } else {
            out += "Decode     no decode tokens in the trace\n"
        }
        if r.prefill.passes > 0 {
            out += "Prefill    \(r.prefill.passes) pass(es), \(r.prefill.tokens) tokens, \(seconds(r.prefill.seconds)); time to first token mean \(seconds(r.timeToFirstToken?.meanSeconds))\n"
        }
        let k = r.cache
        out += "Cache      hit rate \(percent(k.hitRate)) (\(k.hits) of \(k.accesses) accesses); on-demand loads \(k.onDemandLoads)"
        if let perToken = r.link.onDemandLoadsPerDecodeToken { out += String(format: " (%.2f per decode token)", perToken) }
        out += "\n"
        if let opt = k.beladyHitRate {
            out += "           Belady optimum for this capacity \(percent(opt)); gap \(percent(k.gapToBelady))\n"
        } else if k.optimum == .skipped {
            out += "           \(Report.Optimum.skippedNote)\n"
        }
        if r.prefetch.perLayer != nil || r.prefetch.issued > 0 { out += prefetchText(r.prefetch) }
        if let miss = r.miss { out += missText(miss) }
        let l = r.link
        if c.offloadTier == HardwareProfile.OffloadTier.storage.rawValue {
            out += "Storage    \(l.name): read \(gb(l.h2dBytes)) (\(gb(l.h2dBytesPerDecodeToken)) per decode token), busy \(percent(l.h2dBusyFraction))\n"
        } else {
            out += "Link       \(l.name): H2D \(gb(l.h2dBytes)) (\(gb(l.h2dBytesPerDecodeToken)) per decode token)"
            if l.writeBackBytes > 0, let d2hBusy = l.d2hBusyFraction {
                out += ", busy \(percent(l.h2dBusyFraction)); write-back D2H \(gb(l.writeBackBytes)), busy \(percent(d2hBusy))\n"
            } else if l.writeBackBytes > 0 {
                out += "; write-back D2H \(gb(l.writeBackBytes)); the one copy engine was busy \(percent(l.h2dBusyFraction))\n"
            } else {
                out += ", busy \(percent(l.h2dBusyFraction))\n"
            }
        }
        out += "GPU        stalled on weights \(seconds(r.gpu.stallSeconds)) in all, \(ms(r.gpu.stallSecondsPerDecodeToken)) per decode token; busy \(percent(r.gpu.busyFraction))\n"
        if r.gpu.hostWaitSeconds > 0 {
            out += "Host       the GPU waited for the host to issue work \(seconds(r.gpu.hostWaitSeconds)) in all, \(ms(r.gpu.hostWaitSecondsPerDecodeToken)) per decode token\n"
        }
        let m = r.memory
        out += "Memory     peak \(ByteSize.format(m.peakDeviceBytes)) of \(ByteSize.format(m.deviceCapacityBytes)): weights \(ByteSize.format(m.residentWeightBytes)), expert cache \(ByteSize.format(m.expertCacheBytes)), buffers \(ByteSize.format(m.transferBufferBytes)), KV \(ByteSize.format(m.peakKVCacheBytes)), reserve \(ByteSize.format(m.runtimeReservedBytes))"
            + (hardware.device.osReservedBytes.map { " (of which OS \(ByteSize.format($0.value)))" } ?? "") + "\n"
        out += "Routing    \(String(format: "%.3f", r.routing.activatedExpertsPerTokenLayer ?? 0)) experts per token-layer over \(r.routing.tokenLayers) token-layers; \(r.routing.missingCells) null cells\n"
        if let g = r.gating { out += gatingText(g, routing: r.routing) }
        out += "Makespan   \(seconds(r.makespanSeconds))\n"
        let rates = r.cache.perLayerHitRate.enumerated().map { i, h in "\(i):" + (h.map { String(format: "%.2f", $0) } ?? "-") }
        out += "Hit rate by layer  " + rates.joined(separator: " ") + "\n"
        if let layers = r.prefetch.perLayer { out += prefetchByLayerText(layers) }
        if let g = r.gating { out += gatingByLayerText(g) }
        for w in r.warnings { out += "warning: \(w)\n" }
        return out
    }

    /// The prefetch lines of a report: accuracy, coverage, bytes, lateness and the contention speculation caused.
    public static func prefetchText(_ p: Report.Prefetch) -> String {
        var out = "Prefetch   \(p.issued) issued, \(p.useful) used: accuracy \(percent(p.accuracy)), coverage \(percent(p.coverage)) of needed misses; \(p.late) used before landing\n"
        out += "           useful \(gb(p.usefulBytes)), wasted \(gb(p.wastedBytes))"
        if p.cancelledBytes > 0 { out += ", cancelled before moving \(gb(p.cancelledBytes))" }
        out += " of \(gb(p.issuedBytes)) issued"
        if let link = p.link, let admission = p.admission { out += "; link \(link), admit \(admission)" }
        out += "\n           on-demand loads waited \(seconds(p.linkContentionSeconds)) behind speculative transfers"
        if p.preemptions > 0 { out += "; \(p.preemptions) speculative transfers preempted" }
        if p.waitSeconds > 0 { out += "; GPU waited \(seconds(p.waitSeconds)) for the previous layer's prefetch" }
        out += "\n"
        for note in p.notes ?? [] { out += "           \(note)\n" }
        return out
    }

    /// The miss policy's lines: what it did with the misses, the CPU's share, and the quality PROXY of approximations.
    public static func missText(_ m: Report.Miss) -> String {
        var actions = ["\(m.loaded) loaded"]
        if m.loadedLowPrecision > 0 || m.lowPrecisionQuantization != nil {
            actions.append("\(m.loadedLowPrecision) loaded in low precision"
                + (m.lowPrecisionQuantization.map { " (\($0), \(ByteSize.format(Double(m.lowPrecisionExpertBytes ?? 0))) each)" } ?? ""))
        }
        if m.ranOnCPU > 0 { actions.append("\(m.ranOnCPU) run on the CPU") }
        if m.skipped > 0 { actions.append("\(m.skipped) skipped") }
        if m.substituted > 0 { actions.append("\(m.substituted) substituted by a cached expert") }
        var out = "Misses     \(m.policy): \(m.misses) decided: " + actions.joined(separator: ", ") + "\n"
        if let cpu = m.cpu {
            out += "CPU        \(cpu.experts) experts, busy \(seconds(cpu.busySeconds)) (\(percent(cpu.busyFraction))); GPU waited \(seconds(cpu.gpuWaitSeconds)) for CPU results; activations \(ByteSize.format(cpu.activationBytes)) over the link\n"
        }
        if let q = m.quality {
            out += "Quality    PROXY, not a measured accuracy: \(percent(q.affectedCellFraction)) of routed (token, expert) cells"
            out += q.affectedGateMassFraction.map { " and \(percent($0)) of gate-weight mass" } ?? " (gate-weight mass n/a: no recorded weights)"
            out += " approximated"
            let parts = q.byAction.filter { $0.cells > 0 }.map { share in
                "\(share.action) \(percent(share.cellFraction))" + (share.gateMassFraction.map { "/\(percent($0))" } ?? "")
            }
            if !parts.isEmpty { out += " (" + parts.joined(separator: ", ") + ")" }
            out += "\n"
        }
        for note in m.notes ?? [] { out += "           \(note)\n" }
        return out
    }

    /// Per-layer prefetch accuracy and coverage ("-" where nothing was issued or needed).
    public static func prefetchByLayerText(_ layers: [Report.Prefetch.Layer]) -> String {
        func row(_ title: String, _ value: (Report.Prefetch.Layer) -> Double?) -> String {
            title + layers.map { "\($0.layer):" + (value($0).map { String(format: "%.2f", $0) } ?? "-") }.joined(separator: " ") + "\n"
        }
        return row("Prefetch accuracy by layer  ", \.accuracy) + row("Prefetch coverage by layer  ", \.coverage)
    }

    /// The gating lines of a report (a policy that drops experts): single-expert ratio, experts saved, loss proxy.
    public static func gatingText(_ g: Report.Gating, routing: Report.Routing? = nil) -> String {
        var out = "Gating     \(g.policy): single-expert ratio \(percent(g.singleExpertRatio)) (\(g.singleExpertCells) of \(g.cells) token-layers; decode \(percent(g.decodeSingleExpertRatio)))"
        out += "; activated experts \(g.activatedExpertReduction.map { String(format: "-%.1f %%", $0 * 100) } ?? "n/a")"
        if let routing, let run = routing.activatedExpertsPerTokenLayer, let recorded = routing.recordedExpertsPerTokenLayer {
            out += String(format: " (%.3f of %.3f per token-layer)", run, recorded)
        }
        out += "\n"
        if let proxy = g.estimatedLossIncreaseProxy {
            out += String(format: "           loss-increase PROXY %.4g (", proxy) + (g.proxyDefinition ?? GatingStatistics.proxyDefinition) + ")\n"
        } else {
            out += "           loss-increase proxy n/a (needs the model's sensitivities H_l and recorded weights)\n"
        }
        return out
    }

    /// Per-layer single-expert ratios and loss proxies.
    public static func gatingByLayerText(_ g: Report.Gating) -> String {
        var out = "Single-expert ratio by layer  " + g.perLayerSingleExpertRatio.enumerated().map { i, v in
            "\(i):" + (v.map { String(format: "%.2f", $0) } ?? "-")
        }.joined(separator: " ") + "\n"
        if let proxies = g.perLayerEstimatedLossIncreaseProxy {
            out += "Loss-increase PROXY by layer  " + proxies.enumerated().map { i, v in "\(i):" + String(format: "%.3g", v) }.joined(separator: " ") + "\n"
        }
        return out
    }

    public static func speedupText(_ r: Report, baseline b: Report, set: String) -> String {
        let s = speedup(r, over: b)
        return "\nBaseline (\(set)): decode latency mean \(ms(b.decode.latency?.meanSeconds)), hit rate \(percent(b.cache.hitRate)), H2D \(gb(b.link.h2dBytes))\n"
            + "Speedup    \(s.map { String(format: "%.3fx", $0) } ?? "n/a") over the baseline\n"
    }

    struct WithBaseline: Encodable {
        var report: Report
        var baseline: Report
        var baselineChanges: String
        var speedup: Double?
    }

    public static func json(_ r: Report, baseline: Report? = nil, baselineSet: String? = nil) throws -> String {
        if let baseline {
            return try ReportEncoding.json(WithBaseline(report: r, baseline: baseline, baselineChanges: baselineSet ?? "", speedup: speedup(r, over: baseline)))
        }
        return try ReportEncoding.json(r)
    }

    /// Flat key figures, in a fixed column order.
    public static func csvColumns(_ r: Report) -> [(String, String)] {
        func f(_ v: Double?) -> String { v.map { "\($0)" } ?? "" }
        let c = r.configuration
        return [
            ("trace", c.trace), ("hardware", c.hardware), ("model", c.model), ("quantization", c.quantization), ("runtime", c.runtime),
            ("cache", c.cache), ("gating", c.gating), ("prefetch", c.prefetch),
            ("decode_tokens", "\(r.decode.tokens)"), ("decode_tokens_per_second", f(r.decode.tokensPerSecond)),
            ("decode_latency_mean_s", f(r.decode.latency?.meanSeconds)), ("decode_latency_p50_s", f(r.decode.latency?.p50Seconds)),
            ("decode_latency_p99_s", f(r.decode.latency?.p99Seconds)), ("ttft_mean_s", f(r.timeToFirstToken?.meanSeconds)),
            ("cache_accesses", "\(r.cache.accesses)"), ("cache_hits", "\(r.cache.hits)"), ("hit_rate", f(r.cache.hitRate)),
            ("on_demand_loads", "\(r.cache.onDemandLoads)"),
            ("belady_hit_rate", f(r.cache.beladyHitRate)), ("gap_to_belady", f(r.cache.gapToBelady)), ("optimum", r.cache.optimum?.rawValue ?? ""), ("on_demand_loads_per_decode_token", f(r.link.onDemandLoadsPerDecodeToken)),
            ("h2d_bytes", f(r.link.h2dBytes)), ("h2d_bytes_per_decode_token", f(r.link.h2dBytesPerDecodeToken)),
            ("d2h_bytes", f(r.link.d2hBytes)), ("h2d_busy_fraction", f(r.link.h2dBusyFraction)),
            ("gpu_stall_s", f(r.gpu.stallSeconds)), ("gpu_stall_per_decode_token_s", f(r.gpu.stallSecondsPerDecodeToken)),
            ("host_wait_s", f(r.gpu.hostWaitSeconds)), ("host_wait_per_decode_token_s", f(r.gpu.hostWaitSecondsPerDecodeToken)),
            ("peak_device_bytes", f(r.memory.peakDeviceBytes)), ("activated_experts_per_token_layer", f(r.routing.activatedExpertsPerTokenLayer)),
            ("missing_cells", "\(r.routing.missingCells)"), ("makespan_s", f(r.makespanSeconds)),
            // Empty unless the gating policy drops experts.
            ("single_expert_ratio", f(r.gating?.singleExpertRatio)), ("decode_single_expert_ratio", f(r.gating?.decodeSingleExpertRatio)),
            ("activated_expert_reduction", f(r.gating?.activatedExpertReduction)),
            ("loss_increase_proxy", f(r.gating?.estimatedLossIncreaseProxy)),
            // Prefetch totals (per-layer figures are in the JSON report).
            ("prefetch_issued", "\(r.prefetch.issued)"), ("prefetch_useful", "\(r.prefetch.useful)"), ("prefetch_late", "\(r.prefetch.late)"),
            ("prefetch_accuracy", f(r.prefetch.accuracy)), ("prefetch_coverage", f(r.prefetch.coverage)),
            ("prefetch_useful_bytes", f(r.prefetch.usefulBytes)), ("prefetch_wasted_bytes", f(r.prefetch.wastedBytes)),
            ("prefetch_cancelled_bytes", f(r.prefetch.cancelledBytes)), ("link_contention_s", f(r.prefetch.linkContentionSeconds)),
            ("prefetch_wait_s", f(r.prefetch.waitSeconds)),
        ] + missColumns(r) + runColumns(r)
    }

    /// How the run was made: the same columns in every report (empty when a report has no run information).
    static func runColumns(_ r: Report) -> [(String, String)] {
        [("system", r.run?.system ?? ""), ("seed", r.run.map { "\($0.seed)" } ?? ""),
         ("overrides", (r.run?.overrides ?? []).joined(separator: " ")), ("tool_version", r.run?.toolVersion ?? "")]
    }

    /// The miss policy's columns, in every report so that CSV rows of different policies line up; empty (and miss
    /// `load`) for a run that loads every miss.
    static func missColumns(_ r: Report) -> [(String, String)] {
        let m = r.miss
        func f(_ v: Double?) -> String { v.map { "\($0)" } ?? "" }
        func n(_ v: Int?) -> String { v.map { "\($0)" } ?? "" }
        return [
            ("miss", m?.policy ?? "load"), ("miss_loaded", n(m?.loaded)), ("miss_loaded_low_precision", n(m?.loadedLowPrecision)),
            ("miss_ran_on_cpu", n(m?.ranOnCPU)), ("miss_skipped", n(m?.skipped)), ("miss_substituted", n(m?.substituted)),
            ("cpu_busy_s", m.map { f($0.cpu?.busySeconds ?? 0) } ?? ""), ("cpu_wait_s", m.map { f($0.cpu?.gpuWaitSeconds ?? 0) } ?? ""),
            ("quality_proxy_affected_cell_fraction", f(m?.quality?.affectedCellFraction)),
            ("quality_proxy_affected_gate_mass_fraction", f(m?.quality?.affectedGateMassFraction)),
        ]
    }

    static func csvField(_ s: String) -> String {
        s.contains(",") || s.contains("\"") || s.contains("\n") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
    }

    public static func csv(_ r: Report, baseline: Report? = nil) -> String {
        var columns = csvColumns(r)
        if let baseline {
            columns.append(("baseline_decode_latency_mean_s", baseline.decode.latency.map { "\($0.meanSeconds)" } ?? ""))
            columns.append(("speedup", speedup(r, over: baseline).map { "\($0)" } ?? ""))
        }
        return columns.map { csvField($0.0) }.joined(separator: ",") + "\n" + columns.map { csvField($0.1) }.joined(separator: ",") + "\n"
    }
}
