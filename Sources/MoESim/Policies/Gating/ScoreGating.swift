/// Score-based adaptive gating, AdapMoE's comparison baseline (papers.md §1.3.A, §1.5): one cut-off for every
/// layer on the normalised 2nd weight: a token runs only its top-1 expert iff w2 < T. This is AdapMoE's code
/// with `--hessian` off (`run_acc_benchmark.py`, `run_mmlu.py`), where T is used directly as the w2 cut-off.
///
/// Deviations: those harnesses gate every token (prefill included) and exist only for accuracy runs; here, like
/// `adapmoe`, only decode tokens are gated unless `prefill` is given, so the two compare on the same cells.
/// There is no published default cut-off, so T is required. Cells with other than two recorded experts replay
/// unchanged.
public final class ScoreGating: GatingPolicy {
    public static let summary = "one cut-off on the normalised 2nd weight for every layer (AdapMoE's score-based baseline, papers.md §1.3.A): run only the top-1 expert iff w2 < T. Options: T=W2 (required, 0 to 0.5), prefill (also gate prefill tokens; default: decode only)"

    public let name = "score"
    public var dropsExperts: Bool { true }
    /// The cut-off on w2.
    public let threshold: Double
    public let gatesPrefill: Bool

    public init(threshold: Double, gatesPrefill: Bool = false) {
        self.threshold = threshold
        self.gatesPrefill = gatesPrefill
    }

    convenience init(context: GatingContext) throws {
        try context.accept(only: ["T=NUMBER", "prefill"])
        try context.requireTopTwoWithWeights()
        guard let threshold = try context.number("t") else {
            throw context.error("score needs its cut-off on the normalised 2nd weight", hint: "e.g. --gating score:T=0.2")
        }
        self.init(threshold: threshold, gatesPrefill: try context.flag("prefill"))
    }

    public func select(_ cell: RoutingCell, into selected: FixedArray<Int32>) -> Int {
        let n = cell.experts.count
        if n == 2, cell.phase == .decode || gatesPrefill, cell.normalisedSecondWeight < threshold {
            selected[0] = cell.experts[0]
            return 1
        }
        for i in 0..<n { selected[i] = cell.experts[i] }
        return n
    }
}
