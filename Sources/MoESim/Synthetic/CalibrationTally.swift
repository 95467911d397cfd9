/// Expected statistics of a simulated generator run: at every choice the generator adds each candidate's
/// probability (not the one sampled outcome), which removes most of the sampling noise from calibration.
final class CalibrationTally {
    let layers: Int
    let experts: Int
    /// `layer * experts + rank`: expected selections of that rank.
    let rankMass: FixedArray<Double>
    /// `layer * experts + depth`: expected accesses at that LRU stack depth.
    let depthMass: FixedArray<Double>
    /// Per layer: expected selections of the previous layer's top-1 successor.
    let successorMass: FixedArray<Double>
    let selections: FixedArray<Double>

    init(layers: Int, experts: Int) {
        self.layers = layers
        self.experts = experts
        rankMass = FixedArray(repeating: 0, count: layers * experts)
        depthMass = FixedArray(repeating: 0, count: layers * experts)
        successorMass = FixedArray(repeating: 0, count: layers)
        selections = FixedArray(repeating: 0, count: layers)
    }

    /// Expected shares of one layer's selections by rank (or by depth).
    func shares(_ mass: FixedArray<Double>, layer: Int) -> [Double] {
        let row = (0..<experts).map { mass[layer * experts + $0] }
        let total = row.reduce(0, +)
        return total > 0 ? row.map { $0 / total } : row
    }
}
