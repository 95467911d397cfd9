/// What the router chose for one token at one layer, as a view into the trace record (valid only during the
/// call it is passed to). Gating and routing-aware cache policies read this, not the whole record.
public struct RoutingCell {
    public let layer: Int
    public let phase: Phase
    /// The selected experts, highest weight first.
    public let experts: UnsafeBufferPointer<Int32>
    /// `topk` traces: the weights of `experts`, in the same order. `full` traces: the whole softmax, indexed by
    /// expert id. Empty when the trace records no weights.
    public let weights: UnsafeBufferPointer<Float>
    public let weightsAreFull: Bool

    /// The router weight of `expert` (0 when unknown).
    @inline(__always) public func weight(of expert: Int) -> Float {
        if weights.isEmpty { return 0 }
        if weightsAreFull { return weights[expert] }
        for j in 0..<experts.count where experts[j] == Int32(expert) { return weights[j] }
        return 0
    }

    /// Calls `body` with the cell of `record` at `layer`; nil cells (lost rows) are not passed.
    @inline(__always)
    static func with<R>(_ record: UnsafePointer<TokenRecord>, layer: Int, weightsAreFull: Bool, _ body: (RoutingCell) -> R) -> R? {
        let n = Int(record.pointee.counts[layer])
        guard n >= 0 else { return nil }
        let slots = record.pointee.slotsPerLayer
        let perLayer = record.pointee.weightsPerLayer
        return record.pointee.experts.withUnsafeBufferPointer { experts in
            record.pointee.weights.withUnsafeBufferPointer { weights in
                let cellWeights = perLayer == 0
                    ? UnsafeBufferPointer<Float>(start: nil, count: 0)
                    : UnsafeBufferPointer(rebasing: weights[(layer * perLayer)..<(layer * perLayer + (weightsAreFull ? perLayer : n))])
                return body(RoutingCell(layer: layer, phase: record.pointee.phase,
                                        experts: UnsafeBufferPointer(rebasing: experts[(layer * slots)..<(layer * slots + n)]),
                                        weights: cellWeights, weightsAreFull: weightsAreFull))
            }
        }
    }

    /// The same for a record held in a variable (tests, tools).
    public static func with<R>(_ record: TokenRecord, layer: Int, weightsAreFull: Bool, _ body: (RoutingCell) -> R) -> R? {
        withUnsafePointer(to: record) { with($0, layer: layer, weightsAreFull: weightsAreFull, body) }
    }
}

extension RoutingCell {
    /// The 2nd expert's share of the top-2 weight, w2 / (w1 + w2): AdapMoE's normalised 2nd weight (papers.md §1.3.A).
    /// `topk` traces already renormalise over the listed experts; `full` traces give the whole softmax, so this
    /// renormalises over the top-2. Needs two listed experts and recorded weights (0 otherwise).
    @inline(__always) public var normalisedSecondWeight: Double {
        guard experts.count >= 2, !weights.isEmpty else { return 0 }
        let w1 = Double(weight(of: Int(experts[0]))), w2 = Double(weight(of: Int(experts[1])))
        let sum = w1 + w2
        return sum > 0 ? w2 / sum : 0
    }
}
