/// report.md: what was run, the spec's tables (with speedups), simulated vs paper numbers with the error, the
/// plots, skipped or failed runs, and every run's exact command.
enum ExperimentReport {
    static func markdown(_ results: ExperimentResults) -> String {
        let spec = results.spec
        var out = "# Experiment: \(spec.name)\n\n\(spec.description)\n\n"
        for note in spec.notes { out += note + "\n\n" }

        let counts = statusCounts(results)
        out += "Written by `sim experiment run \(spec.name)` (moe-sim \(CommandLineTool.version)) from the spec `\(spec.name).json`: "
        out += "\(results.plan.runs.count) runs (\(counts.ok) ran, \(counts.skipped) skipped, \(counts.failed) failed). "
        out += "Every number below comes from one run's JSON report in `results.json`; `results.csv` has them in base units "
        out += "(seconds, bytes, fractions). The commands are listed at the end.\n\n"
        let fixed = spec.base.compactMap { option -> String? in
            switch option.value {
            case let .value(text):
                let resolved = text.replacingOccurrences(of: ExperimentPlan.sharedPlaceholder, with: results.plan.sharedDirectory)
                return "--\(option.name) \(ShellQuoting.quote(resolved))"
            case .flag: return "--\(option.name)"
            case .absent: return nil
            }
        }
        if !fixed.isEmpty { out += "Fixed options: `\(fixed.joined(separator: " "))`.\n\n" }
        if let baseline = spec.baseline {
            let overrides = baseline.map { "\($0.name)=\(ExperimentPlan.describe($0.value))" }.joined(separator: " ")
            let speedups = spec.metrics.compactMap { metric -> String? in
                guard case let .speedup(of: reference) = metric.source else { return nil }
                return "\(metric.title) = the baseline's \(spec.metric(reference)!.title) / the run's"
            }
            out += "Baseline: each run with `\(overrides)` and its other values unchanged"
            out += speedups.isEmpty ? ".\n\n" : "; \(speedups.joined(separator: "; ")).\n\n"
        }

        for table in spec.tables { out += tableSection(table, results) }
        if !spec.paper.isEmpty { out += paperSection(results) }
        if !spec.plots.isEmpty {
            out += "## Plots\n\n"
            for plot in spec.plots { out += "![\(plot.title)](\(plot.file))\n\n" }
        }
        let incomplete = results.plan.runs.filter { results.outcomes[$0.index].report == nil }
        if !incomplete.isEmpty {
            out += "## Skipped and failed runs\n\n"
            for run in incomplete {
                switch results.outcomes[run.index].status {
                case let .skipped(reason): out += "- run \(run.index) (\(escape(run.label))): \(escape(reason))\n"
                case let .failed(message): out += "- run \(run.index) (\(escape(run.label))): failed: \(escape(message))\n"
                case .ok: break
                }
            }
            out += "\n"
        }
        out += "## Runs\n\nEach run is one `sim` command, run from the repository root; `--json` makes it print the report kept in `results.json`.\n\n"
        for run in results.plan.runs {
            out += "- run \(run.index) (\(escape(run.label)))\(run.role == .baseline ? ", baseline only" : ""): `\(run.command)`\n"
        }
        return out
    }

    static func statusCounts(_ results: ExperimentResults) -> (ok: Int, skipped: Int, failed: Int) {
        var counts = (ok: 0, skipped: 0, failed: 0)
        for outcome in results.outcomes {
            switch outcome.status {
            case .ok: counts.ok += 1
            case .skipped: counts.skipped += 1
            case .failed: counts.failed += 1
            }
        }
        return counts
    }

    /// One row per sweep run passing the filter; a column per axis that varies among those rows, then the
    /// metrics. Axes with one value are stated above the table instead.
    static func tableSection(_ table: ExperimentSpec.Table, _ results: ExperimentResults) -> String {
        let spec = results.spec
        let runs = results.sweepRuns(filter: table.filter)
        let varying = spec.axes.filter { axis in Set(runs.compactMap { $0.axisValue(axis.option) }).count > 1 }
        let constant = spec.axes.filter { axis in !varying.contains { $0.option == axis.option } }
        var out = "## \(escape(table.title))\n\n"
        let fixed = constant.compactMap { axis in runs.first?.axisValue(axis.option).map { "\(axis.title)=\(axis.label($0))" } }
        if !fixed.isEmpty { out += "All rows: \(escape(fixed.joined(separator: ", "))).\n\n" }
        let metrics = table.metrics.map { spec.metric($0)! }
        let headings = varying.map(\.title) + metrics.map(\.heading)
        out += "| " + headings.map(escape).joined(separator: " | ") + " |\n"
        out += "|" + varying.map { _ in ":--|" }.joined() + metrics.map { $0.kind.isNumeric ? "--:|" : ":--|" }.joined() + "\n"
        for run in runs {
            var cells = varying.map { axis in run.axisValue(axis.option).map(axis.label) ?? "" }
            cells += metrics.map { cell($0, results.values[run.index][$0.name] ?? .missing, status: results.outcomes[run.index].status) }
            out += "| " + cells.map(escape).joined(separator: " | ") + " |\n"
        }
        return out + "\n"
    }

    static func cell(_ metric: ExperimentSpec.Metric, _ value: MetricValue, status: RunOutcome.Status) -> String {
        switch value {
        case let .number(n): return metric.format.display(n)
        case let .text(t): return t
        case .missing:
            switch status {
            case .skipped: return "skipped"
            case .failed: return "failed"
            case .ok: return "–"
            }
        }
    }

    static func paperSection(_ results: ExperimentResults) -> String {
        let spec = results.spec
        var out = "## Simulated vs paper\n\nerror = (simulated - paper) / paper. Papers measured their own systems and "
        out += "workloads, so read an error as how far this configuration is from theirs, not only as a simulator error.\n\n"
        out += "| reference | run | metric | simulated | paper | error | source |\n|:--|:--|:--|--:|--:|--:|:--|\n"
        for point in spec.paper {
            let metric = spec.metric(point.metric)!
            let run = results.sweepRun(matching: point.match)
            let simulated = run.flatMap { results.values[$0.index][metric.name]?.number }
            let error = simulated.map { FixedDecimal.format(($0 - point.value) / point.value * 100, decimals: 1) + " %" }
            let errorText = error.map { $0.hasPrefix("-") ? $0 : "+" + $0 } ?? "–"
            let simulatedText = simulated.map(metric.format.display) ?? (run.map { cell(metric, .missing, status: results.outcomes[$0.index].status) } ?? "–")
            let cells = [point.label, run?.label ?? "–", metric.heading, simulatedText, metric.format.display(point.value), errorText,
                         point.source + (point.unconfirmed ? " [UNCONFIRMED]" : "")]
            out += "| " + cells.map(escape).joined(separator: " | ") + " |\n"
        }
        return out + "\n"
    }

    /// Keeps table cells in their column: pipes escaped, line breaks flattened.
    static func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "|", with: "\\|").replacingOccurrences(of: "\n", with: " ")
    }
}
