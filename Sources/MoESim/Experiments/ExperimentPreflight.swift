/// Checks made before a sweep starts, so a typo fails in a second instead of after every run: each option the spec
/// passes (base, axes, baseline, check) is an option of its command, and the metric paths exist in the first run's
/// report.
public enum ExperimentPreflight {
    /// `commandOptions`: the options the spec's command takes (empty when unknown: nothing is checked).
    public static func checkOptions(_ spec: ExperimentSpec, commandOptions: [String]) throws {
        guard !commandOptions.isEmpty else { return }
        var named: [(field: String, option: String)] = spec.base.map { ("base.\($0.name)", $0.name) }
        named += spec.axes.enumerated().map { ("axes[\($0.offset)].option", $0.element.option) }
        named += (spec.baseline ?? []).map { ("baseline.\($0.name)", $0.name) }
        named += (spec.check?.base ?? []).map { ("check.base.\($0.name)", $0.name) }
        for (field, option) in named where !commandOptions.contains(option) {
            let suggestion = NameMatching.closest(to: option, among: commandOptions)
            throw MoESimError(file: spec.file, field: field, "'\(option)' is not an option of sim \(spec.command.joined(separator: " "))",
                              hint: (suggestion.map { "did you mean '\($0)'? " } ?? "") + "see `sim \(spec.command.joined(separator: " ")) --help`")
        }
    }

    /// Every path metric of `run`'s report resolves (or has `absent`); throws the lookup's error, naming the path.
    static func checkMetricPaths(plan: ExperimentPlan, outcome: RunOutcome) throws {
        guard outcome.report != nil else { return }
        let run = plan.runs[outcome.index]
        for metric in plan.spec.metrics {
            guard case .path = metric.source else { continue }
            _ = try ExperimentMetrics.value(of: metric, run: run, outcome: outcome, values: [], plan: plan)
        }
    }

    /// Runs `indices` with the first one alone first, checking its metric paths before the others start.
    public static func run(plan: ExperimentPlan, indices: [Int], jobs: Int, progress: ExperimentProgress?,
                           stop: (() -> Bool)?) throws -> [RunOutcome] {
        guard let first = indices.first else { return [] }
        let head = try ExperimentRunner.run(plan: plan, indices: [first], jobs: 1, progress: progress, stop: stop)
        try checkMetricPaths(plan: plan, outcome: head[0])
        return head + (try ExperimentRunner.run(plan: plan, indices: Array(indices.dropFirst()), jobs: jobs, progress: progress, stop: stop))
    }
}
