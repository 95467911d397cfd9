/// EdgeMoE's expert eviction (Yi et al., arXiv 2308.14352 §III; peers.md §1.4): each resident expert j of layer i
/// scores L(i,j) = -f(i,j) / d(i), f = its activation frequency, d = layer distance from the current layer I; the
/// highest L (rarely used and needed late) is evicted.
///
/// The distance. peers.md transcribes it as (S - i + I) mod S (S = MoE layers), which is the distance BACK from I to
/// i: the next layer (i = I + 1) would get S - 1, the largest, and be evicted first, against the stated intent
/// ("far in the future" evicted). This uses the distance FORWARD to the layer's next use, d = (i - I + S) mod S
/// (i.e. i and I swapped); `EdgeMoEPolicy.distance` says so. d = 0 is the current layer, whose experts are in use:
/// they are evicted only when nothing else is resident (the literal -f/0 = -inf), and then the least frequent first.
/// In a per-layer cache every resident shares one layer, so the rule reduces to evicting the least frequent.
///
/// f counts every token's recorded selection of the expert so far in the run (the router output the engine shows
/// routing-aware policies), and I is the layer last routed. Ties: least recently used, then the lower key.
/// Deviations: the paper's f comes from its offline profile, and its encoder experts get f = 0 once decoding starts
/// (decoder-only models here have no encoder). Quality: exact.
public final class EdgeMoEPolicy: EvictionPolicy {
    /// Experts of the current layer after all others; then the lowest f / d (= the highest L).
    struct Rank: Comparable {
        var currentLayer: Bool
        var value: Double
        static func < (a: Rank, b: Rank) -> Bool { a.currentLayer != b.currentLayer ? !a.currentLayer : a.value < b.value }
    }

    public let capacity: Int
    public let layers: Int
    public let expertsPerLayer: Int
    private let residents: ResidentSet
    private let frequency: FixedArray<Int>
    /// The layer last routed (-1 before any): I.
    public private(set) var currentLayer = -1

    public init(capacity: Int, keySpace: Int, expertsPerLayer: Int) {
        self.capacity = capacity
        self.expertsPerLayer = expertsPerLayer
        layers = keySpace / expertsPerLayer
        residents = ResidentSet(capacity: capacity, keySpace: keySpace)
        frequency = FixedArray(repeating: 0, count: keySpace)
    }

    /// Layers from `current` forward to `layer`'s next use: (layer - current + S) mod S, 0 for the current layer.
    public static func distance(layer: Int, current: Int, layers: Int) -> Int { (layer - current + layers) % layers }

    /// L(i,j) = -f / d; -infinity for the current layer (d = 0).
    public func score(_ key: Int) -> Double {
        let d = EdgeMoEPolicy.distance(layer: key / expertsPerLayer, current: max(0, currentLayer), layers: layers)
        return d == 0 ? -.infinity : -Double(frequency[key]) / Double(d)
    }

    public var count: Int { residents.count }
    public func contains(_ key: Int) -> Bool { residents.contains(key) }
    public var observesRouting: Bool { true }
    public func activationFrequency(_ key: Int) -> Int { frequency[key] }

    public func observe(_ cell: RoutingCell) {
        currentLayer = cell.layer
        let base = cell.layer * expertsPerLayer
        for e in cell.experts { frequency[base + Int(e)] += 1 }
    }

    public func touch(_ key: Int, context: AccessContext) { residents.lastAccess[key] = context.time }

    public func insert(_ key: Int, context: AccessContext) -> Admission {
        if currentLayer < 0 { currentLayer = key / expertsPerLayer }
        let current = currentLayer
        return residents.admit(key, time: context.time) { k in
            let d = EdgeMoEPolicy.distance(layer: k / self.expertsPerLayer, current: current, layers: self.layers)
            let f = Double(self.frequency[k])
            return d == 0 ? Rank(currentLayer: true, value: f) : Rank(currentLayer: false, value: f / Double(d))
        }
    }

    public func remove(_ key: Int) { residents.remove(key) }
    public var residentKeys: [Int] { residents.all.sorted() }
}
