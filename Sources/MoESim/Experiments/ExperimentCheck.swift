import Foundation

/// The regression guard. Each experiment's small check variant is re-run and its guarded numbers are compared
/// with `experiments/expected/NAME.json`; any number that moves beyond its tolerance is a readable difference
/// naming the experiment, the run and the metric. `bless` re-runs the variant and stores its numbers.
public enum ExperimentCheck {
    public static let expectedSchema = "moe-sim/experiment-expected/1"
    public static let expectedFolder = "expected"

    /// What checking one experiment found.
    public struct Outcome: Sendable {
        public var experiment: String
        public var runs: Int
        public var checkedValues: Int
        /// Runs not run because they need absent shared files, and why (each reason once).
        public var skippedRuns: Int
        public var skipReasons: [String]
        /// "experiment E, run R, metric M: expected X, got Y (...)" lines.
        public var differences: [String]
        public var passed: Bool { differences.isEmpty }
    }

    public static func expectedPath(experimentsDirectory: String, name: String) -> String {
        // Plain joining keeps the path as the user gave it (relative paths stay relative in messages).
        (experimentsDirectory.hasSuffix("/") ? experimentsDirectory : experimentsDirectory + "/") + "\(expectedFolder)/\(name).json"
    }

    /// Runs the spec's check variant (with `sim run --check`) and returns its results.
    public static func runVariant(_ spec: ExperimentSpec, sharedDirectory: String, jobs: Int,
                                  progress: ((Int) -> ExperimentProgress)? = nil) throws -> ExperimentResults {
        var plan = ExperimentPlan(spec: try spec.checkSpec(), sharedDirectory: sharedDirectory)
        // Simulation runs also check the engine's invariants: a violation fails the run, naming it.
        if plan.spec.command.first == "run" {
            for i in plan.runs.indices { plan.runs[i].arguments.append("--check") }
        }
        let outcomes = try ExperimentRunner.run(plan: plan, indices: Array(plan.runs.indices), jobs: jobs, progress: progress?(plan.runs.count))
        return try ExperimentResults(plan: plan, outcomes: outcomes)
    }

    /// The expected file for these (check-variant) results.
    public static func expectationsJSON(_ results: ExperimentResults) -> String {
        let spec = results.spec
        let guarded = spec.check?.metrics ?? []
        let runs: [JSONValue] = results.plan.runs.map { run in
            var members: [(String, JSONValue)] = [("run", .string(run.label)), ("command", .string(run.templateCommand))]
            switch results.outcomes[run.index].status {
            case .ok:
                members.append(("status", .string("ok")))
                members.append(("metrics", .object(guarded.map { ($0, results.values[run.index][$0]?.json ?? .null) })))
            case let .failed(message):
                members += [("status", .string("failed")), ("error", .string(message))]
            case let .skipped(reason):
                members += [("status", .string("skipped")), ("reason", .string(reason))]
            }
            return .object(members)
        }
        return PrettyJSON.render(.object([
            ("schema", .string(expectedSchema)),
            ("experiment", .string(spec.name)),
            ("note", .string("Key numbers of the check variant of \(spec.name).json. `sim experiment check` re-runs it and compares "
                             + "(tolerances: the spec's check.tolerances; by default counts exact, times and ratios relative 1e-9). "
                             + "Update only with `sim experiment bless \(spec.name)`.")),
            ("runs", .array(runs)),
        ]))
    }

    struct ExpectedRun {
        var status: String
        var message: String?
        var metrics: [(String, JSONValue)]
    }

    static func readExpected(_ text: String, file: String, experiment: String) throws -> [(label: String, run: ExpectedRun)] {
        let json: JSONValue
        do { json = try JSONValue.parse(text) } catch { throw MoESimError(file: file, "not valid JSON: \(error)") }
        let root = SpecField(value: json, path: "", file: file)
        _ = try root.object(allowed: ["schema", "experiment", "note", "runs"])
        guard try root.required("schema").string() == expectedSchema else { throw root.child("schema", .null).error("expected '\(expectedSchema)'") }
        let name = try root.required("experiment").string()
        guard name == experiment else { throw root.child("experiment", .null).error("is '\(name)', but this file is for '\(experiment)'") }
        return try root.required("runs").array().map { field in
            _ = try field.object(allowed: ["run", "command", "status", "metrics", "error", "reason"])
            let status = try field.required("status").string()
            var metrics: [(String, JSONValue)] = []
            if let metricsField = field.member("metrics"), case let .object(members) = metricsField.value { metrics = members }
            return (try field.required("run").string(),
                    ExpectedRun(status: status, message: try (field.member("error") ?? field.member("reason"))?.string(), metrics: metrics))
        }
    }

    /// Compares check-variant results with the expected file's text.
    public static func compare(_ results: ExperimentResults, expectedText: String, expectedFile: String) throws -> Outcome {
        let spec = results.spec
        let expected = try readExpected(expectedText, file: expectedFile, experiment: spec.name)
        let expectedByLabel = Dictionary(expected.map { ($0.label, $0.run) }, uniquingKeysWith: { first, _ in first })
        let guarded = spec.check?.metrics ?? []
        let tolerances = spec.check?.tolerances ?? ExperimentSpec.defaultTolerances
        var outcome = Outcome(experiment: spec.name, runs: results.plan.runs.count, checkedValues: 0, skippedRuns: 0, skipReasons: [], differences: [])
        func differ(_ run: String, _ text: String) { outcome.differences.append("experiment \(spec.name), run '\(run)'\(text)") }

        for run in results.plan.runs {
            let status = results.outcomes[run.index].status
            if case let .skipped(reason) = status {
                outcome.skippedRuns += 1
                if !outcome.skipReasons.contains(reason) { outcome.skipReasons.append(reason) }
                continue
            }
            guard let want = expectedByLabel[run.label] else {
                differ(run.label, ": not in \(expectedFile) (a new run?); if intended, run `sim experiment bless \(spec.name)`")
                continue
            }
            switch status {
            case let .failed(message):
                if want.status != "failed" {
                    differ(run.label, ": expected status \(want.status), got failed: \(message)")
                } else if want.message != message {
                    differ(run.label, ": expected the error \"\(want.message ?? "")\", got \"\(message)\"")
                }
                outcome.checkedValues += 1
                continue
            case .ok where want.status != "ok":
                differ(run.label, ": expected status \(want.status)\(want.message.map { ": \($0)" } ?? ""), got ok")
                continue
            default: break
            }
            for name in guarded {
                let metric = spec.metric(name)!
                let got = results.values[run.index][name] ?? .missing
                guard let stored = want.metrics.first(where: { $0.0 == name })?.1 else {
                    differ(run.label, ", metric \(name): not in \(expectedFile); run `sim experiment bless \(spec.name)` to store it")
                    continue
                }
                outcome.checkedValues += 1
                if let problem = difference(expected: stored, got: got, kind: metric.kind, tolerance: tolerances[metric.kind] ?? 0) {
                    differ(run.label, ", metric \(name): \(problem)")
                }
            }
            for (name, _) in want.metrics where !guarded.contains(name) {
                differ(run.label, ", metric \(name): in \(expectedFile) but no longer guarded by check.metrics; re-bless to drop it")
            }
        }
        let current = Set(results.plan.runs.map(\.label))
        for (label, _) in expected where !current.contains(label) {
            differ(label, ": in \(expectedFile) but not in the check variant any more; if intended, run `sim experiment bless \(spec.name)`")
        }
        return outcome
    }

    /// Nil when `got` is within tolerance of `expected`; otherwise what differs, with the tolerance applied.
    static func difference(expected: JSONValue, got: MetricValue, kind: ExperimentSpec.MetricKind, tolerance: Double) -> String? {
        let wanted: MetricValue
        switch expected {
        case let .number(n): wanted = .number(n)
        case let .string(s): wanted = .text(s)
        default: wanted = .missing
        }
        func show(_ value: MetricValue) -> String {
            switch value {
            case let .number(n): return JSONValue.format(n)
            case let .text(t): return "\"\(t)\""
            case .missing: return "no value"
            }
        }
        if case let .number(want) = wanted, case let .number(have) = got {
            if want == have { return nil }
            let absolute = abs(have - want)
            switch kind {
            case .count:
                guard absolute > tolerance else { return nil }
                let rule = tolerance == 0 ? "tolerance 0: counts must match exactly" : "tolerance \(JSONValue.format(tolerance))"
                return "expected \(show(wanted)), got \(show(got)) (difference \(JSONValue.format(have - want)); \(rule))"
            case .time, .ratio, .label:
                let relative = want == 0 ? absolute : absolute / abs(want)
                guard relative > tolerance else { return nil }
                return "expected \(show(wanted)), got \(show(got)) (relative difference \(scientific(relative)) > tolerance relative \(scientific(tolerance)))"
            }
        }
        guard wanted != got else { return nil }
        return "expected \(show(wanted)), got \(show(got))"
    }

    /// 3.2e-04 style, for differences and tolerances.
    static func scientific(_ value: Double) -> String {
        value == 0 ? "0" : String(format: "%.1e", value)
    }

    /// The check command: every experiment named (or all with a check variant), each one's outcome as lines.
    public static func check(specs: [ExperimentSpec], experimentsDirectory: String, sharedDirectory: String, jobs: Int,
                             progress: ((String, Int) -> ExperimentProgress)?, out: inout String) throws {
        var failed: [String] = []
        for spec in specs {
            let start = DispatchTime.now()
            let expectedFile = expectedPath(experimentsDirectory: experimentsDirectory, name: spec.name)
            guard let data = FileManager.default.contents(atPath: expectedFile), let text = String(data: data, encoding: .utf8) else {
                out += "FAIL  \(spec.name): no expectations at \(expectedFile); create them with `sim experiment bless \(spec.name)`\n"
                failed.append(spec.name)
                continue
            }
            let outcome: Outcome
            do {
                let results = try runVariant(spec, sharedDirectory: sharedDirectory, jobs: jobs, progress: progress.map { make in { make(spec.name, $0) } })
                outcome = try compare(results, expectedText: text, expectedFile: expectedFile)
            } catch let error as MoESimError {
                out += "FAIL  \(spec.name): \(error)\n"
                failed.append(spec.name)
                continue
            }
            let seconds = FixedDecimal.format(Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9, decimals: 1)
            let skipped = outcome.skippedRuns == 0 ? ""
                : "\(outcome.skippedRuns) of \(outcome.runs) runs \(outcome.skipReasons.joined(separator: "; "))"
            if !outcome.passed {
                out += "FAIL  \(spec.name): \(outcome.differences.count) difference(s) from \(expectedFile) (\(seconds) s):\n"
                for line in outcome.differences { out += "        \(line)\n" }
                if !skipped.isEmpty { out += "        \(skipped)\n" }
                failed.append(spec.name)
            } else if outcome.skippedRuns == outcome.runs {
                out += "skip  \(spec.name): \(skipped)\n"
            } else {
                out += "ok    \(spec.name): \(outcome.runs - outcome.skippedRuns) runs, \(outcome.checkedValues) numbers as expected (\(seconds) s)"
                out += skipped.isEmpty ? "\n" : "; \(skipped)\n"
            }
        }
        if !failed.isEmpty {
            throw MoESimError("experiment check failed: \(failed.joined(separator: ", "))",
                              hint: "if a change is intended, run `sim experiment bless NAME` and commit experiments/expected/NAME.json with it")
        }
    }

    /// Re-runs the check variant and stores its numbers; refuses when a run was skipped (nothing to store).
    /// Returns a summary, with what changed from the previous expectations.
    public static func bless(_ spec: ExperimentSpec, experimentsDirectory: String, sharedDirectory: String, jobs: Int,
                             progress: ((Int) -> ExperimentProgress)?) throws -> String {
        let results = try runVariant(spec, sharedDirectory: sharedDirectory, jobs: jobs, progress: progress)
        for run in results.plan.runs {
            if case let .skipped(reason) = results.outcomes[run.index].status {
                throw MoESimError("cannot bless \(spec.name): run '\(run.label)' was \(reason)")
            }
        }
        let path = expectedPath(experimentsDirectory: experimentsDirectory, name: spec.name)
        var summary = ""
        if let data = FileManager.default.contents(atPath: path), let old = String(data: data, encoding: .utf8),
           let previous = try? compare(results, expectedText: old, expectedFile: path) {
            summary += previous.passed ? "no number moved beyond tolerance from the previous expectations\n"
                : "changed from the previous expectations:\n" + previous.differences.map { "  \($0)\n" }.joined()
        }
        try AtomicOutput.writeFile(path, contents: expectationsJSON(results))
        let guardedCount = results.plan.runs.count * (spec.check?.metrics.count ?? 0)
        return "blessed \(spec.name): \(results.plan.runs.count) runs, up to \(guardedCount) numbers -> \(path)\n" + summary
    }
}
