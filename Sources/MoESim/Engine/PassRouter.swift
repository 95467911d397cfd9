/// Turns one layer of a pass into expert accesses: gating per token, then the distinct experts in order of first
/// use, with the tokens each got. The timed engine and the cache-only replay share it, so
/// both see exactly the same access stream (which is what lets a look-ahead policy run beside the engine).
public final class PassRouter {
    public let experts: Int
    public let gating: GatingPolicy
    public var weightsAreFull = false
    let selected: FixedArray<Int32>
    /// Tokens routed to each expert of the current layer; zeroed again by `clear`.
    public let tokensPerExpert: FixedArray<Int32>
    /// The layer's distinct experts in order of first use; the first `route` result entries are valid.
    public let distinct: FixedArray<Int32>
    /// Recorded (token, layer) cells routed so far, and experts they selected after gating.
    public private(set) var tokenLayers = 0
    public private(set) var activatedExperts = 0
    /// Experts the trace recorded for those cells, before gating.
    public private(set) var recordedExperts = 0
    /// Per-layer counts of what gating dropped; set it (when the policy drops experts) to have them kept.
    public var statistics: GatingStatistics?
    /// Per-expert gate weights of the layer routed last; set it (a miss policy that reads them) to have them kept.
    public var gateStatistics: LayerGateStatistics?

    public init(experts: Int, gating: GatingPolicy) {
        self.experts = experts
        self.gating = gating
        selected = FixedArray(repeating: 0, count: experts)
        tokensPerExpert = FixedArray(repeating: 0, count: experts)
        distinct = FixedArray(repeating: 0, count: experts)
    }

    /// Routes every token of `pass` at `layer`; returns how many distinct experts were selected.
    /// `observer`, if any, sees each token's router output first (MRS-style scoring).
    public func route(_ pass: Pass, layer: Int, observer: EvictionPolicy?) -> Int {
        // Records are read in place through a cell view: copying a record would retain and release its arrays.
        pass.tokens.withUnsafeBufferPointer { tokens in
            var count = 0
            let cellsBefore = tokenLayers
            for t in 0..<pass.tokenCount {
                _ = RoutingCell.with(tokens.baseAddress! + t, layer: layer, weightsAreFull: weightsAreFull) { cell in
                    observer?.observe(cell)
                    let chosen = gating.select(cell, into: selected)
                    tokenLayers += 1
                    activatedExperts += chosen
                    recordedExperts += cell.experts.count
                    if chosen < cell.experts.count { statistics?.recordReduced(cell) }
                    gateStatistics?.record(cell, selected: selected, count: chosen)
                    for i in 0..<chosen {
                        let e = Int(selected[i])
                        if tokensPerExpert[e] == 0 {
                            distinct[count] = Int32(e)
                            count += 1
                        }
                        tokensPerExpert[e] += 1
                    }
                }
            }
            statistics?.recordCells(tokenLayers - cellsBefore, layer: layer, phase: pass.phase)
            return count
        }
    }

    /// Forgets the token counts of the first `count` distinct experts (call once the layer is done).
    public func clear(_ count: Int) {
        for j in 0..<count { tokensPerExpert[Int(distinct[j])] = 0 }
        gateStatistics?.clear(distinct, count: count)
    }
}
