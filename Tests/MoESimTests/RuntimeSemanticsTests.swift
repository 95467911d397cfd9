import Foundation
import Testing
@testable import MoESim

/// Hand-worked timelines, one per mechanism of the resource model: a link that re-divides its bandwidth, one stream,
/// host sync points, a refill that waits for its slot's write-back, and a low-bit kernel's cost. Toy numbers
/// (`Fixtures`): attention a = 2.000004 ms at context 1, one expert's compute C = 2 ms, one load L = 20 ms at 1e8 B/s,
/// the per-pass LM head p = 2 us.
@Suite struct RuntimeSemanticsTests {
    static let a = Fixtures.attentionSeconds(context: 1)
    static let c = Fixtures.expertSeconds
    static let l = Fixtures.loadSeconds
    static let p = Fixtures.passOverheadSeconds
    static let contended = Fixtures.hardware(contention: true, h2dDuringD2H: 0.5e8)

    static func close(_ x: Double, _ y: Double) -> Bool { abs(x - y) < 1e-12 }

    /// Each layer caches {E2, E3} (E3 least recently used) and routes [0, 2]: E2 hits, E0 misses and evicts E3.
    static let oneMissPerLayer = Fixtures.trace([[[0, 2], [0, 2]]])

    @Test func aLinkReRatesH2DWhenTheOtherDirectionStartsAndEnds() throws {
        // The load of E0 and the write-back of E3 start together at routing: H2D drains at 0.5e8 B/s while the D2H
        // runs (20 ms: 1e6 B moved), then at the full 1e8 B/s for the other 1e6 B (10 ms). E0 lands 30 ms after routing;
        // a rate fixed at start would give 40 ms, no contention 20 ms.
        let report = try Fixtures.simulate(Self.oneMissPerLayer, cache: "lru-per-layer:2", hardware: Self.contended,
                                           runtime: Fixtures.runtime(writeBack: true), initialFill: .highestIndex)
        #expect(report.cache.onDemandLoads == 2)
        #expect(Self.close(report.decode.seconds, 2 * (Self.a + 0.030 + Self.c) + Self.p))
        let free = try Fixtures.simulate(Self.oneMissPerLayer, cache: "lru-per-layer:2", runtime: Fixtures.runtime(writeBack: true),
                                         initialFill: .highestIndex)
        #expect(Self.close(free.decode.seconds, 2 * (Self.a + Self.l + Self.c) + Self.p))
    }

    @Test func aD2HStartingHalfwayReRatesTheH2DFromThatInstant() {
        let channel = TransferChannel(name: "H2D")
        let load = Transfer(key: 0, part: 0, bytes: 2_000_000, cause: .onDemand, toHost: false)
        channel.append(load)
        let end = channel.begin(channel.dequeue()!, at: 0, setup: 0, bytesPerSecond: 1e8)
        #expect(Self.close(end, 0.020))
        // Halfway (1e6 B moved) a D2H starts: the other 1e6 B drain at 0.5e8 B/s.
        #expect(Self.close(channel.rerate(at: 0.010, bytesPerSecond: 0.5e8)!, 0.030))
        // 5 ms later the D2H ends (0.25e6 B moved meanwhile): the last 0.75e6 B at 1e8 B/s.
        #expect(Self.close(channel.rerate(at: 0.015, bytesPerSecond: 1e8)!, 0.0225))
        #expect(channel.rerate(at: 0.016, bytesPerSecond: 1e8) == nil)
        #expect(Self.close(channel.busySeconds, 0.0225))
    }

    /// Issue 19, row 8: unpinned host copies on a link whose directions contend. The rate while a D2H runs is the
    /// lower of the contended and the pageable rate (it replaced the pageable rate before): loads at 0.2e8 B/s
    /// throughout, 100 ms each, where pinned copies take 30 ms (the test above).
    @Test func pageableCopiesNeverSpeedUpWhileAWriteBackRuns() throws {
        let pageable = Self.contended.replacingOccurrences(of: #""bidirectionalContention""#,
                                                           with: #""pageableH2DBytesPerSecond":{"value":2e7,"source":"test"},"bidirectionalContention""#)
        #expect(pageable != Self.contended)
        let unpinned = Fixtures.runtime(writeBack: true, extra: ["hostMemoryPinned": Fixtures.field("false")])
        let report = try Fixtures.simulate(Self.oneMissPerLayer, cache: "lru-per-layer:2", hardware: pageable, runtime: unpinned,
                                           initialFill: .highestIndex)
        #expect(Self.close(report.decode.seconds, 2 * (Self.a + 0.100 + Self.c) + Self.p))
        let pinned = try Fixtures.simulate(Self.oneMissPerLayer, cache: "lru-per-layer:2", hardware: pageable,
                                           runtime: Fixtures.runtime(writeBack: true), initialFill: .highestIndex)
        #expect(Self.close(pinned.decode.seconds, 2 * (Self.a + 0.030 + Self.c) + Self.p))
    }

    @Test func enqueueOrderOfASwapIsIrrelevantOnSeparateEngines() throws {
        for hardware in [Self.contended, Fixtures.hardware()] {
            let loadFirst = try Fixtures.simulate(Self.oneMissPerLayer, cache: "lru-per-layer:2", hardware: hardware,
                                                  runtime: Fixtures.runtime(writeBack: true), initialFill: .highestIndex)
            let writeBackFirst = try Fixtures.simulate(Self.oneMissPerLayer, cache: "lru-per-layer:2", hardware: hardware,
                                                       runtime: Fixtures.runtime(writeBack: true, extra: ["swapOrder": Fixtures.field(#""write-back-first""#)]),
                                                       initialFill: .highestIndex)
            #expect(loadFirst.decode.seconds == writeBackFirst.decode.seconds)
            #expect(loadFirst.link.h2dBusyFraction == writeBackFirst.link.h2dBusyFraction)
        }
    }

    @Test func oneStreamSerialisesCopiesAndKernels() throws {
        // No cache: E0 and E1 load one after the other (2 L). With a copy stream E0 runs while E1 loads; on one stream
        // E0's kernel waits for every copy issued before it, so both kernels follow both loads.
        let trace = Fixtures.trace([[[0, 1], [0, 1]]])
        let overlapped = try Fixtures.simulate(trace, cache: "none")
        #expect(Self.close(overlapped.decode.seconds, 2 * (Self.a + 2 * Self.l + Self.c) + Self.p))
        let single = try Fixtures.simulate(trace, cache: "none", runtime: Fixtures.runtime(extra: ["streams": Fixtures.field(#""single""#)]))
        #expect(Self.close(single.decode.seconds, 2 * (Self.a + 2 * Self.l + 2 * Self.c) + Self.p))
        #expect(single.link.d2hBusyFraction == nil)
    }

    @Test func aHostSyncPerExpertStopsTheHostRunningAhead() throws {
        // All resident, X = 5 ms of host time per expert (> C). Syncing per layer, the host issues E1 while E0 runs:
        // 2a + 4X + 2C. Syncing before each expert, it waits for E0 first: 2a + 4X + 4C.
        let trace = Fixtures.trace([[[0, 1], [0, 1]]])
        let x = 0.005
        let perLayer = try Fixtures.simulate(trace, cache: "all", runtime: Fixtures.runtime(perExpert: x))
        #expect(Self.close(perLayer.decode.seconds, 2 * Self.a + 4 * x + 2 * Self.c + Self.p))
        #expect(Self.close(perLayer.gpu.hostWaitSeconds, 4 * x - 2 * Self.c))
        #expect(perLayer.gpu.stallSeconds == 0)
        let perExpert = try Fixtures.simulate(trace, cache: "all", runtime: Fixtures.runtime(perExpert: x, extra: ["hostSync": Fixtures.field(#""per-expert""#)]))
        #expect(Self.close(perExpert.decode.seconds, 2 * Self.a + 4 * x + 4 * Self.c + Self.p))
        #expect(Self.close(perExpert.gpu.hostWaitSeconds, 4 * x))
    }

    @Test func theGenerationLoopSeparatesPasses() throws {
        // 3 ms of host time per pass comes after the LM head, before the next pass.
        let trace = Fixtures.trace([[[0, 1], [0, 1]], [[0, 1], [0, 1]]])
        let report = try Fixtures.simulate(trace, cache: "all", runtime: Fixtures.runtime(perPass: 0.003))
        let plain = try Fixtures.simulate(trace, cache: "all")
        #expect(Self.close(report.decode.seconds - plain.decode.seconds, 2 * 0.003))
    }

    @Test func aRefillWaitsForItsSlotsWriteBack() throws {
        // E0 reuses E3's memory: E3's write-back (20 ms) goes first and E0's load (20 ms) after it.
        let waits = Fixtures.runtime(writeBack: true, extra: ["slotReuseWaitsForWriteBack": Fixtures.field("true")])
        let report = try Fixtures.simulate(Self.oneMissPerLayer, cache: "lru-per-layer:2", runtime: waits, initialFill: .highestIndex)
        #expect(Self.close(report.decode.seconds, 2 * (Self.a + 2 * Self.l + Self.c) + Self.p))
        let spare = try Fixtures.simulate(Self.oneMissPerLayer, cache: "lru-per-layer:2", runtime: Fixtures.runtime(writeBack: true),
                                          initialFill: .highestIndex)
        #expect(Self.close(spare.decode.seconds, 2 * (Self.a + Self.l + Self.c) + Self.p))
    }

    @Test func aLoadFirstSwapCannotWaitForItsOwnWriteBack() throws {
        let bad = Fixtures.runtime(writeBack: true, extra: ["slotReuseWaitsForWriteBack": Fixtures.field("true"),
                                                            "swapOrder": Fixtures.field(#""load-first""#)])
        let path = Fixtures.write(bad, name: "bad-runtime.json")
        #expect(throws: MoESimError.self) { try RuntimeCatalog.load(path: path) }
    }

    @Test func aLowBitKernelRunsAtItsEfficiency() throws {
        // The toy experts are fp16; a kernel at half the roofline takes 2 C.
        let trace = Fixtures.trace([[[0, 1], [0, 1]]])
        let slow = try Fixtures.simulate(trace, cache: "all", runtime: Fixtures.runtime(extra: ["expertKernelEfficiency": #"{"fp16":{"value":0.5,"source":"test"}}"#]))
        #expect(Self.close(slow.decode.seconds, 2 * (Self.a + 4 * Self.c) + Self.p))
        let bad = Fixtures.write(Fixtures.runtime(extra: ["expertKernelEfficiency": #"{"fp16":{"value":1.5,"source":"test"}}"#]), name: "r.json")
        #expect(throws: MoESimError.self) { try RuntimeCatalog.load(path: bad) }
    }
}
