/// One metric of one run.
public enum MetricValue: Equatable, Sendable {
    case number(Double)
    case text(String)
    /// The run was skipped or failed, its baseline was, or the JSON holds null there.
    case missing

    public var number: Double? { if case let .number(n) = self { return n } else { return nil } }

    public var json: JSONValue {
        switch self {
        case let .number(n): return .number(n)
        case let .text(t): return .string(t)
        case .missing: return .null
        }
    }
}

/// Pulls every metric of a spec out of each run's JSON report, then derives speedups and dominant labels.
enum ExperimentMetrics {
    /// Values by plan index, then metric name. Throws when a path is absent from a run's output (a spec error).
    static func evaluate(plan: ExperimentPlan, outcomes: [RunOutcome]) throws -> [[String: MetricValue]] {
        var values: [[String: MetricValue]] = Array(repeating: [:], count: plan.runs.count)
        for metric in plan.spec.metrics {
            for run in plan.runs {
                values[run.index][metric.name] = try value(of: metric, run: run, outcome: outcomes[run.index], values: values, plan: plan)
            }
        }
        return values
    }

    static func value(of metric: ExperimentSpec.Metric, run: PlannedRun, outcome: RunOutcome, values: [[String: MetricValue]],
                      plan: ExperimentPlan) throws -> MetricValue {
        guard let report = outcome.report else { return .missing }
        switch metric.source {
        case let .path(template):
            return try lookup(template, in: report, metric: metric, run: run, plan: plan)
        case let .speedup(of: reference):
            guard let baselineIndex = run.baselineIndex, let baselineValue = values[baselineIndex][reference]?.number,
                  let own = values[run.index][reference]?.number, own != 0 else {
                return .missing
            }
            return .number(baselineValue / own)
        case let .dominant(entries):
            var best: (label: String, value: Double)?
            for entry in entries {
                guard let value = values[run.index][entry.metric]?.number else { return .missing }
                if best == nil || value > best!.value { best = (entry.label, value) }
            }
            return best.map { .text($0.label) } ?? .missing
        }
    }

    /// Follows a dotted path (`decode.latency.meanSeconds`, `hitRate.${policies}.0`) into a run's JSON.
    static func lookup(_ template: String, in report: JSONValue, metric: ExperimentSpec.Metric, run: PlannedRun,
                       plan: ExperimentPlan) throws -> MetricValue {
        let path = try substitute(template, run: run, metric: metric, plan: plan)
        var node = report
        var walked: [String] = []
        for component in path.split(separator: ".").map(String.init) {
            let next: JSONValue?
            switch node {
            case .object: next = node[component]
            case let .array(items): next = Int(component).flatMap { items.indices.contains($0) ? items[$0] : nil }
            default: next = nil
            }
            guard let next else {
                if let absent = metric.absent { return .number(absent) }
                let here = walked.isEmpty ? "the top level" : "'\(walked.joined(separator: "."))'"
                var available = ""
                if case let .object(members) = node { available = "; \(here) has: \(members.map(\.0).joined(separator: ", "))" }
                if case let .array(items) = node { available = "; \(here) is an array of \(items.count)" }
                throw MoESimError(file: plan.spec.file, field: "metrics.\(metric.name).path",
                                  "'\(path)' is not in the output of run \(run.index) (\(run.label))\(available)",
                                  hint: "see the JSON with: \(run.command)")
            }
            walked.append(component)
            node = next
        }
        switch node {
        case let .number(n): return metric.kind.isNumeric ? .number(n) : .text(JSONValue.format(n))
        case let .string(text):
            guard !metric.kind.isNumeric else {
                throw MoESimError(file: plan.spec.file, field: "metrics.\(metric.name).path",
                                  "'\(path)' is the text '\(text)' in run \(run.index) (\(run.label)), not a number", hint: "use \"kind\": \"label\"")
            }
            return .text(text)
        case let .bool(flag): return metric.kind.isNumeric ? .number(flag ? 1 : 0) : .text(flag ? "true" : "false")
        case .null: return .missing
        case .array, .object:
            throw MoESimError(file: plan.spec.file, field: "metrics.\(metric.name).path",
                              "'\(path)' is an array or object in run \(run.index) (\(run.label)); point the path at one number")
        }
    }

    /// Replaces each `${option}` with the run's value of that option.
    static func substitute(_ template: String, run: PlannedRun, metric: ExperimentSpec.Metric, plan: ExperimentPlan) throws -> String {
        var result = ""
        var rest = Substring(template)
        while let open = rest.range(of: "${") {
            result += rest[..<open.lowerBound]
            guard let close = rest[open.upperBound...].firstIndex(of: "}") else {
                throw MoESimError(file: plan.spec.file, field: "metrics.\(metric.name).path", "unclosed '${' in '\(template)'")
            }
            let option = String(rest[open.upperBound..<close])
            guard let value = run.value(of: option) else {
                throw MoESimError(file: plan.spec.file, field: "metrics.\(metric.name).path",
                                  "'${\(option)}' names an option run \(run.index) (\(run.label)) does not set")
            }
            result += value
            rest = rest[rest.index(after: close)...]
        }
        return result + rest
    }
}
