/// The device-side expert cache: groups of one eviction policy arranged per layer (fixed capacity each,
/// as mixtral-offloading and AdapMoE do) or as one global pool. Keys are `layer * experts + expert`.
public final class ExpertCache {
    public let layers: Int
    public let experts: Int
    public let layout: CacheSpec.Layout
    /// One group per layer (per-layer layout) or a single group (global).
    public let groups: [EvictionPolicy]
    public let capacities: [Int]

    public init(layers: Int, experts: Int, layout: CacheSpec.Layout, capacities: [Int], factory: CachePolicyFactory,
                future: FutureAccesses? = nil, popularity: [Int]? = nil) {
        self.layers = layers
        self.experts = experts
        self.layout = layout
        self.capacities = capacities
        let keySpace = layers * experts
        groups = capacities.enumerated().map { index, capacity in
            let keys = layout == .perLayer ? (index * experts)..<((index + 1) * experts) : 0..<keySpace
            return factory.make(CachePolicyContext(capacity: capacity, keySpace: keySpace, keys: keys, expertsPerLayer: experts,
                                                   future: future, popularity: popularity))
        }
        observesRouting = groups.first?.observesRouting ?? false
    }

    /// Whether the policy wants every token's router output (`EvictionPolicy.observe`).
    public let observesRouting: Bool

    public var totalCapacity: Int { capacities.reduce(0, +) }

    @inline(__always) public func group(ofLayer layer: Int) -> EvictionPolicy {
        layout == .perLayer ? groups[layer] : groups[0]
    }

    @inline(__always) public func contains(_ key: Int) -> Bool { group(ofLayer: key / experts).contains(key) }

    /// How the cache starts. `highestIndex` follows AdapMoE/mixtral-offloading (`do_offload = expert_idx < 8 - s_l`):
    /// each layer's highest-numbered experts start resident; a global pool is filled the same way, layer by layer
    /// for each expert index from the highest down, until full.
    public enum InitialFill: String, Sendable, CaseIterable { case highestIndex = "highest-index", empty }

    /// Policies that choose their own contents (a pinned hot set) are left alone.
    public func fill(_ mode: InitialFill) {
        guard mode == .highestIndex, !groups.contains(where: { $0 is SelfFillingPolicy }) else { return }
        var time = -layers * experts
        for e in stride(from: experts - 1, through: 0, by: -1) {
            for l in 0..<layers {
                let g = group(ofLayer: l)
                if g.count < g.capacity {
                    _ = g.insert(l * experts + e, context: AccessContext(time: time))
                    time += 1
                }
            }
        }
    }
}
