import Foundation
import Testing
@testable import MoESim

/// Eviction policies checked against hand-worked sequences (exact hits and exact victims, ties included), an
/// exhaustive optimum for Belady, a seeded property test (Belady >= every policy, monotone in capacity), the
/// stack-distance shortcut, the timed engine, and the `sim cache` commands.
@Suite struct CachePolicyTests {
    // MARK: Helpers

    /// What one access did when a policy is driven by hand.
    enum Step: Equatable, CustomStringConvertible {
        case hit
        case admitted(Int?)
        case bypassed

        var description: String {
            switch self {
            case .hit: return "hit"
            case let .admitted(e): return e.map { "evict \($0)" } ?? "admit"
            case .bypassed: return "bypass"
            }
        }
    }

    /// One access, at logical time `time`, as the engine makes it.
    static func access(_ policy: EvictionPolicy, _ key: Int, time: Int) -> Step {
        let context = AccessContext(time: time)
        if policy.contains(key) {
            policy.touch(key, context: context)
            return .hit
        }
        switch policy.insert(key, context: context) {
        case let .admitted(evicted): return .admitted(evicted)
        case .bypassed: return .bypassed
        }
    }

    /// Accesses `keys` at times `start`, `start + 1`, ...
    static func drive(_ policy: EvictionPolicy, _ keys: [Int], from start: Int = 0) -> [Step] {
        keys.enumerated().map { access(policy, $1, time: start + $0) }
    }

    static func hitCount(_ steps: [Step]) -> Int { steps.filter { $0 == .hit }.count }

    /// A one-layer token record with a top-k cell (`experts`, `weights` by list position).
    static func topKToken(layers: Int = 1, layer: Int = 0, experts: [Int], weights: [Float]) -> TokenRecord {
        var token = TokenRecord(layers: layers, slotsPerLayer: 2, weightsPerLayer: 2, aheadSlotsPerLayer: 4)
        token.counts[layer] = Int8(experts.count)
        for (i, e) in experts.enumerated() {
            token.experts[layer * 2 + i] = Int32(e)
            token.weights[layer * 2 + i] = weights[i]
        }
        return token
    }

    /// The toy trace whose access stream is exactly `keys` (0..<8, `layer * 4 + expert`): one token per key with
    /// a single expert in that key's layer and an empty cell in the other.
    static func keyTrace(_ keys: [Int]) -> String {
        Fixtures.trace(keys.map { k in k < 4 ? [[k], []] : [[], [k - 4]] })
    }

    /// The engine's access order for a toy trace: per token, layer by layer, the cell's experts in order.
    static func accessKeys(_ tokens: [[[Int]]]) -> [Int] {
        tokens.flatMap { token in token.enumerated().flatMap { layer, cell in cell.map { layer * 4 + $0 } } }
    }

    /// Random toy-model tokens: two distinct experts per cell (sometimes one, sometimes none), skewed popularity.
    static func randomTokens(seed: UInt64, count: Int) -> [[[Int]]] {
        var rng = SeededGenerator(seed: seed)
        let skew: [Double] = [0.4, 0.3, 0.2, 0.1]
        func draw(excluding: Int?) -> Int {
            while true {
                var u = rng.nextUnit()
                var e = 0
                while e < 3 && u >= skew[e] { u -= skew[e]; e += 1 }
                if e != excluding { return e }
            }
        }
        return (0..<count).map { _ in
            (0..<2).map { _ in
                let shape = rng.nextInt(below: 20)
                if shape == 0 { return [] }
                let a = draw(excluding: nil)
                if shape == 1 { return [a] }
                return [a, draw(excluding: a)]
            }
        }
    }

    static func source(_ trace: String) throws -> TracePassSource {
        try TracePassSource(path: Fixtures.write(trace, name: "toy.moetrace.jsonl"))
    }

    /// Small look-ahead window: exact for every toy trace here, and cheap to allocate.
    static let toyWindow = 4096

    static func replay(_ trace: String, _ configurations: [CacheOnlyReplay.Configuration]) throws -> [CacheOnlyReplay.Result] {
        try CacheOnlyReplay(source: try source(trace), initialFill: .empty, lookaheadWindow: toyWindow).run(configurations)
    }

    static func perLayer(_ policy: String, _ capacity: Int) -> CacheOnlyReplay.Configuration {
        .init(policy: policy, layout: .perLayer, capacities: [capacity, capacity])
    }

    static func global(_ policy: String, _ capacity: Int) -> CacheOnlyReplay.Configuration {
        .init(policy: policy, layout: .global, capacities: [capacity])
    }

    /// Independent OPT with bypass: exhaustive search over every admit / evict / bypass choice at every miss,
    /// memoised on (position, resident set). Keys must be < 16. Returns the most hits any demand cache of this
    /// capacity, starting empty, can get.
    static func optimalHits(_ keys: [Int], capacity: Int) -> Int {
        let n = keys.count
        guard capacity > 0, n > 0 else { return 0 }
        // Memo keyed by position * 2^16 + resident mask; the reachable states are few.
        var memo: [Int: Int32] = [:]
        func misses(_ i: Int, _ mask: Int) -> Int {
            if i == n { return 0 }
            let stateKey = i << 16 | mask
            if let m = memo[stateKey] { return Int(m) }
            let bit = 1 << keys[i]
            var best: Int
            if mask & bit != 0 {
                best = misses(i + 1, mask)
            } else {
                best = 1 + misses(i + 1, mask) // bypass
                if mask.nonzeroBitCount < capacity {
                    best = min(best, 1 + misses(i + 1, mask | bit))
                } else {
                    var rest = mask
                    while rest != 0 {
                        let victim = rest & -rest
                        rest &= rest - 1
                        best = min(best, 1 + misses(i + 1, (mask & ~victim) | bit))
                    }
                }
            }
            memo[stateKey] = Int32(best)
            return best
        }
        return n - misses(0, 0)
    }

    /// OPT for the toy model's per-layer layout: each layer's group is independent.
    static func optimalPerLayerHits(_ keys: [Int], capacity: Int) -> Int {
        (0..<2).map { layer in optimalHits(keys.filter { $0 / 4 == layer }, capacity: capacity) }.reduce(0, +)
    }

    // MARK: FIFO

    @Test func fifoHitsDoNotRefreshAndTheOldestAdmittedGoes() {
        // Capacity 2: 0 a, 1 a | 0 h (no refresh) | 2 evicts 0 (LRU would evict 1) | 0 evicts 1 | 1 evicts 2 | 3 evicts 0
        let fifo = FIFOPolicy(capacity: 2, keySpace: 4)
        let steps = Self.drive(fifo, [0, 1, 0, 2, 0, 1, 3])
        #expect(steps == [.admitted(nil), .admitted(nil), .hit, .admitted(0), .admitted(1), .admitted(2), .admitted(0)])
        #expect(Self.hitCount(steps) == 1)
        #expect(fifo.residentKeys == [1, 3]) // oldest admitted first
        #expect(fifo.count == 2)

        let lru = LRUPolicy(capacity: 2, keySpace: 4)
        #expect(Self.drive(lru, [0, 1, 0, 2])[3] == .admitted(1), "the same start under LRU evicts the older hit")
    }

    @Test func fifoTiesAndCapacityZero() {
        // Two admissions at the same time: the lower key counts as older.
        let fifo = FIFOPolicy(capacity: 2, keySpace: 4)
        _ = fifo.insert(3, context: AccessContext(time: 5))
        _ = fifo.insert(1, context: AccessContext(time: 5))
        #expect(fifo.insert(2, context: AccessContext(time: 6)) == .admitted(evicted: 1))
        let none = FIFOPolicy(capacity: 0, keySpace: 4)
        #expect(Self.drive(none, [0, 0, 1]) == [.bypassed, .bypassed, .bypassed])
        #expect(none.count == 0)
    }

    // MARK: LFU

    @Test func lfuEvictsTheFewestUsesWithLRUTieBreakAndResetsCounts() {
        let lfu = LFUPolicy(capacity: 2, keySpace: 4)
        // t0-2: 0 three uses. t3: 1 (1 use). t4: 2 evicts 1 (1 < 3). t5: 1 evicts 2 (1 < 3; 1 restarts at 1).
        // t6-7: 1 reaches 3 uses. t8: 3 -> tie 3 vs 3, 0 (last t2) is less recent than 1 (last t7): evict 0.
        // t9: 0 comes back with 1 use and evicts 3 (1 use against 1's 3).
        // t10: 2 evicts 0, whose count restarted at 1 after its eviction (with its old 3+1 uses it would stay).
        let steps = Self.drive(lfu, [0, 0, 0, 1, 2, 1, 1, 1, 3, 0, 2])
        #expect(steps == [.admitted(nil), .hit, .hit, .admitted(nil), .admitted(1), .admitted(2), .hit, .hit,
                          .admitted(0), .admitted(3), .admitted(0)])
        #expect(Self.hitCount(steps) == 4)
        #expect(lfu.residentKeys == [1, 2])
    }

    @Test func lfuTieOnUsesAndRecencyGoesToTheLowestKey() {
        let lfu = LFUPolicy(capacity: 2, keySpace: 4)
        _ = lfu.insert(3, context: AccessContext(time: 0))
        _ = lfu.insert(1, context: AccessContext(time: 0))
        #expect(lfu.insert(2, context: AccessContext(time: 1)) == .admitted(evicted: 1))
        // Equal uses, different recency: the least recently used, even with the higher key.
        let lfu2 = LFUPolicy(capacity: 2, keySpace: 4)
        #expect(Self.drive(lfu2, [3, 1, 2]) == [.admitted(nil), .admitted(nil), .admitted(3)])
        // remove() also restarts the count.
        let lfu3 = LFUPolicy(capacity: 2, keySpace: 4)
        _ = Self.drive(lfu3, [0, 0, 0, 1])   // 0: 3 uses, 1: 1 use
        lfu3.remove(0)
        _ = Self.drive(lfu3, [0, 1], from: 4) // 0 back with 1 use (last t4); 1 now 2 uses
        #expect(Self.access(lfu3, 2, time: 6) == .admitted(0))
        #expect(LFUPolicy(capacity: 0, keySpace: 4).insert(0, context: AccessContext(time: 0)) == .bypassed)
    }

    // MARK: MRS

    @Test func mrsScoresDecayAndTheLowestScoreGoes() {
        let mrs = MRSPolicy(capacity: 2, keySpace: 4, expertsPerLayer: 4)
        #expect(mrs.observesRouting)
        var time = 0
        func token(_ experts: [Int], _ weights: [Float]) -> [Step] {
            _ = RoutingCell.with(Self.topKToken(experts: experts, weights: weights), layer: 0, weightsAreFull: false) { mrs.observe($0) }
            defer { time += experts.count }
            return Self.drive(mrs, experts, from: time)
        }
        func scores() -> [Float] { (0..<4).map { mrs.currentScore($0) } }

        // A: S = 0.5 * s + 0.5 * S -> [0.375, 0.125, 0, 0]. 0 and 1 admitted (0 is the less recently used).
        #expect(token([0, 1], [0.75, 0.25]) == [.admitted(nil), .admitted(nil)])
        #expect(scores() == [0.375, 0.125, 0, 0])
        // B: every expert of the layer decays, 2 gains 0.5 * 1.0 -> [0.1875, 0.0625, 0.5, 0].
        // 2 evicts 1 (lowest score), not 0 (least recently used).
        #expect(token([2], [1.0]) == [.admitted(1)])
        #expect(scores() == [0.1875, 0.0625, 0.5, 0])
        // C: decay -> [0.09375, 0.03125, 0.25, 0]; 1 and 3 gain 0.25 -> [0.09375, 0.28125, 0.25, 0.25].
        // 1 evicts 0 (0.09375 < 0.25); 3 evicts 2 (0.25 < 0.28125).
        #expect(token([1, 3], [0.5, 0.5]) == [.admitted(0), .admitted(2)])
        #expect(scores() == [0.09375, 0.28125, 0.25, 0.25])
        // D: decay -> [0.046875, 0.140625, 0.125, 0.125]; 3 gains 0.5 and hits.
        #expect(token([3], [1.0]) == [.hit])
        #expect(scores() == [0.046875, 0.140625, 0.125, 0.625])
        #expect(mrs.residentKeys == [1, 3])
        // A token with an empty cell still decays the layer.
        var empty = Self.topKToken(experts: [], weights: [])
        empty.counts[0] = 0
        _ = RoutingCell.with(empty, layer: 0, weightsAreFull: false) { mrs.observe($0) }
        #expect(scores() == [0.0234375, 0.0703125, 0.0625, 0.3125])
    }

    @Test func mrsTieInScoreGoesToTheLeastRecentlyUsed() {
        let mrs = MRSPolicy(capacity: 2, keySpace: 4, expertsPerLayer: 4)
        // 1 then 0 with equal weight: equal scores 0.25; 1 is the less recently used (and the higher key).
        _ = RoutingCell.with(Self.topKToken(experts: [1, 0], weights: [0.5, 0.5]), layer: 0, weightsAreFull: false) { mrs.observe($0) }
        #expect(Self.drive(mrs, [1, 0]) == [.admitted(nil), .admitted(nil)])
        _ = RoutingCell.with(Self.topKToken(experts: [2], weights: [1.0]), layer: 0, weightsAreFull: false) { mrs.observe($0) }
        #expect(mrs.currentScore(0) == mrs.currentScore(1))
        #expect(Self.access(mrs, 2, time: 2) == .admitted(1))
        #expect(MRSPolicy(capacity: 0, keySpace: 4, expertsPerLayer: 4).insert(0, context: AccessContext(time: 0)) == .bypassed)
    }

    @Test func mrsScoresOnlyTheTokensLayer() {
        // Two layers of 4 experts: observing layer 1 touches keys 4..7 only (layer 0's scores neither decay nor grow).
        let mrs = MRSPolicy(capacity: 2, keySpace: 8, expertsPerLayer: 4)
        _ = RoutingCell.with(Self.topKToken(layers: 2, layer: 0, experts: [1], weights: [1.0]), layer: 0, weightsAreFull: false) { mrs.observe($0) }
        _ = RoutingCell.with(Self.topKToken(layers: 2, layer: 1, experts: [2, 0], weights: [0.75, 0.25]), layer: 1, weightsAreFull: false) { mrs.observe($0) }
        #expect((0..<8).map { mrs.currentScore($0) } == [0, 0.5, 0, 0, 0.125, 0, 0.375, 0])
    }

    @Test func mrsFullWeightsCountOnlyTheTopP() {
        // 6 experts, 2 slots per layer: p = 2 x 2 = 4 of the full softmax count, the other 2 do not.
        let mrs = MRSPolicy(capacity: 2, keySpace: 6, expertsPerLayer: 6)
        func full(_ weights: [Float]) -> TokenRecord {
            var token = TokenRecord(layers: 1, slotsPerLayer: 2, weightsPerLayer: 6, aheadSlotsPerLayer: 6)
            token.counts[0] = 2
            let top = weights.indices.sorted { weights[$0] > weights[$1] }
            token.experts[0] = Int32(top[0])
            token.experts[1] = Int32(top[1])
            token.weights = weights
            return token
        }
        func scores() -> [Float] { (0..<6).map { mrs.currentScore($0) } }
        // Top 4: e3 0.5, e1 0.25, e0 0.125, e2 0.0625; e4 and e5 (0.03125 each) are outside.
        _ = RoutingCell.with(full([0.125, 0.25, 0.0625, 0.5, 0.03125, 0.03125]), layer: 0, weightsAreFull: true) { mrs.observe($0) }
        #expect(scores() == [0.0625, 0.125, 0.03125, 0.25, 0, 0])
        // Tie at the threshold (0.125 for e3 and e4): the lower index takes the last of the p places.
        // Decay -> [0.03125, 0.0625, 0.015625, 0.125, 0, 0]; e0..e2 gain 0.125, e3 gains 0.0625.
        _ = RoutingCell.with(full([0.25, 0.25, 0.25, 0.125, 0.125, 0]), layer: 0, weightsAreFull: true) { mrs.observe($0) }
        #expect(scores() == [0.15625, 0.1875, 0.140625, 0.1875, 0, 0])
        // The victim is the lowest score: 3 and 2 resident, 1 comes in and evicts 2 (0.140625 < 0.1875).
        #expect(Self.drive(mrs, [3, 2, 1]) == [.admitted(nil), .admitted(nil), .admitted(2)])
    }

    /// p is 2 x the experts the token selects, not 2 x the cell's slots (which, with `--allow-wider-cells`, is every expert).
    @Test func mrsFullWeightsTopPFollowsTheSelectedExpertsNotTheSlots() {
        let mrs = MRSPolicy(capacity: 2, keySpace: 6, expertsPerLayer: 6)
        var token = TokenRecord(layers: 1, slotsPerLayer: 6, weightsPerLayer: 6, aheadSlotsPerLayer: 6)
        token.counts[0] = 2
        token.experts[0] = 3
        token.experts[1] = 1
        token.weights = [0.125, 0.25, 0.0625, 0.5, 0.03125, 0.03125]
        _ = RoutingCell.with(token, layer: 0, weightsAreFull: true) { mrs.observe($0) }
        // Two experts selected: p = 4, so e4 and e5 stay at 0.
        #expect((0..<4).map { mrs.currentScore($0) } == [0.0625, 0.125, 0.03125, 0.25])
        #expect(mrs.currentScore(4) == 0 && mrs.currentScore(5) == 0)
    }

    // MARK: Static

    @Test func staticPinsTheMostPopularKeysOfItsRange() {
        // Keys 4..<8 (layer 1 of a 2x4 model); the popular keys of layer 0 are out of range.
        let popularity = [9, 9, 9, 9, 1, 5, 5, 0]
        let hot = StaticHotSetPolicy(capacity: 2, keySpace: 8, keys: 4..<8, popularity: popularity)
        #expect(hot.pinnedKeys == [5, 6])
        // It starts empty: each pinned key is admitted on first use, everything else is bypassed, nothing is evicted.
        #expect(hot.count == 0 && hot.residentKeys.isEmpty)
        let steps = Self.drive(hot, [5, 4, 6, 4, 5, 7, 0])
        #expect(steps == [.admitted(nil), .bypassed, .admitted(nil), .bypassed, .hit, .bypassed, .bypassed])
        #expect(hot.residentKeys == [5, 6] && hot.count == 2)
        #expect((0..<8).filter { hot.contains($0) } == [5, 6])
        hot.remove(5)
        #expect(hot.residentKeys == [5, 6] && hot.contains(5) && !hot.contains(4))
        // Ties in popularity go to the lower key.
        #expect(StaticHotSetPolicy(capacity: 1, keySpace: 8, keys: 4..<8, popularity: popularity).pinnedKeys == [5])
        #expect(StaticHotSetPolicy(capacity: 2, keySpace: 8, keys: 4..<8, popularity: [0, 0, 0, 0, 3, 3, 3, 3]).pinnedKeys == [4, 5])
        #expect(StaticHotSetPolicy(capacity: 3, keySpace: 8, keys: 0..<8, popularity: [2, 0, 7, 2, 2, 0, 7, 1]).pinnedKeys == [0, 2, 6])
        // Capacity 0 pins nothing; a capacity beyond the range pins the whole range.
        #expect(StaticHotSetPolicy(capacity: 0, keySpace: 8, keys: 4..<8, popularity: popularity).pinnedKeys.isEmpty)
        #expect(StaticHotSetPolicy(capacity: 6, keySpace: 8, keys: 4..<8, popularity: popularity).pinnedKeys == [4, 5, 6, 7])
    }

    @Test func staticThroughTheReplayUsesTheWholeTraceProfile() throws {
        // Layer 0: expert 2 three times, 0 twice, 1 once. Layer 1: expert 3 twice, 1 once.
        let tokens: [[[Int]]] = [[[0, 2], [3]], [[2, 1], [1]], [[2, 0], [3]]]
        let r = try Self.replay(Fixtures.trace(tokens), [Self.perLayer("static", 1), Self.perLayer("static", 2), Self.global("static", 2)])
        // Caches start empty, so each pinned expert misses its first use.
        // per-layer 1: pins {2} and {7}: 2 + 1 hits. per-layer 2: {0, 2} and {5, 7}: (1 + 2) + (0 + 1). global 2: keys 2 and 7: 2 + 1.
        #expect(r.map(\.hits) == [3, 4, 3])
        #expect(r[1].perLayerHits == [3, 1])
        #expect(r.allSatisfy { $0.accesses == 9 })
    }

    // MARK: Belady

    static func future(_ trace: String) throws -> FutureAccesses {
        try FutureAccesses(stream: AccessStream(source: try source(trace), gating: TopKReplayGating()), keySpace: 8, window: toyWindow)
    }

    @Test func beladyEvictsTheFarthestAndBypassesWhenTheIncomingIsFarthest() throws {
        let keys = [0, 1, 2, 2, 0, 3, 0, 1, 2]
        let belady = BeladyPolicy(capacity: 2, keySpace: 8, future: try Self.future(Self.keyTrace(keys)))
        // t2: 2 (next t3) evicts 1 (next t7, farther than 0's t4). t5: 3 (never again) bypasses.
        // t7: 1 (never) ties with resident 0 (never): at least as far, so it bypasses.
        let steps = Self.drive(belady, keys)
        #expect(steps == [.admitted(nil), .admitted(nil), .admitted(1), .hit, .hit, .bypassed, .hit, .bypassed, .hit])
        #expect(Self.hitCount(steps) == 4)
        #expect(belady.residentKeys == [0, 2])
        #expect(Self.hitCount(steps) == Self.optimalHits(keys, capacity: 2))
    }

    @Test func beladyTieAmongFarthestResidentsGoesToTheLeastRecentlyUsed() throws {
        // 1 and 0 are never used again after t2, t3; 2 (used again at t5) evicts the less recently used, 1.
        let keys = [1, 0, 1, 0, 2, 2]
        let belady = BeladyPolicy(capacity: 2, keySpace: 8, future: try Self.future(Self.keyTrace(keys)))
        #expect(Self.drive(belady, keys) == [.admitted(nil), .admitted(nil), .hit, .hit, .admitted(1), .hit])
    }

    @Test func beladyCapacityZeroBypasses() throws {
        let keys = [0, 0, 1]
        let belady = BeladyPolicy(capacity: 0, keySpace: 8, future: try Self.future(Self.keyTrace(keys)))
        #expect(Self.drive(belady, keys) == [.bypassed, .bypassed, .bypassed])
        let r = try Self.replay(Self.keyTrace(keys), [Self.perLayer("belady", 0), Self.global("belady", 0)])
        #expect(r.map(\.hits) == [0, 0])
    }

    @Test func beladyThroughTheReplayOnAHandWorkedTrace() throws {
        // Accesses: t0 0, t1 1, t2 4 | t3 1, t4 2, t5 4 | t6 0, t7 1, t8 5  (keys = layer * 4 + expert)
        let tokens: [[[Int]]] = [[[0, 1], [0]], [[1, 2], [0]], [[0, 1], [1]]]
        let trace = Fixtures.trace(tokens)
        #expect(Self.accessKeys(tokens) == [0, 1, 4, 1, 2, 4, 0, 1, 5])
        let r = try Self.replay(trace, [Self.perLayer("belady", 1), Self.global("belady", 2), Self.perLayer("lru", 1)])
        // Per-layer 1. Layer 0: 0 a; 1 (next t3) evicts 0 (next t6); 1 h (next t7); 2 (never) bypasses; 0 (never)
        // bypasses; 1 h -> 2 hits. Layer 1: 4 a; 4 h; 5 (never) ties with 4 (never) and bypasses -> 1 hit.
        #expect(r[0].hits == 3)
        #expect(r[0].perLayerHits == [2, 1])
        // Global 2: 0 a, 1 a; 4 (next t5) evicts 0 (t6, farther than 1's t3); 1 h; 2 bypasses; 4 h; 0 bypasses;
        // 1 h; 5 bypasses -> 3 hits, 2 in layer 0.
        #expect(r[1].hits == 3)
        #expect(r[1].perLayerHits == [2, 1])
        // LRU per-layer 1 for contrast: layer 0 hits only at t3, layer 1 at t5.
        #expect(r[2].hits == 2)
        #expect(r.allSatisfy { $0.accesses == 9 })
        let keys = Self.accessKeys(tokens)
        #expect(r[0].hits == Self.optimalPerLayerHits(keys, capacity: 1))
        #expect(r[1].hits == Self.optimalHits(keys, capacity: 2))
    }

    @Test func beladyMatchesAnExhaustiveOptimumOnRandomSequences() throws {
        for seed in UInt64(1)...12 {
            var rng = SeededGenerator(seed: seed &* 0x5851_F42D)
            let keys = (0..<24).map { _ in rng.nextInt(below: 8) }
            var configurations: [CacheOnlyReplay.Configuration] = []
            for c in 1...3 { configurations.append(Self.perLayer("belady", c)) }
            for c in 1...5 { configurations.append(Self.global("belady", c)) }
            let results = try Self.replay(Self.keyTrace(keys), configurations)
            for (configuration, result) in zip(configurations, results) {
                let c = configuration.capacities[0]
                let expected = configuration.layout == .perLayer ? Self.optimalPerLayerHits(keys, capacity: c) : Self.optimalHits(keys, capacity: c)
                #expect(result.hits == expected, "seed \(seed) \(configuration.layout.rawValue) \(c): \(keys)")
            }
        }
    }

    @Test func beladyMatchesAnExhaustiveOptimumOnRandomToyTraces() throws {
        for seed in UInt64(100)...105 {
            let tokens = Self.randomTokens(seed: seed, count: 12)
            let keys = Self.accessKeys(tokens)
            let configurations = (1...3).map { Self.perLayer("belady", $0) } + (1...4).map { Self.global("belady", $0) }
            let results = try Self.replay(Fixtures.trace(tokens), configurations)
            for (configuration, result) in zip(configurations, results) {
                let c = configuration.capacities[0]
                let expected = configuration.layout == .perLayer ? Self.optimalPerLayerHits(keys, capacity: c) : Self.optimalHits(keys, capacity: c)
                #expect(result.hits == expected, "seed \(seed) \(configuration.layout.rawValue) \(c)")
                #expect(result.accesses == keys.count)
            }
        }
    }

    // MARK: Property test

    @Test func beladyBeatsEveryPolicyAndHitsAreMonotoneInCapacity() throws {
        let policies = cachePolicies.names
        var failures: [String] = []
        for seed in UInt64(1)...30 {
            let tokens = Self.randomTokens(seed: seed &* 7919, count: 40)
            let keys = Self.accessKeys(tokens)
            var configurations: [CacheOnlyReplay.Configuration] = []
            for p in policies {
                for c in 0...4 { configurations.append(Self.perLayer(p, c)) }
                for c in 0...8 { configurations.append(Self.global(p, c)) }
            }
            let results = try Self.replay(Fixtures.trace(tokens), configurations)
            func hits(_ p: String, _ layout: CacheSpec.Layout, _ c: Int) -> Int {
                results.first { $0.policy == p && $0.layout == layout.rawValue && $0.capacities[0] == c }!.hits
            }
            // Distinct keys used per layer.
            let distinct = (0..<2).map { layer in Set(keys.filter { $0 / 4 == layer }).count }
            for (layout, capacities) in [(CacheSpec.Layout.perLayer, 1...3), (.global, 1...7)] {
                for c in capacities {
                    let opt = hits("belady", layout, c)
                    for p in policies where p != "belady" {
                        let other = hits(p, layout, c)
                        if opt < other { failures.append("seed \(seed) \(layout.rawValue) \(c): belady \(opt) < \(p) \(other)") }
                    }
                }
                let full = layout == .perLayer ? 4 : 8
                for p in ["lru", "belady"] {
                    let row = (0...full).map { hits(p, layout, $0) }
                    if row != row.sorted() { failures.append("seed \(seed) \(layout.rawValue) \(p) not monotone: \(row)") }
                    if row[0] != 0 { failures.append("seed \(seed) \(p) capacity 0 hits \(row[0])") }
                }
                // Every policy with room for every expert misses only each key's first use.
                for p in policies {
                    let expected = keys.count - distinct.reduce(0, +)
                    if hits(p, layout, full) != expected { failures.append("seed \(seed) \(layout.rawValue) \(p) full: \(hits(p, layout, full)) != \(expected)") }
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.count) failures, first: \(failures.prefix(5))")
    }

    /// A static hot set loads each pinned expert on first use, never warmer than Belady's start, so Belady bounds it
    /// (a preloaded set could beat the "optimum" and make the reported gap negative).
    @Test func staticStartsColdSoBeladyBoundsIt() throws {
        // Every token uses experts 0 and 1 of layer 0. Per-layer 1: static pins 0 (tie with 1, lower key): 1 miss, 9 hits.
        // Belady: 0 admitted at t0, 1 always bypassed (its next use is after 0's): 9 hits.
        let tokens = Array(repeating: [[0, 1], [Int]()], count: 10)
        let r = try Self.replay(Fixtures.trace(tokens), [Self.perLayer("static", 1), Self.perLayer("belady", 1)])
        #expect(r[0].hits == 9)
        #expect(r[1].hits == 9)
        #expect(r[1].hits == Self.optimalPerLayerHits(Self.accessKeys(tokens), capacity: 1))
        let timed = try Fixtures.simulate(Fixtures.trace(tokens), cache: "static-per-layer:1")
        #expect(timed.cache.hits == 9)
        #expect(timed.cache.gapToBelady == 0)
        // The default fill does not preload it either: a preloaded set could beat Belady from the same start.
        let defaultFill = try Fixtures.simulate(Fixtures.trace(tokens), cache: "static-per-layer:1", initialFill: .highestIndex)
        #expect(defaultFill.cache.hits == 9)
        #expect((defaultFill.cache.gapToBelady ?? -1) >= 0)
    }

    /// `all-resident` fills every expert whatever `initialFill` says, and so does its Belady reference.
    @Test func allResidentBeladyReferenceUsesTheSameStart() throws {
        let tokens = Self.randomTokens(seed: 11, count: 10)
        let report = try Fixtures.simulate(Fixtures.trace(tokens), cache: "all-resident")
        #expect(report.cache.hits == report.cache.accesses)
        #expect((report.cache.beladyHits ?? 0) >= report.cache.hits, "belady \(String(describing: report.cache.beladyHits)) hits \(report.cache.hits)")
    }

    // MARK: Stack distances

    @Test func stackDistancesEqualAReplayAtEveryCapacity() throws {
        for seed in UInt64(1)...10 {
            let tokens = Self.randomTokens(seed: seed &+ 500, count: 40)
            let trace = Fixtures.trace(tokens)
            for layout in [CacheSpec.Layout.perLayer, .global] {
                let full = layout == .perLayer ? 4 : 8
                let stack = LRUStackDistances(layers: 2, experts: 4, layout: layout)
                try stack.consume(AccessStream(source: try Self.source(trace), gating: TopKReplayGating()))
                let results = try Self.replay(trace, (0...full).map { layout == .perLayer ? Self.perLayer("lru", $0) : Self.global("lru", $0) })
                for (c, result) in zip(0...full, results) {
                    #expect(stack.hits(capacity: c) == result.perLayerHits, "seed \(seed) \(layout.rawValue) \(c)")
                    #expect(stack.accessesPerLayer == result.perLayerAccesses)
                }
                // And both equal a naive LRU over the access stream.
                let keys = Self.accessKeys(tokens)
                for c in 0...full {
                    var expected = 0
                    if layout == .perLayer {
                        var references = [ReferenceLRU(capacity: c), ReferenceLRU(capacity: c)]
                        for k in keys where references[k / 4].access(k) { expected += 1 }
                    } else {
                        var reference = ReferenceLRU(capacity: c)
                        for k in keys where reference.access(k) { expected += 1 }
                    }
                    #expect(stack.hits(capacity: c).reduce(0, +) == expected, "seed \(seed) \(layout.rawValue) \(c)")
                }
            }
        }
    }

    // MARK: Timed engine vs replay

    @Test func timedEngineHitsEqualTheReplayForEveryPolicy() throws {
        let tokens = Self.randomTokens(seed: 77, count: 30)
        let trace = Fixtures.trace(tokens)
        let policies = cachePolicies.names
        let results = try Self.replay(trace, policies.flatMap { [Self.perLayer($0, 2), Self.global($0, 5)] })
        for (i, p) in policies.enumerated() {
            let perLayer = try Fixtures.simulate(trace, cache: "\(p)-per-layer:2")
            #expect(perLayer.cache.hits == results[2 * i].hits, "\(p)-per-layer:2")
            #expect(perLayer.cache.accesses == results[2 * i].accesses)
            let global = try Fixtures.simulate(trace, cache: "\(p)-global:5")
            #expect(global.cache.hits == results[2 * i + 1].hits, "\(p)-global:5")
        }
    }

    // MARK: CLI

    @Test func cacheSweepPrintsARowPerCapacityAndAColumnPerPolicy() throws {
        let tokens = Self.randomTokens(seed: 3, count: 30)
        let path = Fixtures.write(Fixtures.trace(tokens), name: "toy.moetrace.jsonl")
        let policies = cachePolicies.names

        let text = Fixtures.sim(["cache", "sweep", "--trace", path, "--capacities", "1..3"])
        #expect(text.code == 0, "\(text.err)")
        let lines = text.out.split(separator: "\n").map(String.init)
        let headerIndex = try #require(lines.firstIndex { $0.hasPrefix("capacity") })
        let columns = lines[headerIndex].split(separator: " ").map(String.init)
        for p in policies { #expect(columns.contains(p), "column \(p) in \(lines[headerIndex])") }
        let rows = Array(lines[(headerIndex + 1)...])
        #expect(rows.count == 3)
        for (c, row) in zip(1...3, rows) {
            let fields = row.split(separator: " ")
            #expect(fields.first == Substring("\(c)"))
            // capacity, one rate per policy, the gap to Belady.
            #expect(fields.count == 1 + policies.count + 1, "\(row)")
            #expect(fields.dropFirst().allSatisfy { Double($0) != nil }, "\(row)")
        }

        let json = Fixtures.sim(["cache", "sweep", "--trace", path, "--capacities", "1..3", "--json"])
        #expect(json.code == 0, "\(json.err)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any])
        #expect(object["capacities"] as? [Int] == [1, 2, 3])
        let rates = try #require(object["hitRate"] as? [String: [Double]])
        #expect(Set(rates.keys) == Set(policies))
        let replayed = try Self.replay(Fixtures.trace(tokens), policies.flatMap { p in (1...3).map { Self.perLayer(p, $0) } })
        for (i, p) in policies.enumerated() {
            #expect(rates[p]?.count == 3)
            for c in 0..<3 {
                let r = replayed[i * 3 + c]
                #expect(rates[p]?[c] == Double(r.hits) / Double(r.accesses), "\(p) \(c + 1)")
            }
            for c in 0..<3 { #expect(rates["belady"]![c] >= rates[p]![c], "\(p) \(c + 1)") }
        }

        let csv = Fixtures.sim(["cache", "sweep", "--trace", path, "--capacities", "2,4", "--csv", "--layout", "global"])
        #expect(csv.code == 0, "\(csv.err)")
        let csvLines = csv.out.split(separator: "\n")
        #expect(csvLines.first == Substring("capacity," + policies.joined(separator: ",")))
        #expect(csvLines.count == 3)
    }

    @Test func cacheRunPrintsHitRateAndBelady() throws {
        let tokens = Self.randomTokens(seed: 4, count: 30)
        let path = Fixtures.write(Fixtures.trace(tokens), name: "toy.moetrace.jsonl")
        // The replay helper starts empty; `cache run` starts like `sim run` unless told otherwise.
        let r = Fixtures.sim(["cache", "run", "--trace", path, "--cache", "lru-per-layer:2", "--initial-fill", "empty"])
        #expect(r.code == 0, "\(r.err)")
        let replayed = try Self.replay(Fixtures.trace(tokens), [Self.perLayer("lru", 2), Self.perLayer("belady", 2)])
        #expect(r.out.contains("hit rate"), "\(r.out)")
        #expect(r.out.contains("Belady"), "\(r.out)")
        #expect(r.out.contains("(\(replayed[0].hits) of \(replayed[0].accesses))"), "\(r.out)")

        let json = Fixtures.sim(["cache", "run", "--trace", path, "--cache", "lru-per-layer:2", "--json", "--initial-fill", "empty"])
        #expect(json.code == 0, "\(json.err)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any])
        let belady = try #require(object["belady"] as? [String: Any])
        #expect(belady["hits"] as? Int == replayed[1].hits)
        #expect((object["result"] as? [String: Any])?["hits"] as? Int == replayed[0].hits)
    }

    @Test(arguments: ["3..1", "x", "9", "1..9", "-1", "1,,2"])
    func badCapacitiesGiveOneLineNamingTheOption(_ capacities: String) throws {
        let path = Fixtures.write(Fixtures.trace([[[0, 1], [2, 3]]]), name: "toy.moetrace.jsonl")
        let r = Fixtures.sim(["cache", "sweep", "--trace", path, "--capacities", capacities])
        #expect(r.code != 0)
        #expect(r.out.isEmpty)
        #expect(r.err.hasPrefix("error: "), "\(r.err)")
        #expect(r.err.contains("--capacities"), "\(r.err)")
        #expect(r.err.filter { $0 == "\n" }.count == 1 && r.err.hasSuffix("\n"), "\(r.err)")
    }

    // MARK: Shared trace

    @Test(.enabled(if: Fixtures.sharedTracesAvailable, "needs ../shared/traces"))
    func realTraceBeladyBeatsEveryPolicyAndColdLRUMatchesReference() throws {
        let path = Fixtures.sharedTrace("humaneval-decode.moetrace.jsonl")
        let source = try TracePassSource(path: path)
        let layers = source.header.layers
        let policies = cachePolicies.names
        let configurations = policies.flatMap { p in
            (1...7).map { CacheOnlyReplay.Configuration(policy: p, layout: .perLayer, capacities: Array(repeating: $0, count: layers)) }
        }
        let results = try CacheOnlyReplay(source: source, initialFill: .empty).run(configurations)
        func hits(_ p: String, _ c: Int) -> Int { results[policies.firstIndex(of: p)! * 7 + c - 1].hits }
        for c in 1...7 {
            for p in policies where p != "belady" {
                #expect(hits("belady", c) >= hits(p, c), "capacity \(c): belady \(hits("belady", c)) < \(p) \(hits(p, c))")
            }
        }
        for p in ["lru", "belady"] {
            let row = (1...7).map { hits(p, $0) }
            #expect(row == row.sorted(), "\(p): \(row)")
        }

        // Independent per-layer LRU at capacity 4 over the recorded cells.
        let reader = try TraceReader(path: path)
        var references = (0..<layers).map { _ in ReferenceLRU(capacity: 4) }
        var expectedHits = 0, expectedAccesses = 0
        while let item = try reader.next() {
            guard case .token = item else { continue }
            let token = reader.token
            for l in 0..<layers where token.counts[l] > 0 {
                for i in 0..<Int(token.counts[l]) {
                    expectedAccesses += 1
                    if references[l].access(Int(token.experts[l * token.slotsPerLayer + i])) { expectedHits += 1 }
                }
            }
        }
        #expect(hits("lru", 4) == expectedHits)
        #expect(results[0].accesses == expectedAccesses)
        let stack = LRUStackDistances(layers: layers, experts: source.header.experts, layout: .perLayer)
        try stack.consume(AccessStream(source: try TracePassSource(path: path), gating: TopKReplayGating()))
        #expect(stack.hits(capacity: 4).reduce(0, +) == expectedHits)
    }

    /// `sim cache run` and `sim run` agree on hits for the same spec by default, all-resident included.
    @Test func cacheRunAgreesWithTheTimedRunByDefault() throws {
        let tokens = Self.randomTokens(seed: 9, count: 30)
        let path = Fixtures.write(Fixtures.trace(tokens), name: "toy.moetrace.jsonl")
        let files = Fixtures.toyFiles()
        for spec in ["lru-per-layer:2", "mrs-global:3", "all-resident"] {
            let cacheOnly = Fixtures.sim(["cache", "run", "--trace", path, "--cache", spec, "--json"])
            let timed = Fixtures.sim(["--trace", path, "--hardware", files.hardware, "--model", files.model, "--runtime", files.runtime,
                                      "--cache", spec, "--json"])
            #expect(cacheOnly.code == 0 && timed.code == 0, "\(cacheOnly.err) \(timed.err)")
            let c = try #require(JSONSerialization.jsonObject(with: Data(cacheOnly.out.utf8)) as? [String: Any])
            let t = try #require(JSONSerialization.jsonObject(with: Data(timed.out.utf8)) as? [String: Any])
            let timedCache = try #require(t["cache"] as? [String: Any])
            #expect((c["result"] as? [String: Any])?["hits"] as? Int == timedCache["hits"] as? Int, "\(spec)")
            #expect((c["belady"] as? [String: Any])?["hits"] as? Int == timedCache["beladyHits"] as? Int, "\(spec)")
        }
    }
}
