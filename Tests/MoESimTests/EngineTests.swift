import Foundation
import Testing
@testable import MoESim

/// Hand-worked timelines on the toy fixtures (see `Fixtures` for the round numbers).
struct EngineTests {
    let threeTokens: [[[Int]]] = [[[0, 1], [2, 3]], [[1, 2], [0, 3]], [[0, 3], [1, 2]]]

    @Test func allResidentMovesNoBytesAndRunsAtTheComputeFloor() throws {
        let report = try Fixtures.simulate(Fixtures.trace(threeTokens), cache: "all-resident")
        #expect(report.link.h2dBytes == 0)
        #expect(report.link.d2hBytes == 0)
        #expect(report.cache.hits == report.cache.accesses)
        #expect(report.gpu.stallSeconds == 0)
        // Token at position p has context p + 1: two layers of attention plus two resident experts each, then the pass step.
        var expectedTotal = 0.0
        for p in 0..<3 {
            expectedTotal += 2 * (Fixtures.attentionSeconds(context: p + 1) + 2 * Fixtures.expertSeconds) + Fixtures.passOverheadSeconds
        }
        #expect(abs(report.decode.seconds - expectedTotal) < 1e-12)
        #expect(abs(report.decode.latency!.meanSeconds - expectedTotal / 3) < 1e-12)
    }

    @Test func noCacheLoadsEverySelectedExpertAndIsLinkBound() throws {
        let report = try Fixtures.simulate(Fixtures.trace(threeTokens), cache: "none")
        #expect(report.cache.hits == 0)
        #expect(report.cache.onDemandLoads == 12)
        #expect(report.link.h2dBytes == 12 * Fixtures.expertBytes)
        // Per layer: attention, then two loads back to back on the link; the first expert computes under the
        // second load, so the layer ends one expert-compute after the second arrival.
        var expectedTotal = 0.0
        for p in 0..<3 {
            let layer = 2 * Fixtures.loadSeconds + Fixtures.expertSeconds
            expectedTotal += 2 * (Fixtures.attentionSeconds(context: p + 1) + layer) + Fixtures.passOverheadSeconds
        }
        #expect(abs(report.decode.seconds - expectedTotal) < 1e-12)
        // The GPU waited for the first load in full and for the rest of the second.
        let stallPerLayer = Fixtures.loadSeconds + (Fixtures.loadSeconds - Fixtures.expertSeconds)
        #expect(abs(report.gpu.stallSeconds - 6 * stallPerLayer) < 1e-12)
    }

    @Test func residentExpertComputesWhileTheMissingOneLoads() throws {
        // Token 1 hits expert 0 and misses expert 2 at both layers (capacity 2, LRU).
        let trace = Fixtures.trace([[[0, 1], [0, 1]], [[0, 2], [0, 2]]])
        let report = try Fixtures.simulate(trace, cache: "lru-per-layer:2")
        #expect(report.cache.hits == 2)
        #expect(report.decode.latency!.count == 2)
        // Overlap: the load (20 ms) hides the resident expert's compute (2 ms); the layer takes load + one compute.
        let secondToken = 2 * (Fixtures.attentionSeconds(context: 2) + Fixtures.loadSeconds + Fixtures.expertSeconds) + Fixtures.passOverheadSeconds
        let firstToken = 2 * (Fixtures.attentionSeconds(context: 1) + 2 * Fixtures.loadSeconds + Fixtures.expertSeconds) + Fixtures.passOverheadSeconds
        #expect(abs(report.decode.seconds - (firstToken + secondToken)) < 1e-12)
    }

    @Test func prefetchHidesExactlyTheComputeBeforeUse() throws {
        // One token: layer 0 needs 0,1; layer 1 needs 2,3. Without a cache every expert is loaded.
        let trace = Fixtures.trace([[[0, 1], [2, 3]]])
        let plain = try Fixtures.simulate(trace, cache: "none")
        let prefetched = try Fixtures.simulate(trace, cache: "none", prefetch: "oracle-next-layer")
        #expect(prefetched.prefetch.issued == 2)
        #expect(prefetched.prefetch.useful == 2)
        #expect(prefetched.prefetch.late == 2)
        #expect(prefetched.cache.onDemandLoads == 2)
        #expect(prefetched.link.h2dBytes == plain.link.h2dBytes)
        // Without prefetch the link idles from the last layer-0 load's arrival until layer 1's routing: one expert
        // compute plus layer 1's attention. Prefetched loads start right after layer 0's loads, so exactly that
        // idle time is saved (the link is the bottleneck before and after).
        let saved = plain.decode.seconds - prefetched.decode.seconds
        #expect(abs(saved - (Fixtures.expertSeconds + Fixtures.attentionSeconds(context: 1))) < 1e-12)
    }

    @Test func writeBackSharesASingleCopyEngine() throws {
        // Capacity 1: the second miss evicts the first expert; a write-back-first swap queues its write-back between
        // the two loads.
        let trace = Fixtures.trace([[[0, 1], [0, 1]]])
        let report = try Fixtures.simulate(trace, cache: "lru-per-layer:1", hardware: Fixtures.hardware(copyEngines: 1),
                                           runtime: Fixtures.runtime(writeBack: true, extra: ["swapOrder": Fixtures.field(#""write-back-first""#)]))
        #expect(report.link.writeBackBytes == 2 * Fixtures.expertBytes)
        let layer = 3 * Fixtures.loadSeconds + Fixtures.expertSeconds
        let expected = 2 * (Fixtures.attentionSeconds(context: 1) + layer) + Fixtures.passOverheadSeconds
        #expect(abs(report.decode.seconds - expected) < 1e-12)
    }

    @Test func bytesOverTheLinkEqualLoadsTimesExpertSize() throws {
        let trace = Fixtures.trace(threeTokens + threeTokens)
        for cache in ["none", "lru-per-layer:1", "lru-per-layer:2", "lru-global:3"] {
            let r = try Fixtures.simulate(trace, cache: cache)
            #expect(r.link.onDemandLoadBytes == Double(r.cache.onDemandLoads) * Fixtures.expertBytes, "cache \(cache)")
            #expect(r.cache.hits + r.cache.onDemandLoads == r.cache.accesses, "cache \(cache)")
        }
    }

    @Test func peakMemoryAddsUpItsParts() throws {
        let r = try Fixtures.simulate(Fixtures.trace(threeTokens), cache: "lru-per-layer:2")
        let m = r.memory
        #expect(m.expertCacheBytes == 4 * Fixtures.expertBytes)
        #expect(m.transferBufferBytes == 4 * Fixtures.expertBytes)
        #expect(m.peakKVCacheBytes == 3 * 2 * 4)
        #expect(m.peakDeviceBytes == m.residentWeightBytes + m.expertCacheBytes + m.transferBufferBytes + m.peakKVCacheBytes + m.runtimeReservedBytes)
    }

    @Test func prefillBatchLoadsEachDistinctExpertOnceAndSetsTimeToFirstToken() throws {
        // Three prompt tokens share expert 0 at layer 0; distinct experts per layer are accessed once per pass.
        var lines = [Fixtures.header, #"{"request":"r0"}"#]
        let cells = [[[0, 1], [2, 3]], [[0, 2], [2, 3]], [[0, 1], [3, 1]]]
        for (i, c) in cells.enumerated() {
            lines.append(#"{"request":"r0","phase":"prefill","pos":\#(i),"experts":[[\#(c[0][0]),\#(c[0][1])],[\#(c[1][0]),\#(c[1][1])]],"weights":[[0.75,0.25],[0.75,0.25]]}"#)
        }
        lines.append(#"{"request":"r0","phase":"decode","pos":3,"experts":[[0,1],[2,3]],"weights":[[0.75,0.25],[0.75,0.25]]}"#)
        let r = try Fixtures.simulate(lines.joined(separator: "\n") + "\n", cache: "none")
        #expect(r.prefill.passes == 1)
        #expect(r.prefill.tokens == 3)
        #expect(r.decode.tokens == 1)
        // Prefill: layer 0 needs {0,1,2}, layer 1 needs {2,3,1}: 6 loads; decode: 4 more.
        #expect(r.cache.accesses == 10)
        #expect(r.cache.onDemandLoads == 10)
        #expect(r.timeToFirstToken?.count == 1)
        #expect(abs(r.timeToFirstToken!.meanSeconds - r.prefill.seconds) < 1e-15)
    }

    @Test func sameInputsGiveByteIdenticalJSON() throws {
        let trace = Fixtures.write(Fixtures.trace(threeTokens + threeTokens), name: "t.moetrace.jsonl")
        let files = Fixtures.toyFiles()
        let args = ["--trace", trace, "--hardware", files.hardware, "--model", files.model, "--runtime", files.runtime,
                    "--cache", "lru-global:3", "--prefetch", "oracle-next-layer", "--json"]
        let a = Fixtures.sim(args), b = Fixtures.sim(args)
        #expect(a.code == 0)
        #expect(a.out == b.out)
        #expect(!a.out.isEmpty)
    }
}

struct BufferPoolTests {
    @Test func aSingleLoadBufferSerializesLoadAndCompute() throws {
        // With one buffer the second load may start only once the first expert has been computed.
        let trace = Fixtures.trace([[[0, 1], [2, 3]]])
        let oneBuffer = Fixtures.runtime().replacingOccurrences(of: #""maxInFlightTransfers":{"value":4"#, with: #""maxInFlightTransfers":{"value":1"#)
        let serial = try Fixtures.simulate(trace, cache: "none", runtime: oneBuffer)
        let pooled = try Fixtures.simulate(trace, cache: "none")
        let layerSerial = 2 * (Fixtures.loadSeconds + Fixtures.expertSeconds)
        let layerPooled = 2 * Fixtures.loadSeconds + Fixtures.expertSeconds
        let attention = Fixtures.attentionSeconds(context: 1)
        #expect(abs(serial.decode.seconds - (2 * (attention + layerSerial) + Fixtures.passOverheadSeconds)) < 1e-12)
        #expect(abs(pooled.decode.seconds - (2 * (attention + layerPooled) + Fixtures.passOverheadSeconds)) < 1e-12)
        #expect(serial.cache.onDemandLoads == 4)
        #expect(serial.memory.transferBufferBytes == Fixtures.expertBytes)
    }
}

struct SharedExpertTests {
    /// DeepSeek-V2-Lite has 2 shared experts per layer: they are resident weights, computed every layer, and never
    /// an access, a miss or a load.
    @Test func sharedExpertsAreNeverAccessedOrLoaded() throws {
        let model = try ModelCatalog.resolve("deepseek-v2-lite")
        func run(_ cache: String) throws -> Report {
            var config = SimulationConfig(hardware: try HardwareCatalog.resolve("rtx4090"), model: model,
                                          quantization: try QuantizationCatalog.resolve("hqq4"), runtime: try RuntimeCatalog.resolve("tuned"),
                                          cache: try CacheSpec.parse(cache), initialFill: .empty)
            config.beladyReference = false
            return try Simulation(config: config, source: SyntheticPassSource(model: model, tokens: 12, seed: 5)).run()
        }
        let none = try run("none")
        let routedAccesses = none.cache.accesses
        #expect(none.cache.onDemandLoads == routedAccesses)
        #expect(routedAccesses == 12 * model.moeLayers * model.topK)
        #expect(none.link.onDemandLoadBytes == Double(routedAccesses * none.sizes.expertBytes))
        let resident = try run("all-resident")
        #expect(resident.link.h2dBytes == 0)
        // Shared experts are part of the resident weights.
        let q = try QuantizationCatalog.resolve("hqq4")
        #expect(resident.sizes.residentWeightBytes >= model.moeLayers * model.sharedExperts * q.sharedExpertBytes(model))
    }
}

struct TimeToFirstTokenTests {
    /// Two requests whose prompts arrive in two chunks each, interleaved: A, B, A, B, then one decode token each.
    /// A request's first token comes out of its last prefill chunk, not its first.
    @Test func interleavedPrefillChunksCountToTheLastChunk() throws {
        var lines = [Fixtures.header, #"{"request":"A"}"#, #"{"request":"B"}"#]
        func line(_ r: String, _ phase: String, _ pos: Int) -> String {
            #"{"request":"\#(r)","phase":"\#(phase)","pos":\#(pos),"experts":[[0,1],[2,3]],"weights":[[0.75,0.25],[0.75,0.25]]}"#
        }
        for (r, first) in [("A", 0), ("B", 0), ("A", 2), ("B", 2)] { lines += [line(r, "prefill", first), line(r, "prefill", first + 1)] }
        lines += [line("A", "decode", 4), line("B", "decode", 4)]
        let r = try Fixtures.simulate(lines.joined(separator: "\n") + "\n", cache: "all-resident")
        #expect(r.prefill.passes == 4)
        #expect(r.timeToFirstToken?.count == 2)
        // Chunks 1 and 2 cost the same (same positions), as do chunks 3 and 4: call them p and q.
        // TTFT(A) = p + p + q, TTFT(B) = p + q + q, so the mean is 1.5 (p + q) = 0.75 x all prefill time.
        #expect(abs(r.timeToFirstToken!.meanSeconds - 0.75 * r.prefill.seconds) < 1e-12)
    }
}

/// `sim run` is batch-1 replay: a trace whose requests carry arrival times says that it ignores them (issue 15).
struct ReplayArrivalTests {
    @Test func aReplayOfTimedRequestsSaysItIgnoresTheirArrivals() throws {
        let lines = Fixtures.trace([[[0, 1], [2, 3]]]).split(separator: "\n").map(String.init)
        #expect(lines[1] == #"{"request":"r0"}"#)
        let timed = ([lines[0], #"{"request":"r0","arrival_s":3.5}"#] + lines.dropFirst(2)).joined(separator: "\n") + "\n"
        let report = try Fixtures.simulate(timed, cache: "none")
        #expect(report.warnings.contains { $0.contains("1 of 1 requests carry arrival_s") && $0.contains("sim serve --trace") })
        let untimed = try Fixtures.simulate(Fixtures.trace([[[0, 1], [2, 3]]]), cache: "none")
        #expect(!untimed.warnings.contains { $0.contains("arrival_s") })
        // Ignoring them is the documented behaviour: the timing is the untimed trace's.
        #expect(report.decode.seconds == untimed.decode.seconds)
    }
}
