/// What gating did to the recorded routing, per layer, in constant memory: recorded cells, cells run with fewer
/// experts than recorded ("single-expert" cells for top-2 routing), and AdapMoE's quality proxy.
///
/// The proxy is AdapMoE's second-order estimate of the loss increase of dropping the 2nd expert (papers.md §1.3.A):
/// H_l * w2^2 / 2 per dropped cell, w2 the normalised 2nd weight. It is a PROXY, not a measured loss: H_l folds
/// the expert-output difference into one per-layer constant, and under `expert0-bug` it still assumes the top-1
/// expert ran. It needs the model's sensitivities and recorded weights; otherwise it is absent.
public final class GatingStatistics {
    public static let proxyDefinition = "proxy, not a measured loss: sum over dropped cells of H_l * w2^2 / 2 (AdapMoE's second-order estimate, papers.md §1.3.A; w2 = normalised 2nd weight)"

    public let layers: Int
    let sensitivity: [Double]?
    /// Indexed by `phase * layers + layer`.
    let cells: FixedArray<Int>
    let reducedCells: FixedArray<Int>
    let lossProxy: FixedArray<Double>

    public init(layers: Int, sensitivity: [Double]?) {
        self.layers = layers
        self.sensitivity = sensitivity?.count == layers ? sensitivity : nil
        cells = FixedArray(repeating: 0, count: 2 * layers)
        reducedCells = FixedArray(repeating: 0, count: 2 * layers)
        lossProxy = FixedArray(repeating: 0, count: layers)
    }

    @inline(__always) func recordCells(_ count: Int, layer: Int, phase: Phase) {
        cells[Int(phase.rawValue) * layers + layer] += count
    }

    /// A cell gating ran with fewer experts than recorded.
    @inline(__always) func recordReduced(_ cell: RoutingCell) {
        reducedCells[Int(cell.phase.rawValue) * layers + cell.layer] += 1
        if let sensitivity {
            let w2 = cell.normalisedSecondWeight
            lossProxy[cell.layer] += sensitivity[cell.layer] * w2 * w2 / 2
        }
    }

    func total(_ counts: FixedArray<Int>, layer: Int) -> Int { counts[layer] + counts[layers + layer] }

    /// The report section. `recordedExperts` and `activatedExperts` are summed over every recorded cell.
    public func report(policy: String, recordedExperts: Int, activatedExperts: Int, weightsRecorded: Bool) -> Report.Gating {
        func ratio(_ a: Int, _ b: Int) -> Double? { b > 0 ? Double(a) / Double(b) : nil }
        let allCells = (0..<layers).reduce(0) { $0 + total(cells, layer: $1) }
        let allReduced = (0..<layers).reduce(0) { $0 + total(reducedCells, layer: $1) }
        let decode = Int(Phase.decode.rawValue) * layers
        let decodeCells = (0..<layers).reduce(0) { $0 + cells[decode + $1] }
        let decodeReduced = (0..<layers).reduce(0) { $0 + reducedCells[decode + $1] }
        let proxyKnown = sensitivity != nil && weightsRecorded
        return Report.Gating(
            policy: policy, cells: allCells, singleExpertCells: allReduced, singleExpertRatio: ratio(allReduced, allCells),
            decodeSingleExpertRatio: ratio(decodeReduced, decodeCells),
            perLayerSingleExpertRatio: (0..<layers).map { ratio(total(reducedCells, layer: $0), total(cells, layer: $0)) },
            activatedExpertReduction: recordedExperts > 0 ? 1 - Double(activatedExperts) / Double(recordedExperts) : nil,
            estimatedLossIncreaseProxy: proxyKnown ? lossProxy.array.reduce(0, +) : nil,
            perLayerEstimatedLossIncreaseProxy: proxyKnown ? lossProxy.array : nil,
            proxyDefinition: proxyKnown ? GatingStatistics.proxyDefinition : nil)
    }
}
