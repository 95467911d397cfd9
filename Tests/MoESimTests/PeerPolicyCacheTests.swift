import Foundation
import Testing
@testable import MoESim

/// The peer eviction policies (issue 8): MoE-Infinity's `min-visit` and EdgeMoE's `edgemoe`, driven by hand with exact
/// victims, ties included.
@Suite struct PeerPolicyCacheTests {
    typealias Step = CachePolicyTests.Step

    /// Capacity 2. Admit 0 (t0) and 1 (t1), hit 1 (t2), hit 0 (t3): both have 2 visits. Offering 2 evicts the
    /// earlier admitted, 0, where `lfu` (ties to the least recently used) evicts 1. Then 2 has 1 visit and 1 has 2:
    /// offering 3 evicts 2, the most recent, because it has the fewest visits; re-admitted, 0 starts again at 1.
    @Test func minVisitEvictsTheFewestVisitsThenTheEarliestAdmitted() {
        let minVisit = MinVisitPolicy(capacity: 2, keySpace: 8)
        #expect(CachePolicyTests.drive(minVisit, [0, 1, 1, 0, 2]) == [.admitted(nil), .admitted(nil), .hit, .hit, .admitted(0)])
        let lfu = LFUPolicy(capacity: 2, keySpace: 8)
        #expect(CachePolicyTests.drive(lfu, [0, 1, 1, 0, 2]) == [.admitted(nil), .admitted(nil), .hit, .hit, .admitted(1)])
        #expect(minVisit.visitCount(1) == 2 && minVisit.visitCount(2) == 1)
        #expect(CachePolicyTests.drive(minVisit, [3], from: 5) == [.admitted(2)])
        #expect(CachePolicyTests.drive(minVisit, [0], from: 6) == [.admitted(3)])
        #expect(minVisit.visitCount(0) == 1 && minVisit.residentKeys == [0, 1])
        #expect(MinVisitPolicy(capacity: 0, keySpace: 8).insert(0, context: AccessContext(time: 0)) == .bypassed)
    }

    /// A router cell of `layer` selecting `experts` (4 MoE layers, 2 experts each: key = layer * 2 + expert).
    static func observe(_ policy: EvictionPolicy, layer: Int, _ experts: [Int]) {
        var t = TokenRecord(layers: 4, slotsPerLayer: 2, weightsPerLayer: 0, aheadSlotsPerLayer: 0)
        t.counts[layer] = Int8(experts.count)
        for (i, e) in experts.enumerated() { t.experts[layer * 2 + i] = Int32(e) }
        _ = RoutingCell.with(t, layer: layer, weightsAreFull: false) { policy.observe($0) }
    }

    /// S = 4 layers, one global group of 3. f = 2 for expert 0 of layers 0, 2 and 3, all resident. At layer I = 1 a
    /// miss on expert 1 evicts the highest L = -f/d with d forward to the layer's next use: layer 2 (d 1) -2,
    /// layer 3 (d 2) -1, layer 0 (d 3) -2/3: layer 0's expert. The transcribed (S - i + I) mod S would give layer 2
    /// d = 3 and evict the NEXT layer's expert first.
    @Test func edgeMoEEvictsRareExpertsWhoseLayerComesLast() {
        let policy = EdgeMoEPolicy(capacity: 3, keySpace: 8, expertsPerLayer: 2)
        #expect(policy.observesRouting)
        for layer in [0, 2, 3] {
            PeerPolicyCacheTests.observe(policy, layer: layer, [0])
            PeerPolicyCacheTests.observe(policy, layer: layer, [0])
        }
        #expect(CachePolicyTests.drive(policy, [0, 4, 6]) == [.admitted(nil), .admitted(nil), .admitted(nil)])
        PeerPolicyCacheTests.observe(policy, layer: 1, [1])
        #expect(policy.currentLayer == 1 && policy.activationFrequency(3) == 1)
        #expect(policy.score(4) == -2 && policy.score(6) == -1 && policy.score(0) == -2.0 / 3)
        #expect(CachePolicyTests.drive(policy, [3], from: 3) == [.admitted(0)])
        #expect(EdgeMoEPolicy.distance(layer: 2, current: 1, layers: 4) == 1)
        #expect((4 - 2 + 1) % 4 == 3)  // the transcribed distance of the next layer: the largest
    }

    /// The current layer's experts (d = 0, L = -infinity) go last: at I = 1, resident (1, 0) never used (f = 0)
    /// stays and the frequent (3, 1) (f = 5, L = -5/2) goes. With only current-layer experts resident (a per-layer
    /// group), the least frequent goes; equal frequencies go to the least recently used.
    @Test func edgeMoEKeepsTheCurrentLayerAndIsLeastFrequentPerLayer() {
        let global = EdgeMoEPolicy(capacity: 2, keySpace: 8, expertsPerLayer: 2)
        for _ in 0..<5 { PeerPolicyCacheTests.observe(global, layer: 3, [1]) }
        PeerPolicyCacheTests.observe(global, layer: 1, [1])
        #expect(CachePolicyTests.drive(global, [2, 7]) == [.admitted(nil), .admitted(nil)])
        #expect(global.score(2) == -.infinity)
        #expect(CachePolicyTests.drive(global, [3], from: 2) == [.admitted(7)])

        // One layer (a per-layer group, 4 experts): f = 2, 1, 1 for experts 0, 1, 2. Resident 0 and 1 (1 used last):
        // offering 2 evicts 1, the least frequent.
        let perLayer = EdgeMoEPolicy(capacity: 2, keySpace: 16, expertsPerLayer: 4)
        PeerPolicyCacheTests.observe(perLayer, layer: 0, [0, 1])
        PeerPolicyCacheTests.observe(perLayer, layer: 0, [2, 0])
        #expect(CachePolicyTests.drive(perLayer, [0, 1, 1, 2]) == [.admitted(nil), .admitted(nil), .hit, .admitted(1)])
        // Equal f: the least recently used goes.
        for (order, victim) in [([0, 1, 0, 2], 1), ([1, 0, 1, 2], 0)] {
            let tie = EdgeMoEPolicy(capacity: 2, keySpace: 16, expertsPerLayer: 4)
            PeerPolicyCacheTests.observe(tie, layer: 0, [0, 1])
            #expect(CachePolicyTests.drive(tie, order).last == .admitted(victim))
        }
    }

    /// Both names resolve, build their groups from the registry and run in the timed engine on a toy trace.
    @Test func theRegistryBuildsThemAndTheEngineRunsThem() throws {
        let t = Fixtures.trace([[[0, 1], [2, 3]], [[2, 3], [0, 1]], [[0, 1], [2, 3]]])
        for policy in ["min-visit", "edgemoe"] {
            #expect(cachePolicies.entry(named: policy) != nil)
            for layout in ["per-layer:1", "global:3"] {
                let r = try Fixtures.simulate(t, cache: "\(policy)-\(layout)")
                #expect(r.cache.accesses == 12 && r.cache.hits + r.cache.onDemandLoads == 12, "\(policy)-\(layout)")
            }
        }
    }
}
