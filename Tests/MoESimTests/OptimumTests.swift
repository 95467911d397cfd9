import Foundation
import Testing
@testable import MoESim

/// `--optimum on|off` in every report form, the single-read optimum (the replay and Belady's look-ahead share one
/// read of the trace) against the two-read one it replaces, and the global stack-distance tree.
@Suite struct OptimumTests {
    static let shippedTraces = ["mixtral-8x7b-synth", "mixtral-8x7b-humaneval-synth", "olmoe-1b-7b-synth", "qwen3-30b-a3b-synth"]
        .map { Fixtures.repositoryRoot.appendingPathComponent("traces/\($0).moetrace.jsonl").path }

    static func toyTrace() -> String {
        Fixtures.write(Fixtures.trace(CachePolicyTests.randomTokens(seed: 21, count: 30)), name: "optimum.moetrace.jsonl")
    }

    static func timed(_ path: String, _ extra: [String]) -> (code: Int32, out: String, err: String) {
        let files = Fixtures.toyFiles()
        return Fixtures.sim(["--trace", path, "--hardware", files.hardware, "--model", files.model, "--runtime", files.runtime,
                             "--cache", "lru-per-layer:2"] + extra)
    }

    static func object(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    // MARK: sim run

    @Test func simRunSaysWhenTheOptimumWasSkipped() throws {
        let path = Self.toyTrace()
        let on = Self.timed(path, ["--json"]), off = Self.timed(path, ["--json", "--optimum", "off"])
        #expect(on.code == 0 && off.code == 0, "\(on.err) \(off.err)")
        let onCache = try #require(try Self.object(on.out)["cache"] as? [String: Any])
        let offCache = try #require(try Self.object(off.out)["cache"] as? [String: Any])
        #expect(onCache["optimum"] as? String == "computed")
        #expect(onCache["beladyHits"] is Int)
        #expect(offCache["optimum"] as? String == "skipped")
        #expect(offCache["beladyHits"] == nil && offCache["beladyHitRate"] == nil && offCache["gapToBelady"] == nil)
        // Skipping the reference pass changes nothing else.
        #expect(offCache["hits"] as? Int == onCache["hits"] as? Int)

        let text = Self.timed(path, ["--optimum", "off"])
        #expect(text.out.contains(Report.Optimum.skippedNote), "\(text.out)")
        #expect(!Self.timed(path, []).out.contains(Report.Optimum.skippedNote))

        for (extra, expected) in [([String](), "computed"), (["--optimum", "off"], "skipped")] {
            let csv = Self.timed(path, ["--csv"] + extra)
            let lines = csv.out.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
            let column = try #require(lines.first?.firstIndex(of: "optimum"))
            #expect(lines[1][column] == expected)
        }
    }

    @Test func aBadOptimumValueIsOneLineNamingTheOption() throws {
        let path = Self.toyTrace()
        for r in [Self.timed(path, ["--optimum", "maybe"]),
                  Fixtures.sim(["cache", "run", "--trace", path, "--cache", "lru-per-layer:2", "--optimum", "maybe"]),
                  Fixtures.sim(["cache", "sweep", "--trace", path, "--optimum", "1"])] {
            #expect(r.code != 0 && r.out.isEmpty)
            #expect(r.err.hasPrefix("error: ") && r.err.contains("--optimum"), "\(r.err)")
            #expect(r.err.filter { $0 == "\n" }.count == 1, "\(r.err)")
        }
    }

    // MARK: sim cache

    @Test func cacheRunSaysWhenTheOptimumWasSkipped() throws {
        let path = Self.toyTrace()
        func run(_ extra: [String]) -> (code: Int32, out: String, err: String) {
            Fixtures.sim(["cache", "run", "--trace", path, "--cache", "lru-global:3"] + extra)
        }
        let on = try Self.object(run(["--json"]).out), off = try Self.object(run(["--json", "--optimum", "off"]).out)
        #expect(on["optimum"] as? String == "computed" && on["belady"] is [String: Any])
        #expect(off["optimum"] as? String == "skipped" && off["belady"] == nil && off["beladyHitRate"] == nil)
        #expect((off["result"] as? [String: Any])?["hits"] as? Int == (on["result"] as? [String: Any])?["hits"] as? Int)

        #expect(run(["--optimum", "off"]).out.contains(Report.Optimum.skippedNote))
        #expect(run([]).out.contains("Belady"))
        let csv = run(["--csv", "--optimum", "off"]).out.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        let header = try #require(csv.first)
        #expect(csv[1][try #require(header.firstIndex(of: "optimum"))] == "skipped")
        #expect(csv[1][try #require(header.firstIndex(of: "belady_hits"))] == "")
    }

    @Test func cacheSweepSaysWhenTheOptimumWasSkipped() throws {
        let path = Self.toyTrace()
        func sweep(_ extra: [String]) -> (code: Int32, out: String, err: String) {
            Fixtures.sim(["cache", "sweep", "--trace", path, "--capacities", "1..3"] + extra)
        }
        let on = try Self.object(sweep(["--json"]).out), off = try Self.object(sweep(["--json", "--optimum", "off"]).out)
        #expect(on["optimum"] as? String == "computed" && (on["hitRate"] as? [String: Any])?["belady"] != nil)
        #expect(off["optimum"] as? String == "skipped")
        let offRates = try #require(off["hitRate"] as? [String: [Double]])
        #expect(offRates["belady"] == nil && offRates["lru"] == (on["hitRate"] as? [String: [Double]])?["lru"])

        let text = sweep(["--optimum", "off"])
        #expect(text.code == 0 && text.out.contains(Report.Optimum.skippedNote), "\(text.out)")
        let csv = sweep(["--csv", "--optimum", "off", "--policies", "lru,fifo"]).out.split(separator: "\n")
        #expect(csv.first == "capacity,lru,fifo,belady")
        #expect(csv.dropFirst().allSatisfy { $0.hasSuffix(",skipped") } && csv.count == 4)

        let contradiction = sweep(["--optimum", "off", "--policies", "lru,belady"])
        #expect(contradiction.code != 0 && contradiction.err.contains("--policies"), "\(contradiction.err)")
    }

    // MARK: One read

    /// The replay that fills Belady's look-ahead from its own read, with the heap-ordered Belady, gives exactly the
    /// hits of the previous algorithm: a second read for the look-ahead, pass by pass, and a scan of every resident
    /// per miss (`ScanBeladyPolicy`, kept below as it was). Per layer and global, cold and warm, on the shipped
    /// traces and the real HumanEval trace when ../shared is there.
    @Test func oneReadOptimumEqualsTheTwoReadOne() throws {
        var paths = Self.shippedTraces
        if Fixtures.sharedTracesAvailable { paths.append(Fixtures.sharedTrace("humaneval-decode.moetrace.jsonl")) }
        for path in paths {
            let header = try TracePassSource(path: path).header
            let layers = header.layers, experts = header.experts
            var configurations: [CacheOnlyReplay.Configuration] = []
            for c in [1, experts / 2] {
                configurations.append(.init(policy: "belady", layout: .perLayer, capacities: Array(repeating: c, count: layers)))
            }
            for total in [2 * layers] {
                configurations.append(.init(policy: "belady", layout: .global, capacities: [total]))
            }
            let factories = configurations.map { _ in cachePolicies.entry(named: "belady")!.make }
            let scan = CachePolicyFactory(needsFuture: true) { ScanBeladyPolicy(capacity: $0.capacity, keySpace: $0.keySpace, future: $0.future!) }
            // Warm starts on the first trace only: the suite stays fast in a debug build.
            for fill in path == paths[0] ? [ExpertCache.InitialFill.empty, .highestIndex] : [.empty] {
                let replay = CacheOnlyReplay(source: try TracePassSource(path: path), initialFill: fill)
                let oneRead = try replay.runFromAccessStream(configurations, factories: factories, source: try TracePassSource(path: path))
                let twoReads = try replay.runByPass(configurations, factories: configurations.map { _ in scan }, source: try TracePassSource(path: path))
                #expect(oneRead.hits == twoReads.hits, "\(path) \(fill)")
                #expect(oneRead.accesses == twoReads.accesses, "\(path) \(fill)")
                #expect(!replay.lookaheadExceeded)
            }
        }
    }

    /// With the trace longer than the look-ahead, the one-read replay still flags it, and keeps a reach of the
    /// whole window for every access (the two-read one renews it per pass): never fewer hits.
    @Test func oneReadOptimumFlagsAShortLookahead() throws {
        let path = Self.toyTrace()
        let configuration = CacheOnlyReplay.Configuration(policy: "belady", layout: .perLayer, capacities: [2, 2])
        let short = CacheOnlyReplay(source: try TracePassSource(path: path), initialFill: .empty, lookaheadWindow: 8)
        let shortHits = try short.run([configuration])[0].hits
        #expect(short.lookaheadExceeded)
        let long = CacheOnlyReplay(source: try TracePassSource(path: path), initialFill: .empty, lookaheadWindow: 4096)
        #expect(try long.run([configuration])[0].hits >= shortHits)
        #expect(!long.lookaheadExceeded)
        let factory = cachePolicies.entry(named: "belady")!.make
        let byPass = try short.runByPass([configuration], factories: [factory], source: try TracePassSource(path: path))
        #expect(shortHits >= byPass.hits[0].reduce(0, +))
    }

    /// Mixed routing-watching and plain policies in one call give what each gives alone, in the order asked.
    @Test func mixedPoliciesKeepTheirOrderAndHits() throws {
        let path = Self.toyTrace()
        let specs = ["mrs", "lru", "edgemoe", "belady", "lfu"].map { CacheOnlyReplay.Configuration(policy: $0, layout: .perLayer, capacities: [2, 2]) }
        let together = try CacheOnlyReplay(source: try TracePassSource(path: path), initialFill: .empty).run(specs)
        for (i, spec) in specs.enumerated() {
            let alone = try CacheOnlyReplay(source: try TracePassSource(path: path), initialFill: .empty).run([spec])[0]
            #expect(together[i].policy == spec.policy && together[i].perLayerHits == alone.perLayerHits, "\(spec.policy)")
        }
    }

    /// The registry says which policies watch the router's output, so the replay can route them before building them.
    @Test func registryFlagsMatchThePolicies() {
        for name in cachePolicies.names {
            let factory = cachePolicies.entry(named: name)!.make
            guard !factory.needsFuture && !factory.needsPopularity else { continue }
            let policy = factory.make(CachePolicyContext(capacity: 2, keySpace: 8, keys: 0..<8, expertsPerLayer: 4))
            #expect(policy.observesRouting == factory.observesRouting, "\(name)")
        }
    }

    // MARK: Access stream

    /// Top-k replay but without saying so: the access stream then routes every cell through `PassRouter`.
    final class RoutedTopK: GatingPolicy {
        let name = "routed-topk"
        func select(_ cell: RoutingCell, into selected: FixedArray<Int32>) -> Int {
            for i in 0..<cell.experts.count { selected[i] = cell.experts[i] }
            return cell.experts.count
        }
    }

    static func keys(_ path: String, _ gating: GatingPolicy, chunked: Bool) throws -> (keys: [Int], passes: Int) {
        let stream = AccessStream(source: try TracePassSource(path: path), gating: gating)
        var keys: [Int] = []
        if chunked {
            var buffer = [Int32](repeating: 0, count: 7)
            while true {
                let n = try buffer.withUnsafeMutableBufferPointer { try stream.next(into: $0.baseAddress!, capacity: 7) }
                if n == 0 { break }
                keys += buffer[0..<n].map { Int($0) }
            }
        } else {
            while let key = try stream.next() { keys.append(key) }
        }
        return (keys, stream.passes)
    }

    /// Keys taken straight from the records equal the routed ones (prefill batches with repeats across tokens, null
    /// cells, a pass with no accesses at all), one at a time or in chunks.
    @Test func recordedKeysEqualRoutedKeys() throws {
        var lines = [Fixtures.header, #"{"request":"r0"}"#]
        var rng = SeededGenerator(seed: 5)
        for p in 0..<40 {
            let cells = (0..<2).map { _ -> String in
                if rng.nextInt(below: 6) == 0 { return "null" }
                let a = rng.nextInt(below: 4)
                return "[\(a),\((a + 1 + rng.nextInt(below: 3)) % 4)]"
            }
            let weights = cells.map { $0 == "null" ? "null" : "[0.75,0.25]" }
            lines.append(#"{"request":"r0","phase":"\#(p < 12 ? "prefill" : "decode")","pos":\#(p),"experts":[\#(cells.joined(separator: ","))],"weights":[\#(weights.joined(separator: ","))]}"#)
        }
        lines.append(#"{"request":"r0","phase":"decode","pos":40,"experts":[null,null],"weights":[null,null]}"#)
        lines.append(#"{"request":"r0","phase":"decode","pos":41,"experts":[[3,1],[0,2]],"weights":[[0.75,0.25],[0.75,0.25]]}"#)
        let toy = Fixtures.write(lines.joined(separator: "\n") + "\n", name: "nulls.moetrace.jsonl")
        for path in [toy] + Self.shippedTraces {
            let routed = try Self.keys(path, RoutedTopK(), chunked: false)
            #expect(!routed.keys.isEmpty)
            for chunked in [false, true] {
                let recorded = try Self.keys(path, TopKReplayGating(), chunked: chunked)
                #expect(recorded.keys == routed.keys, "\(path) chunked \(chunked)")
                #expect(recorded.passes == routed.passes)
            }
        }
    }

    // MARK: Global stack distances

    @Test func reuseDistanceTreeEqualsANaiveCount() {
        var rng = SeededGenerator(seed: 77)
        for keys in [1, 5, 64] {
            let tree = ReuseDistanceTree(keys: keys)
            var history: [Int] = []
            for _ in 0..<2_000 {
                // Skewed: a few hot keys and a long tail, so distances span the range.
                let key = rng.nextInt(below: 3) == 0 ? rng.nextInt(below: keys) : rng.nextInt(below: min(keys, 4))
                var expected = -1
                if let last = history.lastIndex(of: key) { expected = Set(history[(last + 1)...]).count }
                #expect(tree.access(key) == expected, "keys \(keys) at \(history.count)")
                history.append(key)
            }
        }
    }
}

/// Belady as it was before `NextUseHeap`: a scan of every resident per miss. The reference for the heap.
final class ScanBeladyPolicy: EvictionPolicy {
    let capacity: Int
    private let residents: ResidentSet
    private let nextUse: FixedArray<Int>
    private let future: FutureAccesses

    init(capacity: Int, keySpace: Int, future: FutureAccesses) {
        self.capacity = capacity
        self.future = future
        residents = ResidentSet(capacity: capacity, keySpace: keySpace)
        nextUse = FixedArray(repeating: FutureAccesses.never, count: keySpace)
    }

    var count: Int { residents.count }
    func contains(_ key: Int) -> Bool { residents.contains(key) }

    func touch(_ key: Int, context: AccessContext) {
        nextUse[key] = future.nextUse(afterAccess: context.time, key: key)
        residents.lastAccess[key] = context.time
    }

    func insert(_ key: Int, context: AccessContext) -> Admission {
        // Before the run (initial fill, negative times) nothing is consumed: the key's next use is its first use.
        let next = context.time >= 0 ? future.nextUse(afterAccess: context.time, key: key) : future.firstUse(of: key)
        guard capacity > 0 else { return .bypassed }
        var evicted: Int?
        if residents.isFull {
            // The farthest next use is the largest; `minimum` ranks by the negated value.
            let victim = residents.minimum { -(self.nextUse[$0] == FutureAccesses.never ? Int.max - 1 : self.nextUse[$0]) }
            let victimNext = nextUse[victim]
            if context.time >= 0 && next >= victimNext { return .bypassed }
            residents.remove(victim)
            evicted = victim
        }
        residents.add(key)
        nextUse[key] = next
        residents.lastAccess[key] = context.time
        return .admitted(evicted: evicted)
    }

    func remove(_ key: Int) { residents.remove(key) }
    var residentKeys: [Int] { residents.all.sorted() }
}
