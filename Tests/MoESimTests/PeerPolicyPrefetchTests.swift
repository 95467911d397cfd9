import Foundation
import Testing
@testable import MoESim

/// The peer prefetch policies' decision rules (issue 8: MoE-Infinity, EdgeMoE, ProMoE), driven layer by layer
/// through a recording context on hand-made routing, so what each requests, and in what order, is worked out by hand.
@Suite struct PeerPolicyPrefetchTests {
    /// A `PrefetchContext` that records requests: an expert becomes available when requested, each request takes a
    /// staging buffer, and none is ever given back.
    final class RecordingContext: PrefetchContext {
        let layers: Int
        let experts: Int
        var passIndex = 0
        var passPhase: Phase = .decode
        var tokens: [TokenRecord] = []
        var available: Set<Int> = []
        var freeStagingBuffers: Int
        var requested: [[Int]] = []

        init(layers: Int, experts: Int, buffers: Int = 1000) {
            self.layers = layers
            self.experts = experts
            freeStagingBuffers = buffers
        }

        var passTokens: ArraySlice<TokenRecord> { tokens[...] }
        func isAvailable(layer: Int, expert: Int) -> Bool { available.contains(layer * experts + expert) }
        func routedExperts(layer: Int) -> [Int32] { [] }
        @discardableResult func prefetch(layer: Int, expert: Int, passesAhead: Int) -> Bool {
            guard passesAhead == 0, freeStagingBuffers > 0, !isAvailable(layer: layer, expert: expert) else { return false }
            freeStagingBuffers -= 1
            available.insert(layer * experts + expert)
            requested.append([layer, expert])
            return true
        }

        /// Runs one pass of `tokens` through `policy`, layer by layer (only `through` layers when given).
        func pass(_ policy: PrefetchPolicy, _ tokens: [TokenRecord], phase: Phase = .decode, through: Int? = nil) {
            self.tokens = tokens
            passPhase = phase
            for layer in 0..<(through.map { $0 + 1 } ?? layers) { policy.afterRouting(layer: layer, context: self) }
            passIndex += 1
        }

        func reset(buffers: Int = 1000) {
            requested = []
            available = []
            freeStagingBuffers = buffers
        }
    }

    /// A token of `request` whose layer l routes to `cells[l]` (in that order).
    static func token(request: Int = 0, _ cells: [[Int]]) -> TokenRecord {
        let slots = max(1, cells.map(\.count).max() ?? 1)
        var t = TokenRecord(layers: cells.count, slotsPerLayer: slots, weightsPerLayer: 0, aheadSlotsPerLayer: 0)
        t.request = request
        for (l, cell) in cells.enumerated() {
            t.counts[l] = Int8(cell.count)
            for (i, e) in cell.enumerated() { t.experts[l * slots + i] = Int32(e) }
        }
        return t
    }

    static func header(layers: Int, experts: Int, topK: Int = 2) -> TraceHeader {
        TraceHeader(model: "toy", layers: layers, experts: experts, topK: topK, weights: .topk)
    }

    /// A policy from its spec, for the toy model with `layers` x `experts`.
    static func make(_ spec: String, layers: Int, experts: Int, trace: String? = nil) throws -> PrefetchPolicy {
        let model = try ModelCatalog.load(path: Fixtures.write(PrefetchTests.model(layers: layers, experts: experts), name: "toy-model.json"))
        let header = header(layers: layers, experts: experts)
        let path = trace.map { Fixtures.write($0, name: "t.moetrace.jsonl") }
        return try prefetchPolicies.make(spec, model: model, header: header, seed: 1,
                                         reopenSource: { try TracePassSource(path: path!) }, makeGating: { TopKReplayGating() })
    }

    // MARK: MoE-Infinity

    /// Request 0 (two tokens) leaves this EAM for layers 1-3: layer 1 {2: 2, 3: 1, 0: 1}, layer 2 {1: 2, 0: 1, 3: 1},
    /// layer 3 {0: 2, 1: 1, 2: 1}. At request 1's layer 0 (L = 4) the decays are 0.8, 0.6, 0.4, so the scores are
    /// (1,2) 1.6; (2,1) 1.2; (1,0) (1,3) (3,0) 0.8; (2,0) (2,3) 0.6; (3,1) (3,2) 0.4, requested in that order (ties:
    /// nearer layer, then lower id). Nothing is requested during request 0: no request has finished yet.
    @Test func moeInfinityRequestsEveryLaterExpertOfTheMatchedEAMByDecayedCount() throws {
        let policy = try PeerPolicyPrefetchTests.make("moe-infinity", layers: 4, experts: 4) as! MoEInfinityPrefetch
        #expect(policy.engine.link == .lowPriority && policy.engine.admission == .cache)
        let context = RecordingContext(layers: 4, experts: 4)
        context.pass(policy, [PeerPolicyPrefetchTests.token(request: 0, [[0, 1], [2, 3], [1, 0], [0, 1]])])
        context.pass(policy, [PeerPolicyPrefetchTests.token(request: 0, [[0, 1], [2, 0], [1, 3], [0, 2]])])
        #expect(context.requested.isEmpty)
        #expect(policy.collection.isEmpty)

        let next = PeerPolicyPrefetchTests.token(request: 1, [[0, 1], [2, 3], [1, 0], [0, 1]])
        context.pass(policy, [next], through: 0)
        #expect(policy.collection.count == 1)
        #expect(context.requested == [[1, 2], [2, 1], [1, 0], [1, 3], [3, 0], [2, 0], [2, 3], [3, 1], [3, 2]])
        #expect(MoEInfinityPrefetch.decay(layer: 3, from: 0, layers: 4) == 1 - 3.0 / 5)

        // Three staging buffers and (2,1) already resident: the three best of the rest.
        context.reset(buffers: 3)
        context.available = [2 * 4 + 1]
        context.passIndex += 1
        context.pass(policy, [next], through: 0)
        #expect(context.requested == [[1, 2], [1, 0], [1, 3]])
    }

    /// Two stored EAMs: request 0 used experts {0, 1} at both layers, request 1 used {2, 3}. Request 2 routes layer 0
    /// to {2, 3}: row 0 has cosine 1 with request 1's and 0 with request 0's, so request 1's layer-1 experts are
    /// requested (equal scores: lower id first), and the match counts as an access of that entry.
    @Test func moeInfinityFollowsTheMostSimilarStoredRequest() throws {
        let policy = try PeerPolicyPrefetchTests.make("moe-infinity", layers: 2, experts: 4) as! MoEInfinityPrefetch
        let context = RecordingContext(layers: 2, experts: 4)
        context.pass(policy, [PeerPolicyPrefetchTests.token(request: 0, [[0, 1], [0, 1]])])
        context.pass(policy, [PeerPolicyPrefetchTests.token(request: 1, [[2, 3], [2, 3]])])
        // During request 1 the only stored EAM is request 0's.
        #expect(context.requested == [[1, 0], [1, 1]])
        context.reset()
        context.pass(policy, [PeerPolicyPrefetchTests.token(request: 2, [[2, 3], [0, 1]])])
        #expect(policy.collection.count == 2)
        #expect(context.requested == [[1, 2], [1, 3]])
        // Stored with 1 access each; request 1 matched request 0 once, request 2 matched request 1 once.
        #expect(policy.collection.accesses == [2, 2])
    }

    /// Within request 2, its first token routed layers 1-2 to {2, 3}. At the second token's layer 0 ({0, 1}), rows
    /// 0...0 (`match=seen`) tie between requests 0 and 1 (both used {0, 1} there) and the lower slot, request 0, wins;
    /// the released code's rows 1..2 (`match=code`) see the first token's {2, 3} and pick request 1.
    @Test func moeInfinityMatchRowsSeenOrAsTheReleasedCode() throws {
        func run(_ spec: String) throws -> [[Int]] {
            let policy = try PeerPolicyPrefetchTests.make(spec, layers: 3, experts: 4)
            let context = RecordingContext(layers: 3, experts: 4)
            context.pass(policy, [PeerPolicyPrefetchTests.token(request: 0, [[0, 1], [0, 1], [0, 1]])])
            context.pass(policy, [PeerPolicyPrefetchTests.token(request: 1, [[0, 1], [2, 3], [2, 3]])])
            context.pass(policy, [PeerPolicyPrefetchTests.token(request: 2, [[0, 1], [2, 3], [2, 3]])])
            context.reset()
            context.pass(policy, [PeerPolicyPrefetchTests.token(request: 2, [[0, 1], [0, 1], [0, 1]])], through: 0)
            return context.requested
        }
        #expect(try run("moe-infinity") == [[1, 0], [1, 1], [2, 0], [2, 1]])
        #expect(try run("moe-infinity:match=code") == [[1, 2], [1, 3], [2, 2], [2, 3]])
    }

    /// Capacity 2: a third matrix replaces the least-accessed entry (the lower slot on ties); all-zero ones are not kept.
    @Test func theEAMCollectionReplacesTheLeastAccessedEntry() {
        func matrix(_ e: Int) -> [Double] { (0..<4).map { $0 == e ? 1 : 0 } }
        var c = ExpertActivationCollection(capacity: 2, layers: 1, experts: 4)
        c.store(matrix(0))
        c.store(matrix(1))
        c.store([0, 0, 0, 0])
        #expect(c.count == 2 && c.stored == 2)
        c.refresh(matrix(1), currentNorms: [1], rows: 0..<1)
        #expect(c.bestMatch(layer: 0, rows: .seen) == 1)
        #expect(c.similarity(slot: 1, layer: 0, rows: .seen) == 1 && c.similarity(slot: 0, layer: 0, rows: .seen) == 0)
        #expect(c.accesses == [1, 2])
        c.store(matrix(2))
        #expect(c.matrices[0] == matrix(2) && c.matrices[1] == matrix(1) && c.replaced == 1)
        c.store(matrix(3))
        #expect(c.matrices[0] == matrix(3) && c.accesses == [1, 2])
    }

    // MARK: EdgeMoE

    /// Profile (top-1, 3 layers): T1 0,1,2; T2 0,1,3; T3 0,1,2; T4 3,1,3; T5 3,0,1. For layer 2:
    /// key (0,1) -> {2: 2/3, 3: 1/3}; key (1) -> {2: 2/4, 3: 2/4}; popularity {2: 2/5, 3: 2/5, 1: 1/5}.
    static let profileTokens: [[[Int]]] = [[[0], [1], [2]], [[0], [1], [3]], [[0], [1], [2]], [[3], [1], [3]], [[3], [0], [1]]]

    static func profile(_ count: Int = 5) -> EdgeMoEProfile {
        var p = EdgeMoEProfile(layers: 3, experts: 4)
        for cells in profileTokens.prefix(count) { p.add(token(cells)) }
        return p
    }

    @Test func edgeMoEProfileLooksUpTwoLayersThenOneThenPopularity() {
        let policy = EdgeMoEPrefetch(profile: PeerPolicyPrefetchTests.profile(), top: 3, prefixText: "test", engine: PrefetchEngineOptions())
        func predict(_ cells: [[Int]], target: Int = 2) -> [Int] { policy.predict(tokens: [PeerPolicyPrefetchTests.token(cells)][...], target: target) }
        #expect(predict([[0], [1], [0]]) == [2, 3])        // two-layer key (0,1): 2/3, 1/3
        #expect(predict([[2], [1], [0]]) == [2, 3])        // (2,1) unseen; key (1): 1/2, 1/2, lower id first
        #expect(predict([[1], [2], [0]]) == [2, 3, 1])     // (1,2) and (2) unseen: popularity 2/5, 2/5, 1/5
        #expect(predict([[3], [0], [0]], target: 1) == [0, 1]) // layer 1 from layer 0 alone: key (3) -> {1: 1/2, 0: 1/2}
        #expect(policy.answeredBy == [1, 2, 1, 0])
        // A pass's tokens add their probabilities: (0,1) and (3,1) give 3: 1/3 + 1 > 2: 2/3.
        #expect(policy.predict(tokens: [PeerPolicyPrefetchTests.token([[0], [1], [0]]), PeerPolicyPrefetchTests.token([[3], [1], [0]])][...], target: 2) == [3, 2])
        let one = EdgeMoEPrefetch(profile: PeerPolicyPrefetchTests.profile(), top: 1, prefixText: "test", engine: PrefetchEngineOptions())
        #expect(one.predict(tokens: [PeerPolicyPrefetchTests.token([[0], [1], [0]])][...], target: 2) == [2])
    }

    /// After layer 1's routing the pass's key (0,1) predicts [2, 3] for layer 2; expert 2 is resident, so only 3 is
    /// requested. Nothing is requested for layer 0, and layer 1 is predicted from layer 0 alone.
    @Test func edgeMoEPreloadsTheMostProbableMissingExpertsOfTheNextLayer() {
        let policy = EdgeMoEPrefetch(profile: PeerPolicyPrefetchTests.profile(), top: 2, prefixText: "test", engine: PrefetchEngineOptions())
        let context = RecordingContext(layers: 3, experts: 4)
        context.available = [2 * 4 + 2]
        context.pass(policy, [PeerPolicyPrefetchTests.token([[0], [1], [3]])])
        // Layer 0 -> layer 1 by key (0): {1: 3/3} -> [1]; layer 1 -> layer 2: [2, 3] minus the resident 2.
        #expect(context.requested == [[1, 1], [2, 3]])
    }

    /// `prefix=K` profiles the first K tokens of the trace: with 3 tokens key (3,1) was never seen, with all 5 it was.
    @Test func edgeMoEProfilesAPrefixOfTheTrace() throws {
        var lines = [#"{"moe_trace":1,"model":"toy","layers":3,"experts":4,"top_k":1,"weights":"none"}"#, #"{"request":"r0"}"#]
        for (i, cells) in PeerPolicyPrefetchTests.profileTokens.enumerated() {
            lines.append(#"{"request":"r0","phase":"decode","pos":\#(i),"experts":[\#(cells.map { "[\($0[0])]" }.joined(separator: ","))]}"#)
        }
        let path = Fixtures.write(lines.joined(separator: "\n") + "\n", name: "t.moetrace.jsonl")
        let three = try EdgeMoEProfile.measure(source: try TracePassSource(path: path), prefixTokens: 3)
        let all = try EdgeMoEProfile.measure(source: try TracePassSource(path: path), prefixTokens: nil)
        #expect(three.tokens == 3 && all.tokens == 5)
        func top(_ p: EdgeMoEProfile) -> [Int] {
            EdgeMoEPrefetch(profile: p, top: 2, prefixText: "", engine: PrefetchEngineOptions())
                .predict(tokens: [PeerPolicyPrefetchTests.token([[3], [1], [0]])][...], target: 2)
        }
        #expect(top(three) == [2, 3])   // back-off to key (1): {2: 2/3, 3: 1/3}
        #expect(top(all) == [3])        // key (3,1): {3: 1}
    }

    // MARK: ProMoE

    /// `promoe` is next-layer-gate with fixed defaults: stride 2, the model's top-k, every prediction, no wait,
    /// prefill too, a preemptible link and admission into the cache; a_l falls back to 0.866 for a model without
    /// an AdapMoE profile (the toy model).
    @Test func proMoEIsAConfigurationOfNextLayerGate() throws {
        let p = try PeerPolicyPrefetchTests.make("promoe", layers: 4, experts: 4) as! NextLayerGatePrefetch
        #expect(p.stride == 2 && p.depth == 1 && p.issueLimit == nil && p.predictor.top == 2 && p.prefetchesInPrefill)
        #expect(p.engine == PrefetchEngineOptions(link: .preempt, admission: .cache, waitsForPreviousPrefetch: false))
        #expect(p.predictor.accuracy == Array(repeating: 0.866, count: 4) && p.predictor.depthLoss == 0.05)
        let gate = try PeerPolicyPrefetchTests.make("next-layer-gate:accuracy=0.9", layers: 4, experts: 4) as! NextLayerGatePrefetch
        #expect(gate.stride == 1)
        #expect(throws: MoESimError.self) { try PeerPolicyPrefetchTests.make("next-layer-gate", layers: 4, experts: 4) }
    }

    /// With a perfect predictor (accuracy 1, no depth loss) the requests are the true experts: at layer 0 those of
    /// layer 1 (warm-up) and layer 2 (stride), at layer 1 those of layer 3, then nothing (layer 4 does not exist).
    @Test func proMoEPredictsTwoLayersAhead() throws {
        let policy = try PeerPolicyPrefetchTests.make("promoe:predict=noisy,accuracy=1,depth-loss=0", layers: 4, experts: 4)
        let context = RecordingContext(layers: 4, experts: 4)
        let t = PeerPolicyPrefetchTests.token([[0, 1], [2, 3], [1, 2], [0, 3]])
        context.pass(policy, [t], through: 0)
        #expect(context.requested == [[1, 2], [1, 3], [2, 1], [2, 2]])
        context.requested = []
        context.passIndex -= 1
        for layer in 1..<4 { policy.afterRouting(layer: layer, context: context) }
        #expect(context.requested == [[3, 0], [3, 3]])
    }

    /// ProMoE's ~5 % accuracy lost per extra layer of distance: with a = 1, predictions two layers ahead are right
    /// about 95 % of the time (4000 slots, seeded), those one layer ahead always.
    @Test func proMoELosesFivePercentPerExtraLayer() {
        let predictor = NextLayerPredictor(layers: 3, experts: 8, top: 2, source: .noisy, accuracy: [1, 1, 1], depthLoss: 0.05, seed: 3)
        var rng = SeededGenerator(seed: 11)
        var right = [0, 0], slots = 0
        var out: [Int32] = []
        for i in 0..<2000 {
            let a = rng.nextInt(below: 8)
            var b = rng.nextInt(below: 8)
            while b == a { b = rng.nextInt(below: 8) }
            let t = PeerPolicyPrefetchTests.token([[a, b], [a, b], [a, b]])
            for depth in 1...2 {
                out.removeAll()
                predictor.predict(token: t, tokenIndex: 0, pass: i, sourceLayer: 0, depth: depth, into: &out)
                right[depth - 1] += out.filter { $0 == Int32(a) || $0 == Int32(b) }.count
            }
            slots += 2
        }
        #expect(right[0] == slots)
        let fraction = Double(right[1]) / Double(slots)
        #expect(fraction > 0.93 && fraction < 0.97, "\(fraction)")
    }
}
