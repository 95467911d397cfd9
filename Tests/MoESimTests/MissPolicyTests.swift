import Foundation
import Testing
@testable import MoESim

/// Each miss policy's decision rule on hand-worked toy schedules (`Fixtures`: a load takes 20 ms, an expert computes in
/// 2 ms on the GPU). The toy host here has 2e8 B/s of DRAM bandwidth and 1e9 flop/s, both fully reached, so one expert
/// (2e6 B, 2e6 flops per token, plus 2e6 flop-equivalents to turn its fp16 weights into fp32) takes
/// max(10 ms, 2 ms x (tokens + 1)) on the CPU; a token's activations (1000 fp16 values,
/// 2000 B) cross the 1e8 B/s link in 20 us each way.
struct MissPolicyTests {
    static let load = Fixtures.loadSeconds
    static let gpu = Fixtures.expertSeconds
    static let overhead = Fixtures.passOverheadSeconds
    static let cpu = 0.01
    static let copy = 2e-5

    static let hostBandwidth = #""memoryBandwidthBytesPerSecond":{"value":1e11,"source":"test"}"#
    static let hostCPU = #""cpuFlopsPerSecond":{"value":1e12,"source":"test"},"cpuCores":{"value":8,"source":"test"}"#

    /// The toy hardware with the CPU above (optionally offloading to storage, where the CPU holds no copy).
    static func hardware(storage: Bool = false) -> String {
        let h = Fixtures.hardware()
        precondition(h.contains(hostBandwidth) && h.contains(hostCPU), "the fixture's host section changed")
        var out = h.replacingOccurrences(of: hostBandwidth, with: #""memoryBandwidthBytesPerSecond":{"value":2e8,"source":"test"}"#)
            .replacingOccurrences(of: hostCPU, with: #""cpuFlopsPerSecond":{"value":1e9,"source":"test"},"cpuCores":{"value":8,"source":"test"},"cpuAchievedMemoryBandwidthFraction":{"value":1,"source":"test"},"cpuAchievedComputeFraction":{"value":1,"source":"test"}"#)
        if storage {
            out = out.replacingOccurrences(of: #""offloadTier":"host""#, with: #""offloadTier":"storage","storage":{"name":"toy flash","readBytesPerSecond":{"value":1e8,"source":"test"},"setupLatencySeconds":{"value":0,"source":"test"}}"#)
        }
        return out
    }

    /// A toy trace whose cells carry the given weights (`weights[t][l]`, default 0.75/0.25 as `Fixtures.trace`).
    static func trace(_ tokens: [[[Int]]], weights: [[[Double]]]? = nil, phase: String = "decode") -> String {
        var lines = [Fixtures.header, #"{"request":"r0"}"#]
        for (t, layers) in tokens.enumerated() {
            let experts = "[" + layers.map { "[" + $0.map(String.init).joined(separator: ",") + "]" }.joined(separator: ",") + "]"
            let w = "[" + layers.enumerated().map { l, cell in
                let values = weights?[t][l] ?? (cell.count == 2 ? [0.75, 0.25] : [1.0])
                return "[" + values.map { "\($0)" }.joined(separator: ",") + "]"
            }.joined(separator: ",") + "]"
            lines.append(#"{"request":"r0","phase":"\#(phase)","pos":\#(t),"experts":\#(experts),"weights":\#(w)}"#)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Runs the toy with `--check`'s checker and a timeline of every pass.
    static func run(_ trace: String, cache: String = "none", miss: String, prefetch: String = "none", layers: Int = 2,
                    hardware: String = MissPolicyTests.hardware()) throws -> (report: Report, timeline: TimelineRecorder) {
        let modelPath = Fixtures.write(PrefetchTests.model(layers: layers, experts: 4), name: "toy-model.json")
        let files = Fixtures.toyFiles(hardware: hardware)
        var config = SimulationConfig(hardware: try HardwareCatalog.load(path: files.hardware), model: try ModelCatalog.load(path: modelPath),
                                      quantization: try QuantizationCatalog.resolve("fp16"), runtime: try RuntimeCatalog.load(path: files.runtime),
                                      cache: try CacheSpec.parse(cache), prefetch: prefetch, initialFill: .empty, kvReserveTokens: 0)
        config.miss = miss
        config.beladyReference = false
        let simulation = try Simulation(config: config, source: try TracePassSource(path: Fixtures.write(trace, name: "t.moetrace.jsonl")))
        let checker = InvariantChecker(simulation: simulation)
        let timeline = TimelineRecorder(simulation: simulation, range: PassRange(first: 0, last: 1000))
        simulation.observer = ObserverFanout([checker, timeline])
        let report = try simulation.run()
        try checker.verify(report: report)
        return (report, timeline)
    }

    static func close(_ x: Double, _ y: Double, _ tolerance: Double = 1e-12) -> Bool { abs(x - y) <= tolerance }

    /// When the attention slice of `layer` in `pass` ends: that layer's routing time.
    static func routed(_ timeline: TimelineRecorder, pass: Int = 0, layer: Int) -> Double {
        timeline.slices.first { $0.kind == .compute(.attention) && $0.pass == pass && $0.layer == layer }!.end
    }

    // MARK: Fiddler

    /// Batch-1 decode, nothing cached: cpu_lat(1) = 10 ms + 2 x 20 us < gpu_lat + trans_lat = 22 ms, so all four experts
    /// run on the CPU, one after the other: per layer 20 us of activations out, 2 x 10 ms, 20 us back, and the GPU waits.
    @Test func fiddlerRunsBatchOneMissesOnTheCPUAndTheLayerWaitsForIt() throws {
        let (r, timeline) = try MissPolicyTests.run(Fixtures.trace([[[0, 1], [2, 3]]]), miss: "fiddler")
        let a = Fixtures.attentionSeconds(context: 1)
        let layer = MissPolicyTests.copy + 2 * MissPolicyTests.cpu + MissPolicyTests.copy
        #expect(MissPolicyTests.close(r.decode.seconds, 2 * a + 2 * layer + MissPolicyTests.overhead))
        let m = try #require(r.miss)
        #expect(m.ranOnCPU == 4 && m.loaded == 0 && m.misses == 4)
        #expect(r.link.h2dBytes == 0 && r.cache.onDemandLoads == 0)
        #expect(MissPolicyTests.close(m.cpu!.busySeconds, 4 * MissPolicyTests.cpu))
        #expect(MissPolicyTests.close(m.cpu!.gpuWaitSeconds, 2 * layer))
        #expect(MissPolicyTests.close(r.gpu.stallSeconds, 2 * layer))
        #expect(m.cpu!.activationBytes == 4 * 2 * 2000)
        #expect(m.quality == nil, "running on the CPU changes no result")
        // The CPU track: layer 1's experts start once layer 0's results are back and its attention has run.
        let cpu = timeline.slices(on: .cpu)
        #expect(cpu.map(\.expert) == [0, 1, 2, 3])
        let r0 = MissPolicyTests.routed(timeline, layer: 0), r1 = MissPolicyTests.routed(timeline, layer: 1)
        #expect(MissPolicyTests.close(cpu[0].start, r0 + MissPolicyTests.copy) && MissPolicyTests.close(cpu[1].end, r0 + MissPolicyTests.copy + 2 * MissPolicyTests.cpu))
        #expect(MissPolicyTests.close(r1, r0 + layer + a))
        #expect(MissPolicyTests.close(cpu[2].start, r1 + MissPolicyTests.copy))
        #expect(timeline.slices.contains { $0.kind == .stall(.cpu) && MissPolicyTests.close($0.end, r0 + layer) })
    }

    /// A prefill pass of 10 tokens: at layer 0 expert 0 has 10 tokens, 1 has 9, 2 has 1; at layer 1 experts 2 and 3
    /// have 10 each. cpu_lat(10) = max(10, 22) ms + 10 x 40 us = 22.4 ms > 22 ms: load; cpu_lat(9) = 20.36 ms: CPU.
    @Test func fiddlerLoadsAnExpertOnceItsTokensMakeTheCPUSlower() throws {
        var tokens: [[[Int]]] = Array(repeating: [[0, 1], [2, 3]], count: 9)
        tokens.append([[0, 2], [2, 3]])
        let (r, timeline) = try MissPolicyTests.run(Fixtures.trace(tokens, phase: "prefill"), miss: "fiddler")
        let m = try #require(r.miss)
        #expect(m.loaded == 3 && m.ranOnCPU == 2)
        #expect(r.link.onDemandLoadBytes == 3 * Fixtures.expertBytes)
        #expect(timeline.slices(on: .cpu).map { "\($0.layer!)/\($0.expert!)/\($0.tokens!)" } == ["0/1/9", "0/2/1"])
        #expect(MissPolicyTests.close(m.cpu!.busySeconds, 2 * MissPolicyTests.cpu + MissPolicyTests.cpu))
        #expect(m.cpu!.activationBytes == 2 * 10 * 2000)
    }

    /// Static placement, one pinned expert per layer (layer 0: expert 0, used twice; layer 1: expert 2). Fiddler's
    /// placement is on the GPU before the run; the static cache loads each on first use, so those misses load and the
    /// rest run on the CPU in parallel. Pass 0: each layer waits for the 20 ms load and its 2 ms compute (the CPU's
    /// 10.04 ms finish earlier). Pass 1: the pinned experts hit (2 ms) and the CPU's 10.04 ms decide each layer.
    @Test func fiddlerLoadsThePinnedExpertsOfAStaticPlacementAndRunsTheRestOnTheCPU() throws {
        let trace = Fixtures.trace([[[0, 1], [2, 3]], [[0, 2], [2, 1]]])
        let (r, _) = try MissPolicyTests.run(trace, cache: "static-per-layer:1", miss: "fiddler")
        let a1 = Fixtures.attentionSeconds(context: 1), a2 = Fixtures.attentionSeconds(context: 2)
        let cpuLayer = MissPolicyTests.copy + MissPolicyTests.cpu + MissPolicyTests.copy
        let pass0 = 2 * (a1 + MissPolicyTests.load + MissPolicyTests.gpu) + MissPolicyTests.overhead
        let pass1 = 2 * (a2 + cpuLayer) + MissPolicyTests.overhead
        #expect(MissPolicyTests.close(r.decode.seconds, pass0 + pass1))
        let m = try #require(r.miss)
        #expect(m.loaded == 2 && m.ranOnCPU == 4 && r.cache.hits == 2)
        #expect(m.notes?.contains { $0.contains("2 misses loaded to place a pinned expert") } == true)
    }

    /// On a device whose offloaded experts live on storage the CPU has no copy: Fiddler loads every miss and says why.
    @Test func fiddlerLoadsEverythingWhereTheCPUHoldsNoCopy() throws {
        let (r, timeline) = try MissPolicyTests.run(Fixtures.trace([[[0, 1], [2, 3]]]), miss: "fiddler",
                                                    hardware: MissPolicyTests.hardware(storage: true))
        #expect(r.miss?.loaded == 4 && r.miss?.ranOnCPU == 0 && r.miss?.cpu == nil)
        #expect(r.miss?.notes?.first?.contains("4 misses loaded: offloaded experts live on storage") == true)
        #expect(timeline.slices(on: .cpu).isEmpty)
    }

    // MARK: HybriMoE

    /// A 6-token prefill, nothing cached. Layer 0: expert 0 has 6 tokens, 1 has 3, 2 has 2, 3 has 1. Loading the k
    /// highest-load experts and running the rest on the CPU finishes at (ms after routing): k = 0, CPU only: 14 + 3 x
    /// 10 + 0.12 + 0.02 = 44.14; k = 1: GPU 20 + 2 = 22, CPU 0.06 + 3 x 10 + 0.02 = 30.08; k = 2: GPU 40 + 2 = 42. So k =
    /// 1. Layer 1 (experts 2 and 3, 6 tokens each): k = 0: 28.24; k = 1: GPU 22, CPU 14.24; k = 2: 42. So k = 1.
    @Test func hybrimoeLoadsTheHighestLoadsAndRunsTheRestOnTheCPUByTheThreeTimelines() throws {
        let tokens: [[[Int]]] = [[[0, 1], [2, 3]], [[0, 1], [2, 3]], [[0, 1], [2, 3]], [[0, 2], [2, 3]], [[0, 2], [2, 3]], [[0, 3], [2, 3]]]
        let (r, timeline) = try MissPolicyTests.run(Fixtures.trace(tokens, phase: "prefill"), miss: "hybrimoe")
        let m = try #require(r.miss)
        #expect(m.loaded == 2 && m.ranOnCPU == 4)
        #expect(MissPolicyTests.close(m.cpu!.busySeconds, 3 * MissPolicyTests.cpu + 0.014))
        let r0 = MissPolicyTests.routed(timeline, layer: 0), r1 = MissPolicyTests.routed(timeline, layer: 1)
        let loads = timeline.slices(on: .h2d)
        #expect(loads.map(\.name) == ["load L0/E0", "load L1/E2"])
        #expect(MissPolicyTests.close(loads[0].start, r0) && MissPolicyTests.close(loads[0].end, r0 + MissPolicyTests.load))
        // The CPU runs experts 1, 2, 3 back to back from the arrival of expert 1's three tokens' activations (60 us).
        let cpu = timeline.slices(on: .cpu)
        #expect(cpu.map { "\($0.layer!)/\($0.expert!)" } == ["0/1", "0/2", "0/3", "1/3"])
        #expect(MissPolicyTests.close(cpu[0].start, r0 + 6e-5) && MissPolicyTests.close(cpu[2].end, r0 + 6e-5 + 3 * MissPolicyTests.cpu))
        // Layer 0 ends with expert 3's results (20 us back); layer 1's attention follows.
        let layer0 = 6e-5 + 3 * MissPolicyTests.cpu + MissPolicyTests.copy
        #expect(r1 > r0 + layer0)
        #expect(timeline.slices.contains { $0.kind == .stall(.cpu) && $0.layer == 0 && MissPolicyTests.close($0.start, r0 + MissPolicyTests.load + MissPolicyTests.gpu) && MissPolicyTests.close($0.end, r0 + layer0) })
        // Layer 1: the load of expert 2 (20 + 2 ms on the GPU) outlasts the CPU's expert 3 (0.12 + 14 + 0.12 ms).
        #expect(MissPolicyTests.close(cpu[3].start, r1 + 1.2e-4) && MissPolicyTests.close(cpu[3].end, r1 + 1.2e-4 + 0.014))
        #expect(!timeline.slices.contains { $0.kind == .stall(.cpu) && $0.layer == 1 })
        #expect(timeline.slices.contains { $0.kind == .compute(.expert) && $0.layer == 1 && $0.expert == 2 && MissPolicyTests.close($0.end, r1 + MissPolicyTests.load + MissPolicyTests.gpu) })
    }

    /// Batch-1 decode, nothing cached, two misses per layer: the CPU alone finishes 20.04 ms after routing; loading one
    /// takes 22 ms (the other on the CPU in parallel), both 42 ms. So both run on the CPU, as under Fiddler.
    @Test func hybrimoeSendsBatchOneMissesToTheCPUWhenThatFinishesFirst() throws {
        let (r, _) = try MissPolicyTests.run(Fixtures.trace([[[0, 1], [2, 3]]]), miss: "hybrimoe")
        #expect(r.miss?.ranOnCPU == 4 && r.miss?.loaded == 0)
        let a = Fixtures.attentionSeconds(context: 1)
        let layer = MissPolicyTests.copy + 2 * MissPolicyTests.cpu + MissPolicyTests.copy
        #expect(MissPolicyTests.close(r.decode.seconds, 2 * a + 2 * layer + MissPolicyTests.overhead))
    }

    /// HybriMoE's prefetch ranks candidates of layers l+1..l+3 by tokens predicted x (1 - 0.05 per extra layer). Two
    /// prefill tokens: at layer 0 token A predicts expert 1 of layer 1 and B expert 2 (impact 1 each); both predict
    /// expert 3 of layer 2 (impact 2 x 0.95 = 1.9). issue=1 takes layer 2's; issue=2 adds layer 1's expert 1 (first
    /// predicted); issue=3 all three.
    @Test func hybrimoePrefetchIssuesTheHighestImpactFirst() throws {
        var lines = [#"{"moe_trace":1,"model":"toy","layers":4,"experts":4,"top_k":2,"weights":"topk"}"#, #"{"request":"r0"}"#]
        for (i, first) in [1, 2].enumerated() {
            lines.append(#"{"request":"r0","phase":"prefill","pos":\#(i),"experts":[[0],[0],[0],[0]],"weights":[[1.0],[1.0],[1.0],[1.0]],"ahead":{"1":[[\#(first)],null,null,null],"2":[[3],null,null,null]}}"#)
        }
        let trace = lines.joined(separator: "\n") + "\n"
        func issued(_ issue: Int) throws -> [Int] {
            let r = try MissPolicyTests.run(trace, cache: "lru-per-layer:2", miss: "load", prefetch: "hybrimoe:predict=ahead,issue=\(issue)", layers: 4).report
            return r.prefetch.perLayer!.map(\.issued)
        }
        #expect(try issued(1) == [0, 0, 1, 0])
        #expect(try issued(2) == [0, 1, 1, 0])
        #expect(try issued(3) == [0, 2, 1, 0])
    }

    // MARK: HOBBIT

    /// Layer 0: experts 0 and 1 with weights 0.75 / 0.25: expert 1's s = 0.75 is in (0.6, 0.9], so its HQQ 4-bit copy
    /// (531,746 B: 500,000 packed + 15,625 scales + 15,625 zeros + 492 scale meta + 4 zero meta) follows expert 0's
    /// 20 ms load over the link in 5.31746 ms and computes in 0.531746 ms. Layer 1: weights 0.95 / 0.05: expert 3's
    /// s = 0.95 > 0.9, so it is skipped; expert 2 loads as usual.
    @Test func hobbitLoadsLowPrecisionOrSkipsByTheCumulativeGateWeight() throws {
        let low = try QuantizationCatalog.resolve("hqq4").expertBytes(try ModelCatalog.load(path: Fixtures.write(Fixtures.model, name: "m.json")))
        #expect(low == 531_746)
        let trace = MissPolicyTests.trace([[[0, 1], [2, 3]]], weights: [[[0.75, 0.25], [0.95, 0.05]]])
        let (r, timeline) = try MissPolicyTests.run(trace, miss: "hobbit")
        let a = Fixtures.attentionSeconds(context: 1)
        let lowLoad = Double(low) / Fixtures.linkBandwidth, lowCompute = Double(low) / Fixtures.memoryBandwidth
        let layer0 = MissPolicyTests.load + lowLoad + lowCompute
        let layer1 = MissPolicyTests.load + MissPolicyTests.gpu
        #expect(MissPolicyTests.close(r.decode.seconds, 2 * a + layer0 + layer1 + MissPolicyTests.overhead))
        let m = try #require(r.miss)
        #expect(m.loaded == 2 && m.loadedLowPrecision == 1 && m.skipped == 1)
        #expect(m.lowPrecisionQuantization == "hqq4" && m.lowPrecisionExpertBytes == low)
        #expect(r.cache.onDemandLoads == 3)
        #expect(r.link.onDemandLoadBytes == 2 * Fixtures.expertBytes + Double(low))
        // Quality proxy: 2 of 4 routed cells; gate mass 0.25 + 0.05 of 2 token-layers.
        let q = try #require(m.quality)
        #expect(q.routedCells == 4 && q.affectedCells == 2 && q.affectedCellFraction == 0.5)
        #expect(MissPolicyTests.close(q.affectedGateMassFraction!, 0.15, 1e-6))
        #expect(q.byAction.map(\.action) == ["low-precision", "skip", "substitute"])
        #expect(MissPolicyTests.close(q.byAction[0].gateMass!, 0.25, 1e-6) && MissPolicyTests.close(q.byAction[1].gateMass!, 0.05, 1e-6))
        #expect(timeline.slices.contains { $0.name == "expert L0/E1 (low precision)" && MissPolicyTests.close($0.seconds, lowCompute) })
        #expect(timeline.slices.contains { $0.name == "load L0/E1 (low precision)" && $0.bytes == low })
        #expect(!timeline.slices.contains { $0.layer == 1 && $0.expert == 3 })
    }

    /// The thresholds move the decision: skip=1 never skips (expert 3 goes low precision); load=0.8 loads expert 1 whole.
    @Test func hobbitThresholdsAreOptions() throws {
        let trace = MissPolicyTests.trace([[[0, 1], [2, 3]]], weights: [[[0.75, 0.25], [0.95, 0.05]]])
        let noSkip = try #require(try MissPolicyTests.run(trace, miss: "hobbit:skip=1").report.miss)
        #expect(noSkip.skipped == 0 && noSkip.loadedLowPrecision == 2)
        let higher = try #require(try MissPolicyTests.run(trace, miss: "hobbit:load=0.8").report.miss)
        #expect(higher.loaded == 3 && higher.loadedLowPrecision == 0 && higher.skipped == 1)
        let hqq2 = try #require(try MissPolicyTests.run(trace, miss: "hobbit:low=hqq2").report.miss)
        #expect(hqq2.lowPrecisionQuantization == "hqq2" && hqq2.lowPrecisionExpertBytes! < 531_746)
    }

    /// A low-precision copy is not cached: the next token's miss of the same expert is decided again.
    @Test func hobbitDoesNotCacheTheLowPrecisionCopy() throws {
        let trace = MissPolicyTests.trace([[[0, 1], [2, 3]], [[0, 1], [2, 3]]], weights: [[[0.75, 0.25], [0.5, 0.5]], [[0.75, 0.25], [0.5, 0.5]]])
        let (r, _) = try MissPolicyTests.run(trace, cache: "lru-per-layer:2", miss: "hobbit")
        // Token 0 caches experts 0, 2 and 3; expert 1 (low precision) is not cached and misses again at token 1.
        #expect(r.cache.hits == 3)
        #expect(r.miss?.loadedLowPrecision == 2 && r.miss?.loaded == 3)
    }

    // MARK: BuddyMoE

    /// Profile (the first 2 tokens): at layer 0 expert 0 co-occurs with 1 and with 2; at layer 1 experts 0 and 1
    /// co-occur. Token 0 loads all four; token 1 hits 0 and loads 2 (its buddy 0 is routed too), evicting 1; token 2
    /// routes [2, 1] at layer 0: 1 misses, ranks second, and its buddy 0 is cached and not routed, so 0 runs in its place.
    @Test func buddymoeSubstitutesACachedBuddyForALowRankedMiss() throws {
        let trace = Fixtures.trace([[[0, 1], [0, 1]], [[0, 2], [0, 1]], [[2, 1], [0, 1]]])
        let (r, timeline) = try MissPolicyTests.run(trace, cache: "lru-per-layer:2", miss: "buddymoe:prefix=2")
        let m = try #require(r.miss)
        #expect(m.substituted == 1 && m.loaded == 5)
        #expect(r.cache.onDemandLoads == 5 && r.link.onDemandLoadBytes == 5 * Fixtures.expertBytes)
        let a: (Int) -> Double = { Fixtures.attentionSeconds(context: $0) }
        let pass0 = 2 * (a(1) + 2 * MissPolicyTests.load + MissPolicyTests.gpu)
        let pass1 = a(2) + MissPolicyTests.load + MissPolicyTests.gpu + a(2) + 2 * MissPolicyTests.gpu
        let pass2 = 2 * (a(3) + 2 * MissPolicyTests.gpu)
        #expect(MissPolicyTests.close(r.decode.seconds, pass0 + pass1 + pass2 + 3 * MissPolicyTests.overhead))
        #expect(timeline.slices.contains { $0.pass == 2 && $0.name == "expert L0/E0 (in place of E1)" })
        let q = try #require(m.quality)
        #expect(q.routedCells == 12 && q.affectedCells == 1)
        #expect(MissPolicyTests.close(q.affectedGateMassFraction!, 0.25 / 6, 1e-9))
    }

    /// A token's top-1 expert is never substituted (rank=1, the default); rank=0 allows it.
    @Test func buddymoeKeepsATokensTopExpertUnlessTold() throws {
        let trace = Fixtures.trace([[[0, 1], [0, 1]], [[0, 2], [0, 1]], [[1, 2], [0, 1]]])
        let kept = try MissPolicyTests.run(trace, cache: "lru-per-layer:2", miss: "buddymoe:prefix=2").report
        #expect(kept.miss?.substituted == 0)
        let allowed = try MissPolicyTests.run(trace, cache: "lru-per-layer:2", miss: "buddymoe:prefix=2,rank=0").report
        #expect(allowed.miss?.substituted == 1)
    }

    /// Experts 1, 2 and 3 each have expert 0 as their only buddy. Token 3 misses 1 and 2 while 0 is cached: 0 stands in
    /// for 1, and not again for 2 (the token would get its output twice), which is loaded.
    @Test func buddymoeLetsABuddyStandInOnceALayer() throws {
        let trace = Fixtures.trace([[[0, 1], [0, 1]], [[0, 2], [0, 1]], [[0, 3], [0, 1]], [[1, 2], [0, 1]]])
        let (r, timeline) = try MissPolicyTests.run(trace, cache: "lru-per-layer:2", miss: "buddymoe:prefix=3,rank=0")
        #expect(r.miss?.substituted == 1)
        #expect(timeline.slices.filter { $0.pass == 3 && $0.kind == .compute(.expert) && $0.layer == 0 }.map(\.name)
            == ["expert L0/E0 (in place of E1)", "expert L0/E2"])
    }

    @Test func coActivationBuddiesRankByCountThenId() throws {
        let path = Fixtures.write(Fixtures.trace([[[0, 1], [0, 1]], [[0, 2], [3, 1]], [[2, 0], [1, 3]]]), name: "t.moetrace.jsonl")
        let profile = try CoActivationProfile(source: try TracePassSource(path: path), prefixTokens: 10, maxBuddies: 2)
        #expect(profile.tokens == 3)
        #expect(profile.buddies[0] == [2, 1])
        #expect(profile.buddies[4 + 1] == [3, 0])
        #expect(profile.buddies[4 + 2] == [])
        #expect(profile.count(layer: 1, 1, 3) == 2)
    }
}
