/// Which task each generated request gets: a multinomial over the task set (eMoE: uniform over five tasks,
/// papers.md §2.2). Written `uniform`, `SUM,QA` (uniform over those) or `SUM=2,QA=1` (relative weights);
/// absent, the set's own shares.
public struct TaskMix: Sendable, Equatable {
    /// Probability of each task of the set, by index (sums to 1).
    public let probabilities: [Double]
    let cumulative: [Double]

    public init(probabilities: [Double]) {
        let total = probabilities.reduce(0, +)
        self.probabilities = probabilities.map { $0 / total }
        var running = 0.0
        cumulative = self.probabilities.map { running += $0; return running }
    }

    public static let usage = "expected uniform, TASK,TASK,... or TASK=WEIGHT,... (e.g. SUM,QA or SUM=2,CONV=1)"

    public static func parse(_ text: String?, tasks: ServingTaskSet) throws -> TaskMix {
        guard let text else { return TaskMix(probabilities: tasks.tasks.map(\.share.value)) }
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.lowercased() == "uniform" { return TaskMix(probabilities: Array(repeating: 1, count: tasks.tasks.count)) }
        var weights = Array(repeating: 0.0, count: tasks.tasks.count)
        var given: Set<Int> = []
        for item in trimmed.split(separator: ",", omittingEmptySubsequences: false) {
            let kv = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard let index = tasks.index(of: kv[0]) else {
                let names = tasks.tasks.map(\.name)
                let suggestion = NameMatching.closest(to: kv[0], among: names)
                throw MoESimError(field: "--task-mix", "unknown task '\(kv[0])'",
                                  hint: (suggestion.map { "did you mean '\($0)'? " } ?? "") + "tasks: \(names.joined(separator: ", "))")
            }
            guard given.insert(index).inserted else { throw MoESimError(field: "--task-mix", "task '\(kv[0])' given twice") }
            if kv.count == 2 {
                guard let w = Double(kv[1]), w.isFinite, w >= 0 else {
                    throw MoESimError(field: "--task-mix", "expected a weight >= 0 for \(kv[0]), found '\(kv[1])'", hint: usage)
                }
                weights[index] = w
            } else {
                weights[index] = 1
            }
        }
        guard weights.contains(where: { $0 > 0 }) else { throw MoESimError(field: "--task-mix", "at least one weight must be positive", hint: usage) }
        return TaskMix(probabilities: weights)
    }

    /// A task index for the uniform number `u` in [0, 1).
    public func task(u: Double) -> Int {
        for (i, c) in cumulative.enumerated() where u < c && probabilities[i] > 0 { return i }
        return probabilities.lastIndex { $0 > 0 }!
    }

    /// `SUM=0.2,CLSFY=0.2,...` for reports.
    public func describe(_ tasks: ServingTaskSet) -> String {
        zip(tasks.tasks, probabilities).filter { $0.1 > 0 }.map { "\($0.0.name)=\(Double(Int($0.1 * 1e4 + 0.5)) / 1e4)" }.joined(separator: ",")
    }
}
