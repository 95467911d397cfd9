import Foundation
import Testing
@testable import MoESim

/// Prefetch policies and the engine's speculative paths (issue 5), on hand-made traces worked out by hand with the
/// toy fixtures' round numbers: a load takes 20 ms, an expert computes in 2 ms, attention of a decode token at context
/// c takes (2e6 + 4c) / 1e9 s (`Fixtures.attentionSeconds`). Caches start with each layer's highest experts.
struct PrefetchTests {
    static let load = Fixtures.loadSeconds
    static let compute = Fixtures.expertSeconds
    static let overhead = Fixtures.passOverheadSeconds
    /// Attention of a token at position 0 (context 1): the routing time of its layer 0.
    static let a = Fixtures.attentionSeconds(context: 1)

    /// The toy model with `layers` MoE layers and `experts` experts (Fixtures' sizes otherwise).
    static func model(layers: Int, experts: Int) -> String {
        Fixtures.model.replacingOccurrences(of: #""moeLayers":2"#, with: #""moeLayers":\#(layers)"#)
            .replacingOccurrences(of: #""experts":4"#, with: #""experts":\#(experts)"#)
    }

    struct Token {
        var experts: [[Int]]
        /// Lookahead predictions by depth: entry l of depth d predicts layer l + d (nil: null).
        var ahead: [Int: [[Int]?]] = [:]
    }

    static func trace(_ tokens: [Token], layers: Int = 2, experts: Int = 4) -> String {
        var lines = [#"{"moe_trace":1,"model":"toy","layers":\#(layers),"experts":\#(experts),"top_k":2,"weights":"topk"}"#, #"{"request":"r0"}"#]
        func list(_ cells: [[Int]?]) -> String {
            "[" + cells.map { $0.map { "[" + $0.map(String.init).joined(separator: ",") + "]" } ?? "null" }.joined(separator: ",") + "]"
        }
        for (i, t) in tokens.enumerated() {
            let weights = "[" + t.experts.map { $0.count == 2 ? "[0.75,0.25]" : "[1.0]" }.joined(separator: ",") + "]"
            var line = #"{"request":"r0","phase":"decode","pos":\#(i),"experts":\#(list(t.experts)),"weights":\#(weights)"#
            if !t.ahead.isEmpty {
                line += #","ahead":{"# + t.ahead.keys.sorted().map { #""\#($0)":"# + list(t.ahead[$0]!) }.joined(separator: ",") + "}"
            }
            lines.append(line + "}")
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// A seeded random decode trace: each token picks two distinct experts per layer, skewed to low ids.
    static func randomTrace(seed: UInt64, tokens: Int, layers: Int, experts: Int) -> String {
        var rng = SeededGenerator(seed: seed)
        var list: [Token] = []
        for _ in 0..<tokens {
            var cells: [[Int]] = []
            for _ in 0..<layers {
                let first = min(rng.nextInt(below: experts), rng.nextInt(below: experts))
                var second = rng.nextInt(below: experts)
                while second == first { second = rng.nextInt(below: experts) }
                cells.append([first, second])
            }
            list.append(Token(experts: cells))
        }
        return trace(list, layers: layers, experts: experts)
    }

    static func run(_ trace: String, layers: Int = 2, experts: Int = 4, cache: String = "lru-per-layer:1", prefetch: String,
                    seed: UInt64 = 1, initialFill: ExpertCache.InitialFill = .highestIndex,
                    hardware: String = Fixtures.hardware(), runtime: String = Fixtures.runtime(), tracePath: String? = nil) throws -> Report {
        let modelPath = Fixtures.write(model(layers: layers, experts: experts), name: "toy-model.json")
        let files = Fixtures.toyFiles(hardware: hardware, runtime: runtime)
        var config = SimulationConfig(hardware: try HardwareCatalog.load(path: files.hardware), model: try ModelCatalog.load(path: modelPath),
                                      quantization: try QuantizationCatalog.resolve("fp16"), runtime: try RuntimeCatalog.load(path: files.runtime),
                                      cache: try CacheSpec.parse(cache), prefetch: prefetch, initialFill: initialFill, kvReserveTokens: 0, seed: seed)
        config.beladyReference = false
        let path = tracePath ?? Fixtures.write(trace, name: "t.moetrace.jsonl")
        return try Fixtures.checkedRun(Simulation(config: config, source: try TracePassSource(path: path)))
    }

    static func close(_ x: Double, _ y: Double, _ tolerance: Double = 1e-12) -> Bool { abs(x - y) <= tolerance }

    /// Bytes of every prefetch are accounted once: used, moved unused, or cancelled before moving.
    static func expectBytesAddUp(_ r: Report, sourceLocation: SourceLocation = #_sourceLocation) {
        let p = r.prefetch
        #expect(close(p.usefulBytes + p.wastedBytes + p.cancelledBytes, p.issuedBytes, 1e-3), sourceLocation: sourceLocation)
        #expect(close(r.link.prefetchBytes, p.issuedBytes - p.cancelledBytes, 1e-3), sourceLocation: sourceLocation)
        #expect(close(p.issuedBytes, Double(p.issued * r.sizes.expertBytes)), sourceLocation: sourceLocation)
        if let layers = p.perLayer {
            #expect(layers.reduce(0) { $0 + $1.issued } == p.issued, sourceLocation: sourceLocation)
            #expect(layers.reduce(0) { $0 + $1.useful } == p.useful, sourceLocation: sourceLocation)
            #expect(layers.reduce(0) { $0 + $1.late } == p.late, sourceLocation: sourceLocation)
            #expect(close(layers.reduce(0) { $0 + $1.wastedBytes }, p.wastedBytes, 1e-3), sourceLocation: sourceLocation)
            #expect(close(layers.reduce(0) { $0 + $1.linkContentionSeconds }, p.linkContentionSeconds), sourceLocation: sourceLocation)
        }
    }

    // MARK: Link disciplines, exact timelines

    /// Layer 0 hits expert 3; the recorded prediction for layer 1 is [0, 2]; layer 1 needs 0 and 1. Both predictions
    /// are issued at layer 0's routing (t = a): 0 lands at a + 20 ms, 2 is queued. At layer 1's routing
    /// (r1 = 2a + 2 ms) expert 0 is still arriving and expert 1 is a miss. FIFO: 1 waits behind the wrong guess 2 and
    /// lands at a + 60 ms; low priority: it overtakes the queued guess and lands at a + 40 ms.
    @Test func lowPriorityLetsAnOnDemandLoadOvertakeAQueuedPrefetch() throws {
        let t = PrefetchTests.trace([Token(experts: [[3], [0, 1]], ahead: [1: [[0, 2], nil]])])
        let spec = "next-layer-gate:predict=ahead,issue=all,wait=off,link="
        let fifo = try PrefetchTests.run(t, prefetch: spec + "fifo")
        let low = try PrefetchTests.run(t, prefetch: spec + "low-priority")
        let a = PrefetchTests.a
        #expect(PrefetchTests.close(fifo.decode.seconds, a + 3 * PrefetchTests.load + PrefetchTests.compute + PrefetchTests.overhead))
        #expect(PrefetchTests.close(low.decode.seconds, a + 2 * PrefetchTests.load + PrefetchTests.compute + PrefetchTests.overhead))
        // The guess lands last under low priority: after the pass.
        #expect(PrefetchTests.close(low.makespanSeconds, a + 3 * PrefetchTests.load))
        for r in [fifo, low] {
            #expect(r.prefetch.issued == 2)
            #expect(r.prefetch.useful == 1)
            #expect(r.prefetch.late == 1)
            #expect(r.cache.onDemandLoads == 1)
            #expect(r.cache.prefetchHits == 1)
            #expect(r.prefetch.accuracy == 0.5)
            #expect(r.prefetch.coverage == 0.5)
            #expect(r.prefetch.wastedBytes == Fixtures.expertBytes)
            #expect(r.prefetch.cancelledBytes == 0)
            #expect(r.prefetch.perLayer?[1].issued == 2)
            PrefetchTests.expectBytesAddUp(r)
        }
        // FIFO: the on-demand load waited the whole 20 ms of the wrong guess's transfer (expert 0 stopped being
        // speculative when layer 1 asked for it). Low priority: it waited only behind expert 0, which was needed.
        #expect(PrefetchTests.close(fifo.prefetch.linkContentionSeconds, PrefetchTests.load))
        #expect(PrefetchTests.close(fifo.prefetch.perLayer![1].linkContentionSeconds, PrefetchTests.load))
        #expect(low.prefetch.linkContentionSeconds == 0)
        #expect(fifo.prefetch.link == "fifo" && low.prefetch.link == "low-priority")
    }

    /// The wrong guess 2 is in flight when layer 1's two misses are issued at r1 = 2a + 2 ms. FIFO and low priority let
    /// it finish (a + 20 ms); preempt suspends it at r1, so the misses land at r1 + 20 and r1 + 40 ms, and the guess's
    /// remaining bytes move afterwards.
    @Test func preemptSuspendsASpeculativeTransferInFlight() throws {
        let t = PrefetchTests.trace([Token(experts: [[3], [0, 1]], ahead: [1: [[2], nil]])])
        let spec = "next-layer-gate:predict=ahead,wait=off,link="
        let a = PrefetchTests.a, r1 = 2 * a + PrefetchTests.compute
        for link in ["fifo", "low-priority"] {
            let r = try PrefetchTests.run(t, prefetch: spec + link)
            #expect(PrefetchTests.close(r.decode.seconds, a + 3 * PrefetchTests.load + PrefetchTests.compute + PrefetchTests.overhead))
            #expect(r.prefetch.preemptions == 0)
            // The first miss waited from r1 until the guess landed.
            #expect(PrefetchTests.close(r.prefetch.linkContentionSeconds, a + PrefetchTests.load - r1))
        }
        let p = try PrefetchTests.run(t, prefetch: spec + "preempt")
        #expect(PrefetchTests.close(p.decode.seconds, r1 + 2 * PrefetchTests.load + PrefetchTests.compute + PrefetchTests.overhead))
        #expect(p.prefetch.preemptions == 1)
        #expect(p.prefetch.linkContentionSeconds == 0)
        // Moved before the preemption: (r1 - a) at 1e8 B/s; the rest after the two loads.
        let remaining = (Fixtures.expertBytes - (r1 - a) * Fixtures.linkBandwidth).rounded(.up)
        #expect(PrefetchTests.close(p.makespanSeconds, r1 + 2 * PrefetchTests.load + remaining / Fixtures.linkBandwidth))
        #expect(p.link.prefetchBytes == Fixtures.expertBytes)
        #expect(p.prefetch.wastedBytes == Fixtures.expertBytes)
        PrefetchTests.expectBytesAddUp(p)
    }

    /// Three recorded predictions [0, 1, 2] for layer 1, which needs only 0. Expert 0 lands at a + 20 ms and layer 1
    /// ends at a + 22 ms; by then guess 1 is moving and guess 2 has not started: a low-priority link cancels it, a
    /// FIFO stream cannot.
    @Test func aPriorityLinkCancelsTheQueuedTransfersOfADroppedPrefetch() throws {
        let t = PrefetchTests.trace([Token(experts: [[3], [0]], ahead: [1: [[0, 1, 2], nil]])])
        let spec = "next-layer-gate:predict=ahead,top=3,issue=all,wait=off,link="
        let fifo = try PrefetchTests.run(t, prefetch: spec + "fifo")
        let low = try PrefetchTests.run(t, prefetch: spec + "low-priority")
        let a = PrefetchTests.a
        for r in [fifo, low] {
            #expect(PrefetchTests.close(r.decode.seconds, a + PrefetchTests.load + PrefetchTests.compute + PrefetchTests.overhead))
            #expect(r.prefetch.issued == 3)
            #expect(r.prefetch.useful == 1)
            #expect(r.prefetch.issuedBytes == 3 * Fixtures.expertBytes)
            PrefetchTests.expectBytesAddUp(r)
        }
        #expect(fifo.prefetch.wastedBytes == 2 * Fixtures.expertBytes)
        #expect(fifo.prefetch.cancelledBytes == 0)
        #expect(PrefetchTests.close(fifo.makespanSeconds, a + 3 * PrefetchTests.load))
        #expect(low.prefetch.wastedBytes == Fixtures.expertBytes)
        #expect(low.prefetch.cancelledBytes == Fixtures.expertBytes)
        #expect(low.link.prefetchBytes == 2 * Fixtures.expertBytes)
        #expect(PrefetchTests.close(low.makespanSeconds, a + 2 * PrefetchTests.load))
    }

    /// AdapMoE's code waits, before layer l's experts run, for the prefetch issued at layer l-1, even a wrong one.
    @Test func waitOnStallsTheGPUForThePreviousLayersPrefetch() throws {
        let t = PrefetchTests.trace([Token(experts: [[3], [3]], ahead: [1: [[2], nil]])])
        let a = PrefetchTests.a, r1 = 2 * a + PrefetchTests.compute
        let off = try PrefetchTests.run(t, prefetch: "next-layer-gate:predict=ahead,wait=off")
        let on = try PrefetchTests.run(t, prefetch: "next-layer-gate:predict=ahead")
        #expect(PrefetchTests.close(off.decode.seconds, r1 + PrefetchTests.compute + PrefetchTests.overhead))
        #expect(PrefetchTests.close(on.decode.seconds, a + PrefetchTests.load + PrefetchTests.compute + PrefetchTests.overhead))
        #expect(PrefetchTests.close(on.prefetch.waitSeconds, a + PrefetchTests.load - r1))
        #expect(PrefetchTests.close(on.gpu.stallSeconds, on.prefetch.waitSeconds))
        #expect(off.prefetch.waitSeconds == 0)
        #expect(on.prefetch.useful == 0)
    }

    // MARK: Predictions

    @Test func recordedAheadPredictionsAreUsedExactly() throws {
        // The recorded guess for layer 1 is 2 (wrong); a noisy predictor with accuracy 1 would have guessed 0 (right).
        let t = PrefetchTests.trace([Token(experts: [[3], [0]], ahead: [1: [[2], nil]])])
        let auto = try PrefetchTests.run(t, prefetch: "next-layer-gate:accuracy=1,wait=off")
        #expect(auto.prefetch.issued == 1)
        #expect(auto.prefetch.useful == 0)
        #expect(auto.prefetch.notes?.first?.contains("1 from the trace's recorded `ahead`") == true)
        let noisy = try PrefetchTests.run(t, prefetch: "next-layer-gate:accuracy=1,wait=off,predict=noisy")
        #expect(noisy.prefetch.issued == 1)
        #expect(noisy.prefetch.useful == 1)
        // Without `ahead`, predict=ahead has nothing to go on and says so.
        let bare = PrefetchTests.trace([Token(experts: [[3], [0]])])
        let none = try PrefetchTests.run(bare, prefetch: "next-layer-gate:predict=ahead")
        #expect(none.prefetch.issued == 0)
        #expect(none.prefetch.notes?.first?.contains("unavailable") == true)
    }

    /// Four layers, one cached expert each (expert 3). The token needs 3, 3, 0, 3. Only the layer-0 prediction two
    /// layers ahead names expert 0 of layer 2 (the one-layer-ahead prediction made at layer 1 says 3).
    @Test func depthGoesDeeperOnlyWhenTheNextLayerIsResident() throws {
        func token(nextLayerGuess: Int) -> Token {
            Token(experts: [[3], [3], [0], [3]],
                  ahead: [1: [[nextLayerGuess], [3], [3], nil], 2: [[0], [3], nil, nil], 3: [[3], nil, nil, nil]])
        }
        func run(_ guess: Int, _ depth: Int) throws -> Report {
            try PrefetchTests.run(PrefetchTests.trace([token(nextLayerGuess: guess)], layers: 4), layers: 4,
                                  prefetch: "next-layer-gate:predict=ahead,issue=all,wait=off,depth=\(depth)")
        }
        // Layer 1's guess (3) is resident: depth 1 issues nothing, depth 3 goes on to layer 2 and issues expert 0.
        #expect(try run(3, 1).prefetch.issued == 0)
        let deep = try run(3, 3)
        #expect(deep.prefetch.perLayer!.map(\.issued) == [0, 0, 1, 0])
        #expect(deep.prefetch.useful == 1)
        #expect(deep.cache.onDemandLoads == 0)
        // Layer 1's guess (1) is missing: depth 3 issues it and stops there.
        let stopped = try run(1, 3)
        #expect(stopped.prefetch.perLayer!.map(\.issued) == [0, 1, 0, 0])
        #expect(stopped.cache.onDemandLoads == 1)
    }

    @Test func issueCapsTheExpertsPerLayer() throws {
        let t = PrefetchTests.trace([Token(experts: [[3], [0, 1]], ahead: [1: [[0, 1], nil]])])
        let one = try PrefetchTests.run(t, prefetch: "next-layer-gate:predict=ahead,wait=off")
        #expect(one.prefetch.issued == 1)
        #expect(one.cache.onDemandLoads == 1)
        let two = try PrefetchTests.run(t, prefetch: "next-layer-gate:predict=ahead,wait=off,issue=2")
        #expect(two.prefetch.issued == 2)
        #expect(two.cache.onDemandLoads == 0)
        // Across a random trace, never more than N per layer and pass.
        let random = PrefetchTests.randomTrace(seed: 3, tokens: 30, layers: 4, experts: 8)
        for n in [1, 2] {
            let r = try PrefetchTests.run(random, layers: 4, experts: 8, cache: "lru-per-layer:2",
                                          prefetch: "next-layer-gate:accuracy=0.7,top=4,issue=\(n),wait=off")
            #expect(r.prefetch.issued <= n * 30 * 3)
            #expect(r.prefetch.issued > 30)
            PrefetchTests.expectBytesAddUp(r)
        }
    }

    // MARK: Admission

    /// Layer 1 starts with 2 then 3 cached (2 most recent); token 1 uses 3, so 2 is least recently used (and 3 the
    /// oldest admitted). The prefetched expert 0 lands during token 2's layer-0 miss. With admit=cache it evicts by the
    /// cache policy: LRU drops 2, FIFO drops 3; token 2's layer 1 then needs 0 and 2. Staged instead, it is dropped
    /// unused after token 1, and token 2's miss on 0 evicts 2 before 2 is asked for.
    @Test func insertIntoCacheEvictsByTheCachePolicy() throws {
        let t = PrefetchTests.trace([Token(experts: [[3], [3]], ahead: [1: [[0], nil]]), Token(experts: [[1], [0, 2]])])
        let spec = "next-layer-gate:predict=ahead,wait=off,admit="
        let lru = try PrefetchTests.run(t, cache: "lru-per-layer:2", prefetch: spec + "cache")
        #expect(lru.prefetch.useful == 1)
        #expect(lru.cache.perLayerHitRate[1] == 2.0 / 3)
        #expect(lru.cache.onDemandLoads == 2)
        #expect(lru.cache.prefetchHits == 0)
        #expect(lru.prefetch.admission == "cache")
        let fifo = try PrefetchTests.run(t, cache: "fifo-per-layer:2", prefetch: spec + "cache")
        #expect(fifo.prefetch.useful == 1)
        #expect(fifo.cache.perLayerHitRate[1] == 1)
        #expect(fifo.cache.onDemandLoads == 1)
        let buffer = try PrefetchTests.run(t, cache: "lru-per-layer:2", prefetch: spec + "buffer")
        #expect(buffer.prefetch.useful == 0)
        #expect(buffer.cache.perLayerHitRate[1] == 1.0 / 3)
        #expect(buffer.cache.onDemandLoads == 3)
        for r in [lru, fifo, buffer] { PrefetchTests.expectBytesAddUp(r) }
    }

    // MARK: Properties on random traces

    @Test func accuracyOneLoadsExactlyWhatTheNextLayerOracleLoads() throws {
        for seed in [UInt64(1), 2] {
            let t = PrefetchTests.randomTrace(seed: seed, tokens: 40, layers: 4, experts: 8)
            let gate = try PrefetchTests.run(t, layers: 4, experts: 8, cache: "lru-per-layer:3",
                                             prefetch: "next-layer-gate:predict=noisy,accuracy=1,issue=all,wait=off")
            let oracle = try PrefetchTests.run(t, layers: 4, experts: 8, cache: "lru-per-layer:3", prefetch: "oracle-next-layer")
            #expect(gate.cache.onDemandLoads == oracle.cache.onDemandLoads)
            #expect(gate.prefetch.issued == oracle.prefetch.issued)
            #expect(gate.prefetch.useful == gate.prefetch.issued)
            #expect(gate.decode.seconds == oracle.decode.seconds)
        }
    }

    @Test func accuracyZeroPrefetchesAreNeverUseful() throws {
        let t = PrefetchTests.randomTrace(seed: 4, tokens: 40, layers: 4, experts: 8)
        let r = try PrefetchTests.run(t, layers: 4, experts: 8, cache: "lru-per-layer:3",
                                      prefetch: "next-layer-gate:predict=noisy,accuracy=0,issue=all,wait=off")
        #expect(r.prefetch.issued > 0)
        #expect(r.prefetch.useful == 0)
        #expect(r.prefetch.wastedBytes == r.prefetch.issuedBytes)
        PrefetchTests.expectBytesAddUp(r)
    }

    @Test func theSameSeedGivesTheSameBytesAndAnotherSeedOtherGuesses() throws {
        let t = PrefetchTests.randomTrace(seed: 5, tokens: 40, layers: 4, experts: 8)
        let path = Fixtures.write(t, name: "t.moetrace.jsonl")
        func json(_ seed: UInt64) throws -> String {
            try ReportFormatter.json(try PrefetchTests.run(t, layers: 4, experts: 8, cache: "lru-per-layer:3",
                                                       prefetch: "next-layer-gate:accuracy=0.5,issue=all", seed: seed, tracePath: path))
        }
        let a = try json(7), b = try json(7), c = try json(8)
        #expect(a == b)
        #expect(a != c)
    }

    /// The oracle never guesses wrong and, staging in need order, is never slower than no prefetching or a real
    /// predictor, whatever the link discipline.
    @Test func theOracleBoundsTheOtherPolicies() throws {
        for seed in [UInt64(11), 12, 13] {
            let t = PrefetchTests.randomTrace(seed: seed, tokens: 30, layers: 4, experts: 8)
            func latency(_ prefetch: String, cache: String = "lru-per-layer:3") throws -> Report {
                try PrefetchTests.run(t, layers: 4, experts: 8, cache: cache, prefetch: prefetch, seed: seed)
            }
            for cache in ["lru-per-layer:3", "lru-global:8"] {
                let oracle = try latency("oracle", cache: cache)
                #expect(oracle.prefetch.useful == oracle.prefetch.issued)
                PrefetchTests.expectBytesAddUp(oracle)
                for other in ["none", "next-layer-gate:accuracy=0.8", "next-layer-gate:accuracy=0.8,issue=all,wait=off,link=low-priority",
                              "oracle-next-layer"] {
                    let r = try latency(other, cache: cache)
                    #expect(oracle.decode.seconds <= r.decode.seconds + 1e-12, "seed \(seed) \(cache): oracle vs \(other)")
                    PrefetchTests.expectBytesAddUp(r)
                }
            }
        }
    }

    @Test func metricsAddUpOnEveryLinkAndAdmission() throws {
        let t = PrefetchTests.randomTrace(seed: 21, tokens: 30, layers: 4, experts: 8)
        let oneEngine = Fixtures.hardware(copyEngines: 1)
        for link in ["fifo", "low-priority", "preempt"] {
            for admit in ["buffer", "cache"] {
                for prefetch in ["next-layer-gate:accuracy=0.6,top=3,issue=all,depth=3,link=\(link),admit=\(admit)",
                                 "oracle:link=\(link),admit=\(admit),buffers=2"] {
                    let r = try PrefetchTests.run(t, layers: 4, experts: 8, cache: "lru-per-layer:2", prefetch: prefetch, hardware: oneEngine,
                                                  runtime: Fixtures.runtime(writeBack: true, pipelining: true))
                    PrefetchTests.expectBytesAddUp(r)
                    #expect(r.prefetch.issued > 0)
                    #expect(r.memory.transferBufferBytes == Double((4 + (prefetch.hasPrefix("oracle") ? 2 : 4))) * Fixtures.expertBytes)
                }
            }
        }
    }

    // MARK: Options and errors

    @Test func badSpecsAreOneLineErrorsNamingTheOption() {
        let files = Fixtures.toyFiles()
        let trace = Fixtures.write(Fixtures.trace([[[0, 1], [2, 3]]]), name: "t.moetrace.jsonl")
        func sim(_ extra: [String]) -> (code: Int32, out: String, err: String) {
            Fixtures.sim(["--trace", trace, "--hardware", files.hardware, "--model", files.model, "--runtime", files.runtime]
                         + (extra.contains("--cache") ? [] : ["--cache", "lru-per-layer:2"]) + extra)
        }
        let cases: [([String], [String])] = [
            (["--prefetch", "next-layer-gate"], ["field '--prefetch'", "no adapmoeProfile", "accuracy=NUMBER"]),
            (["--prefetch", "next-layer-gate:deep=2"], ["unknown option 'deep'", "depth=1..3"]),
            (["--prefetch", "next-layer-gate:depth=4,accuracy=1"], ["depth=1..3", "'depth=4'"]),
            (["--prefetch", "oracle:link=urgent"], ["link=fifo|low-priority|preempt"]),
            (["--prefetch", "next-layer-gate:accuracy=1.5"], ["accuracy=profile|NUMBER"]),
            (["--prefetch", "none:depth=1"], ["none takes no options"]),
            (["--prefetch", "oracle:admit=cache", "--cache", "belady-per-layer:2"], ["admit=cache", "belady"]),
            (["--seed", "abc"], ["field '--seed'", "'abc'"]),
        ]
        for (args, needles) in cases {
            let r = sim(args)
            #expect(r.code != 0, "\(args)")
            #expect(r.err.filter { $0 == "\n" }.count == 1, "\(args): \(r.err)")
            for needle in needles { #expect(r.err.contains(needle), "'\(needle)' missing from: \(r.err)") }
        }
    }

    @Test func reportsShowPrefetchMetricsWhenAPolicySpeculates() throws {
        let files = Fixtures.toyFiles()
        let trace = Fixtures.write(Fixtures.trace([[[0, 1], [2, 3]], [[1, 2], [0, 3]]]), name: "t.moetrace.jsonl")
        let base = ["--trace", trace, "--hardware", files.hardware, "--model", files.model, "--runtime", files.runtime, "--cache", "lru-per-layer:2"]
        let text = Fixtures.sim(base + ["--prefetch", "oracle"])
        #expect(text.code == 0, "\(text.err)")
        #expect(text.out.contains("Prefetch   "))
        #expect(text.out.contains("coverage"))
        #expect(text.out.contains("Prefetch accuracy by layer  0:"))
        #expect(text.out.contains("behind speculative transfers"))
        let plain = Fixtures.sim(base)
        #expect(!plain.out.contains("Prefetch"))
        let json = Fixtures.sim(base + ["--prefetch", "next-layer-gate:accuracy=0.9", "--seed", "3", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any])
        let prefetch = try #require(object["prefetch"] as? [String: Any])
        #expect((prefetch["perLayer"] as? [Any])?.count == 2)
        #expect(prefetch["linkContentionSeconds"] != nil)
        let csv = Fixtures.sim(base + ["--prefetch", "oracle", "--csv"])
        let lines = csv.out.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines[0].contains("prefetch_accuracy") && lines[0].contains("link_contention_s"))
        #expect(lines[0].split(separator: ",").count == lines[1].split(separator: ",", omittingEmptySubsequences: false).count)
    }

    // MARK: The real trace

    /// HumanEval decode (its first 120 tokens, to stay fast) on an RTX 4090, 4-bit experts, 4 of 8 cached per layer:
    /// the oracle is the fastest, the next-layer oracle next, and AdapMoE's released prefetcher beats none.
    @Test(.enabled(if: Fixtures.sharedTracesAvailable, "../shared/traces is absent"))
    func realTraceOrdersThePolicies() throws {
        let full = try String(contentsOfFile: Fixtures.sharedTrace("humaneval-decode.moetrace.jsonl"), encoding: .utf8)
        var lines: [Substring] = []
        var tokens = 0
        for line in full.split(separator: "\n") where tokens < 120 {
            lines.append(line)
            if line.contains("\"phase\"") { tokens += 1 }
        }
        let path = Fixtures.write(lines.joined(separator: "\n") + "\n", name: "humaneval-head.moetrace.jsonl")
        let model = try ModelCatalog.resolve("mixtral-8x7b")
        func run(_ prefetch: String) throws -> Report {
            var config = SimulationConfig(hardware: try HardwareCatalog.resolve("rtx4090"), model: model,
                                          quantization: try QuantizationCatalog.resolve("hqq4"), runtime: try RuntimeCatalog.resolve("hf-eager"),
                                          cache: try CacheSpec.parse("lru-per-layer:4"), prefetch: prefetch)
            config.beladyReference = false
            return try Fixtures.checkedRun(Simulation(config: config, source: try TracePassSource(path: path)))
        }
        let none = try run("none"), gate = try run("next-layer-gate"), nextOracle = try run("oracle-next-layer"), oracle = try run("oracle")
        let mean = { (r: Report) in r.decode.latency!.meanSeconds }
        #expect(mean(oracle) <= mean(nextOracle))
        #expect(mean(nextOracle) <= mean(none))
        #expect(mean(gate) < mean(none))
        #expect(oracle.prefetch.accuracy == 1)
        // The measured a_l (mean 0.866) shows through: most issued guesses are used.
        #expect(gate.prefetch.accuracy! > 0.7)
        for r in [gate, nextOracle, oracle] { PrefetchTests.expectBytesAddUp(r) }
    }
}
