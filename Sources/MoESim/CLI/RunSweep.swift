import Foundation

/// `sim run` with comma lists (`--system a,b,c --hardware 4090,3060`): every combination, in order (the first swept
/// option outermost), then one table ranked by mean decode latency (makespan when a trace has no decode tokens).
struct RunSweep {
    /// A swept option and its values.
    struct Axis {
        var option: String
        var values: [String]
    }

    /// One combination's settings and what came of it.
    struct Run: Encodable {
        var settings: [String: String]
        var report: Report?
        var baseline: Report?
        var speedup: Double?
        var error: String?
    }

    let args: ParsedArguments
    let axes: [Axis]

    init(_ args: ParsedArguments) {
        self.args = args
        axes = RunCommand.sweepable.compactMap { option in
            guard let text = args.value(option) else { return nil }
            let values = RunSweep.split(text, names: RunSweep.standaloneNames(option))
            return values.count > 1 ? Axis(option: option, values: values) : nil
        }
    }

    var isSweep: Bool { !axes.isEmpty }

    /// The values of `option` that stand alone without ':' (policy names): after a value with options, such a part
    /// starts a new value, and any other part without ':' continues the options.
    static func standaloneNames(_ option: String) -> Set<String> {
        switch option {
        case "gating": return Set(gatingPolicies.names)
        case "prefetch": return Set(prefetchPolicies.names)
        case "miss": return Set(missPolicies.names)
        case "cache": return ["none", "all-resident"]
        default: return []
        }
    }

    /// Splits a comma list. A part without ':' that follows a value with options belongs to that value
    /// (`lru-per-layer:1,2,4`, `adapmoe:T=0.007,prefill`) unless it is a name that stands alone (`topk`, `none`).
    static func split(_ text: String, names: Set<String> = []) -> [String] {
        var values: [String] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            let continues = !part.contains(":") && !names.contains(part)
            if let last = values.last, last.contains(":"), continues {
                values[values.count - 1] = last + "," + part
            } else {
                values.append(part)
            }
        }
        return values
    }

    /// Every combination's settings, the last axis varying fastest.
    var combinations: [[(option: String, value: String)]] {
        axes.reduce([[]]) { partial, axis in partial.flatMap { prefix in axis.values.map { prefix + [(axis.option, $0)] } } }
    }

    func run(out: inout String) throws {
        for option in ["timeline", "timeline-svg", "timeline-passes"] where args.value(option) != nil {
            throw MoESimError(field: "--\(option)", "records one run's schedule; this command is a sweep of \(combinations.count) runs",
                              hint: "drop the comma lists, or the timeline option")
        }
        if let svg = args.value("svg"), FileManager.default.fileExists(atPath: svg), !args.has("force") {
            throw MoESimError(file: svg, field: "--svg", "already exists; not overwriting it", hint: "pass --force to replace it, or choose another file")
        }
        let all = combinations
        let meter = ProgressLine.wanted(explicit: args.has("progress"))
            ? ProgressLine(label: "sweep", unit: "runs", total: all.count, write: ProgressLine.standardError) : nil
        var runs: [Run] = []
        for (i, settings) in all.enumerated() {
            var single = args
            for (option, value) in settings { single.values[option] = value }
            let named = Dictionary(uniqueKeysWithValues: settings.map { ($0.option, $0.value) })
            do {
                let outcome = try RunCommand.simulate(single, progress: false)
                runs.append(Run(settings: named, report: outcome.report, baseline: outcome.baseline,
                                speedup: outcome.baseline.flatMap { ReportFormatter.speedup(outcome.report, over: $0) }))
            } catch let error as MoESimError {
                runs.append(Run(settings: named, error: error.description))
            }
            meter?.update(done: i + 1, detail: "last: " + settings.map { "\($0.option)=\($0.value)" }.joined(separator: " "), final: i + 1 == all.count)
        }
        guard runs.contains(where: { $0.report != nil }) else {
            throw MoESimError("every run of the sweep failed; the first: \(runs[0].error ?? "")")
        }
        let ranked = RunSweep.rank(runs)
        if args.has("json") {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            out += String(decoding: try encoder.encode(["runs": ranked]), as: UTF8.self) + "\n"
        } else if args.has("csv") {
            out += csv(ranked)
        } else {
            out += table(ranked)
        }
        if let svg = args.value("svg") {
            try AtomicOutput.writeFile(svg, contents: chart(ranked))
        }
    }

    /// The figure runs are ranked by: mean decode latency, or the makespan without decode tokens.
    static func key(_ report: Report) -> Double { report.decode.latency?.meanSeconds ?? report.makespanSeconds }

    /// Successful runs fastest first (ties keep sweep order), then the failed ones in sweep order.
    static func rank(_ runs: [Run]) -> [Run] {
        let done = runs.enumerated().filter { $0.element.report != nil }
            .sorted { (key($0.element.report!), $0.offset) < (key($1.element.report!), $1.offset) }.map(\.element)
        return done + runs.filter { $0.report == nil }
    }

    func label(_ run: Run) -> String { axes.map { run.settings[$0.option] ?? "" }.joined(separator: " / ") }

    func table(_ ranked: [Run]) -> String {
        let done = ranked.filter { $0.report != nil }
        let best = RunSweep.key(done[0].report!)
        var header = ["rank"] + axes.map(\.option) + ["decode ms/token", "tokens/s", "hit rate", "H2D GB/token", "stall ms/token", "peak GiB", "vs best"]
        if ranked.contains(where: { $0.speedup != nil }) { header.append("speedup") }
        var rows: [[String]] = []
        for (i, run) in done.enumerated() {
            let r = run.report!
            func f(_ v: Double?, _ decimals: Int, scale: Double = 1) -> String { v.map { FixedDecimal.format($0 * scale, decimals: decimals) } ?? "-" }
            var row = ["\(i + 1)"] + axes.map { run.settings[$0.option] ?? "" }
            row += [f(r.decode.latency?.meanSeconds, 2, scale: 1000), f(r.decode.tokensPerSecond, 2), f(r.cache.hitRate, 1, scale: 100) + " %",
                    f(r.link.h2dBytesPerDecodeToken, 3, scale: 1e-9), f(r.gpu.stallSecondsPerDecodeToken, 2, scale: 1000),
                    f(r.memory.peakDeviceBytes, 2, scale: 1 / 1_073_741_824.0), f(RunSweep.key(r) / best, 2) + "x"]
            if header.last == "speedup" { row.append(run.speedup.map { FixedDecimal.format($0, decimals: 3) + "x" } ?? "-") }
            rows.append(row)
        }
        let widths = header.indices.map { c in ([header[c]] + rows.map { $0[c] }).map(\.count).max()! }
        func line(_ cells: [String]) -> String {
            zip(cells, widths).map { $0 + String(repeating: " ", count: $1 - $0.count) }.joined(separator: "  ")
                .replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression) + "\n"
        }
        let trace = args.value("trace")!
        var out = "Sweep of \(combinations.count) runs (\(axes.map { "\($0.option) x \($0.values.count)" }.joined(separator: ", ")))"
            + (RunSweep.split(trace).count > 1 ? "" : " on \(trace)") + ", ranked by mean decode latency"
        if let set = args.value("baseline") { out += "; speedup over the baseline (\(set)) of each run" }
        out += "\n"
        let overrides = args.all("set")
        if !overrides.isEmpty { out += "overrides: " + overrides.map { "--set \($0)" }.joined(separator: " ") + "\n" }
        out += "\n" + line(header) + rows.map(line).joined()
        let failed = ranked.filter { $0.report == nil }
        if !failed.isEmpty {
            out += "\n\(failed.count) run(s) failed:\n"
            for run in failed { out += "  \(label(run)): \(run.error ?? "")\n" }
        }
        return out
    }

    func csv(_ ranked: [Run]) -> String {
        let lines = ranked.compactMap { run in run.report.map { ReportFormatter.csv($0, baseline: run.baseline) } }
        // Every report has the same columns (ReportFormatter), so the header is printed once.
        return lines[0] + lines.dropFirst().map { $0.split(separator: "\n", maxSplits: 1).dropFirst().joined() }.joined()
    }

    func chart(_ ranked: [Run]) -> String {
        let done = ranked.filter { $0.report != nil }
        let title = "Mean decode latency, " + axes.map(\.option).joined(separator: " x ") + " (ranked)"
        var bars = BarChart(title: title, xLabel: axes.map(\.option).joined(separator: " / "),
                            yLabel: "decode latency per token (ms" + (args.has("log-scale") ? ", log scale)" : ")"),
                            categories: done.map(label), series: [BarChart.Series(name: "", values: done.map { RunSweep.key($0.report!) * 1000 })],
                            valueDecimals: 1)
        bars.logScale = args.has("log-scale")
        return bars.svg()
    }
}
