/// Turns one layer of a pass into expert accesses: gating per token, then the distinct experts in order of first
/// use, with the tokens and router weight each got. The timed engine and the cache-only replay share it, so
/// both see exactly the same access stream (which is what lets a look-ahead policy run beside the engine).
public final class PassRouter {
    public let experts: Int
    public let gating: GatingPolicy
    public var weightsAreFull = false
    let selected: FixedArray<Int32>
    /// Tokens routed to each expert of the current layer; zeroed again by `clear`.
    public let tokensPerExpert: FixedArray<Int32>
    /// Summed router weight of each expert of the current layer (0 when the trace records none).
    public let weightPerExpert: FixedArray<Float>
    /// The layer's distinct experts in order of first use; the first `route` result entries are valid.
    public let distinct: FixedArray<Int32>
    /// Recorded (token, layer) cells routed so far, and experts they selected after gating.
    public private(set) var tokenLayers = 0
    public private(set) var activatedExperts = 0

    public init(experts: Int, gating: GatingPolicy) {
        self.experts = experts
        self.gating = gating
        selected = FixedArray(repeating: 0, count: experts)
        tokensPerExpert = FixedArray(repeating: 0, count: experts)
        weightPerExpert = FixedArray(repeating: 0, count: experts)
        distinct = FixedArray(repeating: 0, count: experts)
    }

    /// Routes every token of `pass` at `layer`; returns how many distinct experts were selected.
    /// `observer`, if any, sees each token's router output first (MRS-style scoring).
    public func route(_ pass: Pass, layer: Int, observer: EvictionPolicy?) -> Int {
        var count = 0
        for t in 0..<pass.tokenCount {
            let token = pass.tokens[t]
            guard token.counts[layer] >= 0 else { continue }
            observer?.observe(layer: layer, token: token, weightsAreFull: weightsAreFull)
            let chosen = gating.select(token: token, layer: layer, into: selected)
            tokenLayers += 1
            activatedExperts += chosen
            let weightBase = layer * token.weightsPerLayer
            for i in 0..<chosen {
                let e = Int(selected[i])
                if tokensPerExpert[e] == 0 {
                    distinct[count] = Int32(e)
                    count += 1
                    weightPerExpert[e] = 0
                }
                tokensPerExpert[e] += 1
                if token.weightsPerLayer > 0 { weightPerExpert[e] += routerWeight(token, layer: layer, expert: e, weightBase: weightBase) }
            }
        }
        return count
    }

    /// Forgets the token counts of the first `count` distinct experts (call once the layer is done).
    public func clear(_ count: Int) {
        for j in 0..<count { tokensPerExpert[Int(distinct[j])] = 0 }
    }

    /// The router weight of `expert` for this token: indexed by expert id in `full` traces, by list position in `topk` ones.
    @inline(__always) func routerWeight(_ token: TokenRecord, layer: Int, expert: Int, weightBase: Int) -> Float {
        if weightsAreFull { return token.weights[weightBase + expert] }
        let base = layer * token.slotsPerLayer
        for j in 0..<Int(token.counts[layer]) where token.experts[base + j] == Int32(expert) { return token.weights[weightBase + j] }
        return 0
    }
}
