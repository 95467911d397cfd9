import Foundation
import Testing
@testable import MoESim

/// A deliberately naive LRU (an array ordered oldest first) to check the real one against.
struct ReferenceLRU {
    var capacity: Int
    var items: [Int] = []

    mutating func access(_ key: Int) -> Bool {
        if let i = items.firstIndex(of: key) {
            items.remove(at: i)
            items.append(key)
            return true
        }
        if capacity == 0 { return false }
        if items.count == capacity { items.removeFirst() }
        items.append(key)
        return false
    }
}

struct CacheTests {
    @Test func lruHandWorkedSequence() {
        // Capacity 2: 0 m, 1 m | 1 h, 2 m (evict 0) | 0 m (evict 1), 2 h | 3 m (evict 0), 1 m (evict 2)
        let lru = LRUPolicy(capacity: 2, keySpace: 4)
        var hits = 0
        var evictions: [Int?] = []
        for (t, key) in [0, 1, 1, 2, 0, 2, 3, 1].enumerated() {
            let context = AccessContext(time: t)
            if lru.contains(key) {
                lru.touch(key, context: context)
                hits += 1
            } else if case let .admitted(evicted) = lru.insert(key, context: context) {
                evictions.append(evicted)
            }
        }
        #expect(hits == 2)
        #expect(evictions == [nil, nil, 0, 1, 0, 2])
        #expect(lru.residentKeys == [1, 3])
    }

    @Test func lruCapacityZeroBypasses() {
        let lru = LRUPolicy(capacity: 0, keySpace: 4)
        #expect(lru.insert(1, context: AccessContext(time: 0)) == .bypassed)
        #expect(!lru.contains(1))
    }

    @Test(arguments: [1, 2, 3, 5, 8])
    func lruMatchesReferenceOnRandomSequences(capacity: Int) {
        var rng = SeededGenerator(seed: UInt64(capacity) * 7919)
        let lru = LRUPolicy(capacity: capacity, keySpace: 16)
        var reference = ReferenceLRU(capacity: capacity)
        for t in 0..<5000 {
            let key = rng.nextInt(below: 16)
            let expected = reference.access(key)
            let hit = lru.contains(key)
            if hit { lru.touch(key, context: AccessContext(time: t)) } else { _ = lru.insert(key, context: AccessContext(time: t)) }
            #expect(hit == expected)
            if hit != expected { return }
        }
        #expect(Set(lru.residentKeys) == Set(reference.items))
    }

    @Test func perLayerHitCountsOnTheSimulatorMatchReference() throws {
        // The engine accesses each cell's experts in recorded order; check its per-layer LRU counts independently.
        var rng = SeededGenerator(seed: 42)
        var tokens: [[[Int]]] = []
        for _ in 0..<60 {
            tokens.append((0..<2).map { _ in
                let a = rng.nextInt(below: 4)
                var b = rng.nextInt(below: 4)
                while b == a { b = rng.nextInt(below: 4) }
                return [a, b]
            })
        }
        for capacity in 1...3 {
            var references = [ReferenceLRU(capacity: capacity), ReferenceLRU(capacity: capacity)]
            var expectedHits = 0
            for token in tokens {
                for (layer, cell) in token.enumerated() {
                    for e in cell where references[layer].access(e) { expectedHits += 1 }
                }
            }
            let report = try Fixtures.simulate(Fixtures.trace(tokens), cache: "lru-per-layer:\(capacity)")
            #expect(report.cache.hits == expectedHits, "capacity \(capacity)")
            #expect(report.cache.accesses == 240)
        }
    }

    @Test func initialFillFollowsAdapMoE() {
        // do_offload = expert_idx < 8 - s_l: the s_l highest-numbered experts of each layer start resident.
        let cache = ExpertCache(layers: 2, experts: 8, layout: .perLayer, capacities: [3, 1], factory: cachePolicies.entry(named: "lru")!.make)
        cache.fill(.highestIndex)
        #expect(Set(cache.groups[0].residentKeys) == [5, 6, 7])
        #expect(Set(cache.groups[1].residentKeys) == [15])
    }

    @Test(.enabled(if: Fixtures.sharedTracesAvailable, "needs ../shared/traces"))
    func realTracePerLayerLRUMatchesReference() throws {
        let path = Fixtures.sharedTrace("humaneval-decode.moetrace.jsonl")
        let reader = try TraceReader(path: path)
        var references = (0..<32).map { _ in ReferenceLRU(capacity: 4) }
        var expectedHits = 0, expectedAccesses = 0
        while let item = try reader.next() {
            guard case .token = item else { continue }
            let token = reader.token
            for l in 0..<32 where token.counts[l] > 0 {
                for i in 0..<Int(token.counts[l]) {
                    expectedAccesses += 1
                    if references[l].access(Int(token.experts[l * token.slotsPerLayer + i])) { expectedHits += 1 }
                }
            }
        }
        let result = Fixtures.sim(["--hardware", "4090", "--quant", "hqq2", "--cache", "lru-per-layer:4", "--initial-fill", "empty",
                                   "--trace", path, "--json"])
        #expect(result.code == 0, "\(result.err)")
        let json = try JSONSerialization.jsonObject(with: Data(result.out.utf8)) as! [String: Any]
        let cache = json["cache"] as! [String: Any]
        #expect(cache["hits"] as? Int == expectedHits)
        #expect(cache["accesses"] as? Int == expectedAccesses)
    }
}

struct LookaheadTests {
    /// A trace longer than Belady's look-ahead is flagged: next uses beyond it count as never, so Belady's hit
    /// rate can only be understated. With a reach covering the trace there is no warning.
    @Test func beladyWarnsWhenTheTraceOutrunsItsLookahead() throws {
        var rng = SeededGenerator(seed: 3)
        let tokens: [[[Int]]] = (0..<40).map { _ in (0..<2).map { _ in let a = rng.nextInt(below: 4); return [a, (a + 1 + rng.nextInt(below: 3)) % 4] } }
        let files = Fixtures.toyFiles()
        func run(window: Int) throws -> Report {
            var config = SimulationConfig(hardware: try HardwareCatalog.load(path: files.hardware), model: try ModelCatalog.load(path: files.model),
                                          quantization: try QuantizationCatalog.resolve("fp16"), runtime: try RuntimeCatalog.load(path: files.runtime),
                                          cache: try CacheSpec.parse("belady-per-layer:2"), initialFill: .empty, kvReserveTokens: 0)
            config.lookaheadWindow = window
            return try Simulation(config: config, source: try TracePassSource(path: Fixtures.write(Fixtures.trace(tokens), name: "t.jsonl"))).run()
        }
        let short = try run(window: 8)
        #expect(short.warnings.contains { $0.contains("look-ahead") })
        let long = try run(window: 4096)
        #expect(!long.warnings.contains { $0.contains("look-ahead") })
        #expect(long.cache.hits >= short.cache.hits)
        #expect(long.cache.beladyHits == long.cache.hits)
    }
}

struct BeladyBoundTests {
    /// Belady bounds every policy across the configurations the CLI can reach: prefill batches and decode tokens,
    /// mixed per-layer capacities and global pools, empty and highest-index starts, a prefix-profiled static set.
    @Test func beladyBoundsEveryPolicyInEveryReachableConfiguration() throws {
        var failures: [String] = []
        for seed in UInt64(1)...12 {
            var rng = SeededGenerator(seed: seed &* 104_729)
            var lines = [Fixtures.header]
            for r in 0..<3 {
                lines.append(#"{"request":"r\#(r)"}"#)
                let prompt = 1 + rng.nextInt(below: 4)
                for p in 0..<(prompt + 8) {
                    let cells = (0..<2).map { _ -> String in
                        let a = rng.nextInt(below: 4)
                        return "[\(a),\((a + 1 + rng.nextInt(below: 3)) % 4)]"
                    }
                    lines.append(#"{"request":"r\#(r)","phase":"\#(p < prompt ? "prefill" : "decode")","pos":\#(p),"experts":[\#(cells.joined(separator: ","))],"weights":[[0.75,0.25],[0.75,0.25]]}"#)
                }
            }
            let trace = lines.joined(separator: "\n") + "\n"
            let perLayer = [rng.nextInt(below: 4) + 1, rng.nextInt(below: 4) + 1]
            let global = 1 + rng.nextInt(below: 7)
            for fill in ExpertCache.InitialFill.allCases {
                var configurations: [CacheOnlyReplay.Configuration] = []
                for p in cachePolicies.names {
                    configurations.append(.init(policy: p, layout: .perLayer, capacities: perLayer))
                    configurations.append(.init(policy: p, layout: .global, capacities: [global]))
                }
                let replay = CacheOnlyReplay(source: try TracePassSource(path: Fixtures.write(trace, name: "t.jsonl")), initialFill: fill,
                                             staticProfile: .prefix(passes: 3))
                let results = try replay.run(configurations)
                for layout in ["per-layer", "global"] {
                    let opt = results.first { $0.policy == "belady" && $0.layout == layout }!.hits
                    for r in results where r.layout == layout && r.hits > opt {
                        failures.append("seed \(seed) \(fill.rawValue) \(layout) \(r.capacities): \(r.policy) \(r.hits) > belady \(opt)")
                    }
                }
            }
        }
        #expect(failures.isEmpty, "\(failures.prefix(5))")
    }
}
