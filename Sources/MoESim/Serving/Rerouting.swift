/// eMoE's fallback (papers.md §2.4.2): a token whose chosen expert is not on the GPU is routed to the next-ranked
/// expert that is, and the absent expert is never loaded. The token's own ranking beyond its recorded top-k is not in
/// a top-k trace, so the fallback order is the loader's ranking of the layer (eMoE's expected workload N_i, Eq. 2):
/// the highest-ranked resident expert the token does not already use. With no such expert the slot is dropped
/// (the token runs fewer experts). Either way the slot counts as rerouted: the quality proxy.
public enum Rerouting {
    /// Rewrites one token's slots at one layer in place; returns how many slots were rerouted or dropped.
    /// `ranking` lists all of the layer's experts, best first; `resident` is indexed by expert.
    @inline(__always)
    public static func reroute(_ slots: UnsafeMutablePointer<Int32>, count: Int, resident: (Int) -> Bool, ranking: UnsafePointer<Int32>, experts: Int) -> Int {
        var rerouted = 0
        for s in 0..<count {
            let chosen = slots[s]
            if chosen < 0 || resident(Int(chosen)) { continue }
            rerouted += 1
            var replacement: Int32 = -1
            var r = 0
            while r < experts {
                let candidate = ranking[r]
                if resident(Int(candidate)) && !contains(slots, count: count, candidate) {
                    replacement = candidate
                    break
                }
                r += 1
            }
            slots[s] = replacement
        }
        return rerouted
    }

    /// The random-selection baseline (Zuo et al., eMoE's "Random", papers.md §2.5): an absent choice goes to a
    /// uniformly drawn resident expert the token does not already use.
    @inline(__always)
    public static func rerouteRandomly(_ slots: UnsafeMutablePointer<Int32>, count: Int, residentExperts: [Int32], rng: inout SeededGenerator,
                                       resident: (Int) -> Bool) -> Int {
        var rerouted = 0
        for s in 0..<count {
            let chosen = slots[s]
            if chosen < 0 || resident(Int(chosen)) { continue }
            rerouted += 1
            var free: [Int32] = []
            for e in residentExperts where !contains(slots, count: count, e) { free.append(e) }
            slots[s] = free.isEmpty ? -1 : free[rng.nextInt(below: free.count)]
        }
        return rerouted
    }

    @inline(__always) static func contains(_ slots: UnsafeMutablePointer<Int32>, count: Int, _ expert: Int32) -> Bool {
        for i in 0..<count where slots[i] == expert { return true }
        return false
    }
}
