/// A profile's generator parameters laid out flat for one model shape (the generator's hot loop reads these).
/// Built by `ProfileShapeAdapter`; indices are `layer * experts + rank` (or `+ depth`) unless noted.
public struct ProfiledRoutingTables: Sendable {
    public let layers: Int
    public let experts: Int
    public let topK: Int
    var propensity: [Double]
    var recency: [Double]
    /// Rank of the successor of each previous-layer top-1 rank; -1 where there is none (layer 0).
    var successor: [Int32]
    /// Per layer.
    var successorBoost: [Double]
    var expertOfRank: [Int32]
    /// Cumulative top-1 weight histogram, `layer * topWeightBins + bin`; empty when the profile has no weights.
    var topWeightCDF: [Double]
    let topWeightBins: Int
    /// Share of 1 - w1 given to each slot, `layer * topK + slot` (slot 0 unused).
    var restShare: [Double]
    /// How the profile was mapped onto this shape, for trace headers; nil when the shapes match.
    public let adaptation: String?

    init(layers: Int, experts: Int, topK: Int, topWeightBins: Int, adaptation: String?) {
        self.layers = layers
        self.experts = experts
        self.topK = topK
        self.topWeightBins = topWeightBins
        self.adaptation = adaptation
        propensity = Array(repeating: 0, count: layers * experts)
        recency = Array(repeating: 1, count: layers * experts)
        successor = Array(repeating: -1, count: layers * experts)
        successorBoost = Array(repeating: 1, count: layers)
        expertOfRank = Array(repeating: 0, count: layers * experts)
        topWeightCDF = Array(repeating: 0, count: layers * topWeightBins)
        restShare = Array(repeating: 0, count: layers * topK)
    }
}
