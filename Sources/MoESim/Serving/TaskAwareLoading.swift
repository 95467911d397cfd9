/// eMoE's task-aware expert loading (papers.md §2.4.4): the expected tokens routed to expert i at a layer, per
/// task type,
///
///     N_i = (sum_{j<T} W_j + T * W_o) * s * f_i                      (Eq. 2)
///
/// (T requests of the task running, W_j their input tokens, W_o the task's expected output tokens, s its
/// sensitivity at the layer, f_i the predicted routing frequency), summed over task types; each layer keeps its
/// top L experts by the sum. Insensitive tasks (s = 0) add nothing, so their predicted experts are not loaded.
public enum TaskAwareLoading {
    /// Eq. 2 for one task type, layer and expert.
    @inline(__always)
    public static func expectedTokens(inputTokens: Double, runningRequests: Int, expectedOutputTokens: Double, sensitive: Bool, frequency: Double) -> Double {
        (inputTokens + Double(runningRequests) * expectedOutputTokens) * (sensitive ? 1 : 0) * frequency
    }

    /// The running requests of one task type, as Eq. 2 needs them.
    public struct TaskLoad: Sendable, Equatable {
        public var task: Int
        /// T.
        public var requests: Int
        /// Sum of W_j.
        public var inputTokens: Double
        public init(task: Int, requests: Int, inputTokens: Double) {
            self.task = task
            self.requests = requests
            self.inputTokens = inputTokens
        }
    }

    /// N per (layer, expert), `layer * experts + expert`, summed over `loads`. `frequency(task)` is the task's
    /// predicted f (per layer, sums to 1), nil when the task has none; `sensitivity[task][layer]` is s.
    public static func expectedTokens(loads: [TaskLoad], expectedOutputTokens: [Double], sensitivity: [[Bool]],
                                      frequency: (Int) -> [Double]?, layers: Int, experts: Int) -> [Double] {
        var n = Array(repeating: 0.0, count: layers * experts)
        for load in loads where load.requests > 0 {
            guard let f = frequency(load.task) else { continue }
            for l in 0..<layers {
                for e in 0..<experts {
                    n[l * experts + e] += expectedTokens(inputTokens: load.inputTokens, runningRequests: load.requests,
                                                         expectedOutputTokens: expectedOutputTokens[load.task],
                                                         sensitive: sensitivity[load.task][l], frequency: f[l * experts + e])
                }
            }
        }
        return n
    }

    /// Each layer's experts ranked by N, highest first; ties keep already-resident experts first (they need no
    /// load: "experts already loaded are kept"), then the lower id.
    public static func ranking(expected n: [Double], layers: Int, experts: Int, resident: (Int) -> Bool) -> [[Int32]] {
        (0..<layers).map { l in
            (0..<experts).sorted { a, b in
                let ka = l * experts + a, kb = l * experts + b
                if n[ka] != n[kb] { return n[ka] > n[kb] }
                let ra = resident(ka), rb = resident(kb)
                if ra != rb { return ra }
                return a < b
            }.map(Int32.init)
        }
    }

    /// The experts to keep: the first `budget[l]` of each layer's ranking, as keys.
    public static func selection(ranking: [[Int32]], budget: [Int], experts: Int) -> Set<Int> {
        var keep: Set<Int> = []
        for (l, order) in ranking.enumerated() {
            for e in order.prefix(budget[l]) { keep.insert(l * experts + Int(e)) }
        }
        return keep
    }
}
