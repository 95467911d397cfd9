/// Every run of an experiment with its outcome and metrics, and the files made from them: results.json (each
/// run's full report), results.csv, report.md and the SVG plots. Built the same way from one unsharded run or
/// from merged shards, so both give the same bytes.
public struct ExperimentResults: Sendable {
    public static let schema = "moe-sim/experiment-results/1"
    public static let resultsFile = "results.json"
    public static let csvFile = "results.csv"
    public static let reportFile = "report.md"

    public let plan: ExperimentPlan
    /// One per planned run, by index.
    public let outcomes: [RunOutcome]
    /// Metric values by run index, then metric name.
    public let values: [[String: MetricValue]]

    public var spec: ExperimentSpec { plan.spec }

    public init(plan: ExperimentPlan, outcomes: [RunOutcome]) throws {
        guard outcomes.count == plan.runs.count, outcomes.enumerated().allSatisfy({ $0.offset == $0.element.index }) else {
            throw MoESimError("internal: results need one outcome per planned run, in order (\(outcomes.count) for \(plan.runs.count) runs)")
        }
        self.plan = plan
        self.outcomes = outcomes
        self.values = try ExperimentMetrics.evaluate(plan: plan, outcomes: outcomes)
    }

    /// All output files, name -> contents, in a fixed order.
    public func files() -> [(name: String, contents: String)] {
        [(ExperimentResults.resultsFile, resultsJSON()), (ExperimentResults.csvFile, csv()),
         (ExperimentResults.reportFile, ExperimentReport.markdown(self))] + ExperimentPlots.svgFiles(self)
    }

    // MARK: - results.json

    public func resultsJSON() -> String {
        PrettyJSON.render(.object([
            ("schema", .string(ExperimentResults.schema)),
            ("experiment", .string(spec.name)),
            ("description", .string(spec.description)),
            ("tool", .string("moe-sim \(CommandLineTool.version)")),
            ("shared", .string(plan.sharedDirectory)),
            ("spec", spec.raw),
            ("runs", .array(plan.runs.map(runJSON))),
        ]))
    }

    func runJSON(_ run: PlannedRun) -> JSONValue {
        var members: [(String, JSONValue)] = [
            ("index", .number(Double(run.index))),
            ("label", .string(run.label)),
            ("role", .string(run.role.rawValue)),
            ("axes", .object(run.axisValues.map { ($0.option, .string($0.value)) })),
            ("baseline", run.baselineIndex.map { .number(Double($0)) } ?? .null),
            ("command", .string(run.command)),
        ]
        members += ExperimentResults.statusMembers(outcomes[run.index].status)
        members.append(("metrics", .object(spec.metrics.map { ($0.name, values[run.index][$0.name]?.json ?? .null) })))
        if let report = outcomes[run.index].report { members.append(("report", report)) }
        return .object(members)
    }

    /// "status" and, for runs that did not complete, why: shared by results.json and shard files.
    static func statusMembers(_ status: RunOutcome.Status) -> [(String, JSONValue)] {
        switch status {
        case .ok: return [("status", .string("ok"))]
        case let .skipped(reason): return [("status", .string("skipped")), ("reason", .string(reason))]
        case let .failed(message): return [("status", .string("failed")), ("error", .string(message))]
        }
    }

    // MARK: - results.csv

    /// One row per run: index, label, role, status, each axis's value, each metric in base units, the command.
    public func csv() -> String {
        let header = ["index", "label", "role", "status"] + spec.axes.map(\.option) + spec.metrics.map(\.name) + ["command"]
        var lines = [header.map(ExperimentResults.csvField).joined(separator: ",")]
        for run in plan.runs {
            var fields = [String(run.index), run.label, run.role.rawValue, ExperimentResults.statusWord(outcomes[run.index].status)]
            fields += spec.axes.map { run.axisValue($0.option) ?? "" }
            fields += spec.metrics.map { metric in
                switch values[run.index][metric.name] ?? .missing {
                case let .number(n): return JSONValue.format(n)
                case let .text(t): return t
                case .missing: return ""
                }
            }
            fields.append(run.command)
            lines.append(fields.map(ExperimentResults.csvField).joined(separator: ","))
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func statusWord(_ status: RunOutcome.Status) -> String {
        switch status {
        case .ok: return "ok"
        case .skipped: return "skipped"
        case .failed: return "failed"
        }
    }

    /// RFC 4180 quoting: fields with a comma, quote or line break are quoted, quotes doubled.
    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    // MARK: - Lookups for the report and plots

    /// The sweep run with these axis values (the others' single value is implied), if any.
    func sweepRun(matching assignments: [(option: String, value: String)]) -> PlannedRun? {
        plan.sweepRuns.first { run in assignments.allSatisfy { run.axisValue($0.option) == $0.value } }
    }

    /// Sweep runs that pass a table's or plot's filter, in plan order.
    func sweepRuns(filter: [(option: String, value: String)]) -> [PlannedRun] {
        plan.sweepRuns.filter { run in filter.allSatisfy { run.axisValue($0.option) == $0.value } }
    }
}
