/// The router's weights per expert of the layer being routed (`ExpertGate`), gathered by `PassRouter` while it routes
/// when a miss policy reads gate weights or changes what runs (the quality proxy needs the gate-weight mass). Each
/// token's weights are normalised over the experts it runs, so a token carries a mass of 1.
public final class LayerGateStatistics {
    let mass: FixedArray<Double>
    let priorMass: FixedArray<Double>
    let bestRank: FixedArray<Int>
    let maxWeight: FixedArray<Double>
    /// Tokens of the layer whose weights are known (each carries mass 1).
    public private(set) var layerMass = 0.0
    /// Routed cells without usable weights (none recorded, or all zero), over the run.
    public private(set) var cellsWithoutWeights = 0
    private var order: [Int] = []
    private var weights: [Double] = []

    public init(experts: Int) {
        mass = FixedArray(repeating: 0, count: experts)
        priorMass = FixedArray(repeating: .infinity, count: experts)
        bestRank = FixedArray(repeating: Int.max, count: experts)
        maxWeight = FixedArray(repeating: 0, count: experts)
    }

    /// One token's cell: `selected[0..<count]` are the experts gating kept.
    func record(_ cell: RoutingCell, selected: FixedArray<Int32>, count: Int) {
        guard count > 0 else { return }
        weights.removeAll(keepingCapacity: true)
        order.removeAll(keepingCapacity: true)
        var sum = 0.0
        for i in 0..<count {
            let w = Double(cell.weight(of: Int(selected[i])))
            weights.append(w)
            sum += w
        }
        guard sum > 0 else { cellsWithoutWeights += 1; return }
        // Rank by weight, highest first; equal weights keep the router's order (insertion sort: k is small).
        for i in 0..<count {
            var at = order.count
            while at > 0 && weights[order[at - 1]] < weights[i] { at -= 1 }
            order.insert(i, at: at)
        }
        var prior = 0.0
        for (rank, i) in order.enumerated() {
            let e = Int(selected[i])
            let w = weights[i] / sum
            mass[e] += w
            priorMass[e] = min(priorMass[e], prior)
            bestRank[e] = min(bestRank[e], rank)
            maxWeight[e] = max(maxWeight[e], w)
            prior += w
        }
        layerMass += 1
    }

    /// The statistics of `expert` at the layer routed last (nil when none of its tokens had weights).
    public func gate(expert: Int) -> ExpertGate? {
        guard bestRank[expert] != Int.max else { return nil }
        return ExpertGate(mass: mass[expert], priorMass: priorMass[expert], bestRank: bestRank[expert], maxWeight: maxWeight[expert])
    }

    /// Forgets the layer (`distinct[0..<count]` are its routed experts).
    func clear(_ distinct: FixedArray<Int32>, count: Int) {
        for j in 0..<count {
            let e = Int(distinct[j])
            mass[e] = 0
            priorMass[e] = .infinity
            bestRank[e] = Int.max
            maxWeight[e] = 0
        }
        layerMass = 0
    }
}
