import Foundation

/// What one run gave: its JSON report, or why it was skipped or failed.
public struct RunOutcome: Sendable, Equatable {
    public enum Status: Sendable, Equatable {
        case ok(JSONValue)
        /// Not run: it needs shared files that are absent.
        case skipped(String)
        /// `sim` exited with an error (recorded only when the spec says `"onRunError": "record"`).
        case failed(String)
    }

    public var index: Int
    public var status: Status

    public var report: JSONValue? { if case let .ok(report) = status { return report } else { return nil } }
}

/// Executes an experiment's runs: each is a `sim` command line run in-process through `CommandLineTool.run`,
/// several at once on a small worker pool. Outcomes come back in plan order, whatever order runs finish in, so
/// the output does not depend on --jobs or on timing.
public enum ExperimentRunner {
    /// Why a run has no result after an interrupted sweep (its outcome is `.skipped` with this reason).
    public static let interruptedReason = "not run: the sweep was interrupted (Ctrl-C) before this run started; run the experiment again to complete it"

    /// Runs `indices`; once `stop` returns true no further run starts (runs in progress finish), and the runs not
    /// started are returned as skipped with `interruptedReason`.
    public static func run(plan: ExperimentPlan, indices: [Int], jobs: Int, progress: ExperimentProgress? = nil,
                           stop: (() -> Bool)? = nil) throws -> [RunOutcome] {
        let collected = OutcomeCollector(count: indices.count)
        let workers = max(1, min(jobs, indices.count))
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while !(stop?() ?? false), let position = collected.claimNext() {
                let run = plan.runs[indices[position]]
                let outcome = execute(run, sharedDirectory: plan.sharedDirectory)
                collected.store(outcome, at: position)
                progress?.runFinished(label: run.label, status: statusWord(outcome.status))
            }
        }
        let outcomes = collected.outcomes { RunOutcome(index: indices[$0], status: .skipped(interruptedReason)) }
        if plan.spec.onRunError == .fail {
            for outcome in outcomes {
                if case let .failed(message) = outcome.status {
                    let run = plan.runs[outcome.index]
                    throw MoESimError(file: plan.spec.file, "experiment \(plan.spec.name), run \(run.index) (\(run.label)) failed: \(message)",
                                      hint: "repeat it with: \(run.command); to record such runs as results, set \"onRunError\": \"record\"")
                }
            }
        }
        return outcomes
    }

    static func statusWord(_ status: RunOutcome.Status) -> String {
        switch status {
        case .ok: return ""
        case .skipped: return "skipped"
        case .failed: return "failed"
        }
    }

    /// Runs one command line; never throws (failures become outcomes).
    static func execute(_ run: PlannedRun, sharedDirectory: String) -> RunOutcome {
        let missing = run.sharedFiles.filter { !FileManager.default.fileExists(atPath: $0) }
        if !missing.isEmpty {
            return RunOutcome(index: run.index, status: .skipped(skipReason(missing: missing, sharedDirectory: sharedDirectory)))
        }
        var out = "", err = ""
        let code = CommandLineTool.run(run.arguments, out: &out, err: &err)
        guard code == 0 else {
            var message = err.trimmingCharacters(in: .whitespacesAndNewlines)
            if message.hasPrefix("error: ") { message.removeFirst("error: ".count) }
            return RunOutcome(index: run.index, status: .failed(message.isEmpty ? "exit status \(code)" : message))
        }
        do {
            return RunOutcome(index: run.index, status: .ok(try JSONValue.parse(out)))
        } catch {
            return RunOutcome(index: run.index, status: .failed("its output is not JSON (\(error)); does this command support --json?"))
        }
    }

    static func skipReason(missing: [String], sharedDirectory: String) -> String {
        "skipped: needs \(missing.joined(separator: ", ")), absent (the shared traces are looked for in \(sharedDirectory); "
            + "set --shared DIR or \(ExperimentPlan.sharedEnvironmentVariable))"
    }
}

/// Hands out run positions to workers and keeps outcomes by position, under a lock.
private final class OutcomeCollector: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private var stored: [RunOutcome?]

    init(count: Int) { stored = Array(repeating: nil, count: count) }

    func claimNext() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard next < stored.count else { return nil }
        next += 1
        return next - 1
    }

    func store(_ outcome: RunOutcome, at position: Int) {
        lock.lock()
        stored[position] = outcome
        lock.unlock()
    }

    /// The outcomes by position; `notRun` stands in for positions no worker claimed.
    func outcomes(notRun: (Int) -> RunOutcome) -> [RunOutcome] {
        lock.lock()
        defer { lock.unlock() }
        return stored.enumerated().map { $0.element ?? notRun($0.offset) }
    }
}
