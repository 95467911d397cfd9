/// MoE-Infinity-style activation-aware prefetching (peers.md §1.2; eMoE's baseline, papers.md §2.5), at request
/// granularity: each request's expert activation matrix (EAM: selections per layer and expert, rows L1-normalised)
/// is matched, once its prompt has run, to the most cosine-similar EAM of recently completed requests; at every
/// iteration the experts of the matched EAMs of all running requests are prefetched, highest score first, with
/// layer l's score scaled by the linear decay 1 - l / (L + 1) (the iteration starts at layer 0), into an expert
/// cache of the given capacity that evicts the expert with the fewest uses (the open-source C++ path's LFU).
/// Misses load on demand, behind queued prefetches (FIFO per link; MoE-Infinity reprioritises its queue instead).
/// Before its prompt has run, a request is predicted by the most recent stored EAM. The store keeps the last
/// `storeCapacity` EAMs (an estimate; MoE-Infinity's collection is bounded, replacing its least-accessed entry).
public final class MoEInfinityLoader: ExpertLoadingPolicy {
    public let name = "moe-infinity"
    public let missHandling = MissHandling.load
    public let cachesLoads = true
    public let cacheCapacity: Int
    public var steadyResidentExperts: Int { cacheCapacity }
    public let storeCapacity: Int
    var store: [[Double]] = []
    var visits: [Int] = []
    var predicted: [Int: [Double]] = [:]
    var priority: [Int] = []
    var dirty = true
    public private(set) var prefetches = 0
    public var prefetchCount: Int? { prefetches }
    public var usesExpertBudget: Bool { true }

    public init(capacity: Int, storeCapacity: Int = 100) {
        cacheCapacity = capacity
        self.storeCapacity = storeCapacity
    }

    public func start(_ state: ServingState) { visits = Array(repeating: 0, count: state.layers * state.experts) }

    static func rowNormalized(_ counts: [Double], layers: Int, experts: Int) -> [Double] {
        var out = counts
        for l in 0..<layers {
            let total = counts[(l * experts)..<((l + 1) * experts)].reduce(0, +)
            if total > 0 { for e in 0..<experts { out[l * experts + e] /= total } }
        }
        return out
    }

    public func admitted(_ request: ServingRequest, state: ServingState) -> Double {
        if let recent = store.last { predicted[request.index] = recent }
        dirty = true
        return 0
    }

    public func prefilled(_ request: ServingRequest, counts: [Double], state: ServingState) {
        let eam = MoEInfinityLoader.rowNormalized(counts, layers: state.layers, experts: state.experts)
        var best: [Double]?, bestScore = -1.0
        for stored in store {
            var dot = 0.0, a = 0.0, b = 0.0
            for i in 0..<eam.count {
                dot += eam[i] * stored[i]
                a += eam[i] * eam[i]
                b += stored[i] * stored[i]
            }
            let score = a > 0 && b > 0 ? dot / (a * b).squareRoot() : 0
            if score > bestScore { bestScore = score; best = stored }
        }
        if let best { predicted[request.index] = best; dirty = true }
    }

    public func completed(_ request: ServingRequest, counts: [Double], state: ServingState) {
        store.append(MoEInfinityLoader.rowNormalized(counts, layers: state.layers, experts: state.experts))
        if store.count > storeCapacity { store.removeFirst() }
        predicted[request.index] = nil
        dirty = true
    }

    /// Prefetches only when the prediction changed (an admission, a prefill or a completion): re-fetching the same
    /// list every iteration would only fight the on-demand misses for cache slots.
    public func beforeIteration(state: ServingState) {
        guard dirty else { return }
        let layers = state.layers, experts = state.experts
        var score = Array(repeating: 0.0, count: layers * experts)
        for r in state.running {
            guard let p = predicted[r.index] else { continue }
            for key in 0..<score.count {
                score[key] += p[key] * (1 - Double(key / experts) / Double(layers + 1))
            }
        }
        priority = Array((0..<score.count).filter { score[$0] > 0 }.sorted { score[$0] != score[$1] ? score[$0] > score[$1] : $0 < $1 }.prefix(cacheCapacity))
        dirty = false
        let wanted = Set(priority)
        let residency = state.residency
        for key in priority where !residency.isResident(key) {
            if residency.count >= cacheCapacity {
                guard let v = victim(state: state, protected: { wanted.contains($0) }) else { break }
                residency.evict(v)
            }
            residency.load(key, at: state.now, cost: state.cost, rebalance: false)
            prefetches += 1
        }
    }

    public func used(_ key: Int) { visits[key] += 1 }

    /// The least-used resident expert outside the current prefetch list, else the least-used one in it.
    public func victim(state: ServingState, protected: (Int) -> Bool) -> Int? {
        let wanted = Set(priority)
        var best: Int?
        func better(_ key: Int) -> Bool {
            guard let b = best else { return true }
            let (kw, bw) = (wanted.contains(key), wanted.contains(b))
            return kw != bw ? !kw : visits[key] < visits[b]
        }
        for key in 0..<visits.count where state.residency.isResident(key) && !protected(key) && better(key) { best = key }
        return best
    }
}
