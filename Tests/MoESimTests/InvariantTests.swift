import Foundation
import Testing
@testable import MoESim

/// The invariant checker (`sim run --check`): planted faults are reported as the named violation, with the place
/// and the numbers; every shipped system preset runs clean.
struct InvariantTests {
    /// The first violation `body` makes `verify` throw, or nil when it passes.
    static func violation(_ body: () throws -> Void) rethrows -> InvariantViolation? {
        do {
            try body()
            return nil
        } catch let violation as InvariantViolation {
            return violation
        }
    }

    static func toy(_ tokens: [[[Int]]], cache: String, fill: ExpertCache.InitialFill = .empty, prefetch: String = "none",
                    runtime: String = Fixtures.runtime()) throws -> Simulation {
        let files = Fixtures.toyFiles(runtime: runtime)
        var config = SimulationConfig(hardware: try HardwareCatalog.load(path: files.hardware), model: try ModelCatalog.load(path: files.model),
                                      quantization: try QuantizationCatalog.resolve("fp16"), runtime: try RuntimeCatalog.load(path: files.runtime),
                                      cache: try CacheSpec.parse(cache), prefetch: prefetch, initialFill: fill, kvReserveTokens: 0)
        config.beladyReference = false
        return try Simulation(config: config, source: try TracePassSource(path: Fixtures.write(Fixtures.trace(tokens), name: "t.moetrace.jsonl")))
    }

    // MARK: Planted faults in a real run

    /// A cache that claims an expert it never loaded: the engine computes it from weights that never crossed the link.
    @Test func aCacheThatClaimsAnExpertItNeverLoadedIsCaught() throws {
        let simulation = try InvariantTests.toy([[[1, 2], [0, 3]]], cache: "lru-per-layer:2")
        let checker = InvariantChecker(simulation: simulation)
        simulation.observer = checker
        // Behind the engine's back: layer 0's group now says it holds expert 1 (key 1).
        _ = simulation.cache.group(ofLayer: 0).insert(1, context: AccessContext(time: -1))
        let report = try simulation.run()
        let found = try #require(InvariantTests.violation { try checker.verify(report: report) })
        #expect(found.invariant == .computedWhileResident)
        #expect(found.pass == 0 && found.layer == 0 && found.expert == 1)
        #expect(found.description.contains("invariant computed-while-resident violated at pass 0, layer 0, expert 1"))
        // The compute itself is flagged too: no weights ever arrived.
        #expect(checker.violations.contains { $0.invariant == .computedWhileResident && $0.detail.contains("never arrived") })
    }

    /// A cache that silently drops a resident expert, then stores it again as if new.
    @Test func aCacheThatLosesAnExpertBehindTheEnginesBackIsCaught() throws {
        let simulation = try InvariantTests.toy([[[3, 0], [3, 2]]], cache: "lru-per-layer:2", fill: .highestIndex)
        let checker = InvariantChecker(simulation: simulation)
        simulation.observer = checker
        simulation.cache.group(ofLayer: 0).remove(3)
        let report = try simulation.run()
        let found = try #require(InvariantTests.violation { try checker.verify(report: report) })
        #expect(found.invariant == .cacheCapacity)
        #expect(found.layer == 0 && found.expert == 3)
        #expect(found.detail.contains("already cached"))
    }

    /// The same toy runs clean without tampering (so the faults above are what the checker saw).
    @Test func theUntamperedRunsAreClean() throws {
        for (tokens, fill) in [([[[1, 2], [0, 3]]], ExpertCache.InitialFill.empty), ([[[3, 0], [3, 2]]], .highestIndex)] {
            let simulation = try InvariantTests.toy(tokens, cache: "lru-per-layer:2", fill: fill)
            let checker = InvariantChecker(simulation: simulation)
            simulation.observer = checker
            try checker.verify(report: try simulation.run())
            #expect(checker.expertComputations == 4)
        }
    }

    // MARK: Planted faults fed as events

    /// A checker over the toy model (2 layers, 4 experts, 2e6-byte experts, 1e8 B/s link, capacity 1 per layer).
    static func bareChecker() throws -> InvariantChecker {
        InvariantChecker(simulation: try toy([[[0, 1], [2, 3]]], cache: "lru-per-layer:1"))
    }

    static func work(_ kind: GPUWorkKind, _ start: Double, _ end: Double, layer: Int = 0, expert: Int = -1) -> SimulationEvent {
        .compute(GPUWork(kind: kind, start: start, end: end, layer: layer, expert: expert, tokens: 1))
    }

    static func passStart(_ time: Double) -> SimulationEvent {
        .passStarted(PassStart(pass: 0, request: 0, requestID: "r0", phase: .decode, tokens: 1, time: time))
    }

    @Test func anEventProcessedAfterTheClockPassedItIsTimeGoingBackwards() throws {
        let checker = try InvariantTests.bareChecker()
        checker.observe(.eventProcessed(due: 0.5, clock: 0.25))
        #expect(checker.violations.isEmpty)
        checker.observe(.eventProcessed(due: 0.125, clock: 0.5))
        let found = try #require(checker.violations.first)
        #expect(found.invariant == .timeMonotonic)
        #expect(found.detail.contains("0.375 s late"))
    }

    @Test func overlappingTransfersOnOneChannelAreTimeGoingBackwards() throws {
        let checker = try InvariantTests.bareChecker()
        let t = Transfer(key: 5, part: 0, bytes: 2_000_000, cause: .onDemand, toHost: false)
        checker.observe(.transferStarted(channel: 0, transfer: t, start: 0, end: 0.02))
        checker.observe(.transferStarted(channel: 1, transfer: t, start: 0.01, end: 0.03))
        #expect(checker.violations.isEmpty)
        checker.observe(.transferStarted(channel: 0, transfer: t, start: 0.01, end: 0.03))
        let found = try #require(checker.violations.first)
        #expect(found.invariant == .timeMonotonic)
        #expect(found.layer == 1 && found.expert == 1)
    }

    @Test func aGapOnTheGPUIsUnaccountedTime() throws {
        let checker = try InvariantTests.bareChecker()
        checker.observe(InvariantTests.passStart(0))
        checker.observe(InvariantTests.work(.attention, 0, 0.25))
        checker.observe(InvariantTests.work(.passOverhead, 0.375, 0.5, layer: -1))
        checker.observe(.passEnded(pass: 0, start: 0, end: 0.5))
        #expect(checker.violations.map(\.invariant) == [.gpuAccounting, .gpuAccounting])
        #expect(checker.violations[0].detail.contains("leaves an unaccounted gap"))
        #expect(checker.violations[1].detail.contains("compute 0.375 s + stalls 0.0 s = 0.375 s, but the pass took 0.5 s"))
    }

    @Test func aPassFasterThanItsOnDemandBytesAtLinkBandwidthBreaksTheFloor() throws {
        let checker = try InvariantTests.bareChecker()
        checker.observe(InvariantTests.passStart(0))
        checker.observe(InvariantTests.work(.attention, 0, 0.001))
        // One on-demand load: 2e6 bytes need 20 ms at 1e8 B/s; the pass claims 1 ms.
        checker.observe(.loadIssued(key: 0, cause: .onDemand, generation: 1, time: 0.001))
        checker.observe(.passEnded(pass: 0, start: 0, end: 0.001))
        let found = try #require(checker.violations.first)
        #expect(found.invariant == .passLatencyFloor)
        #expect(found.detail.contains("2000000.0 on-demand bytes") && found.detail.contains("(0.02 s)"))
    }

    @Test func aGroupHoldingMoreThanItsCapacityIsCaught() throws {
        let checker = try InvariantTests.bareChecker()
        checker.observe(.cacheInserted(key: 0, evicted: nil, time: 0))
        #expect(checker.violations.isEmpty)
        // Capacity 1: a second expert of layer 0 stored without an eviction.
        checker.observe(.cacheInserted(key: 1, evicted: nil, time: 0))
        let found = try #require(checker.violations.first)
        #expect(found.invariant == .cacheCapacity)
        #expect(found.detail.contains("holds 2 experts") && found.detail.contains("capacity 1"))
    }

    @Test func aLoadMovingMoreThanAnExpertIsCaught() throws {
        let checker = try InvariantTests.bareChecker()
        checker.observe(.loadIssued(key: 2, cause: .onDemand, generation: 1, time: 0))
        let t = Transfer(key: 2, part: 0, bytes: 2_500_000, cause: .onDemand, toHost: false, generation: 1)
        checker.observe(.transferEnded(channel: 0, transfer: t, time: 0.025, bytesMoved: t.bytes, preempted: false))
        let found = try #require(checker.violations.first)
        #expect(found.invariant == .bytesMoved)
        #expect(found.detail.contains("moved 2500000 bytes; the expert has 2000000"))
    }

    // MARK: Against the report

    /// A report that disagrees with what the run did: each doctored number is the named violation.
    @Test func aReportThatDisagreesWithTheEventsIsCaught() throws {
        func checkedToy(_ cache: String, _ doctor: (inout Report) -> Void) throws -> InvariantViolation? {
            let simulation = try InvariantTests.toy([[[0, 1], [2, 3]], [[1, 2], [0, 3]]], cache: cache, runtime: Fixtures.runtime(writeBack: true))
            let checker = InvariantChecker(simulation: simulation)
            simulation.observer = checker
            var report = try simulation.run()
            doctor(&report)
            return try InvariantTests.violation { try checker.verify(report: report) }
        }
        #expect(try checkedToy("lru-per-layer:1") { _ in } == nil)
        #expect(try checkedToy("lru-per-layer:1") { $0.link.onDemandLoadBytes += 1 }?.invariant == .bytesMoved)
        #expect(try checkedToy("lru-per-layer:1") { $0.link.writeBackBytes -= Fixtures.expertBytes }?.invariant == .bytesMoved)
        #expect(try checkedToy("lru-per-layer:1") { $0.cache.hits += 1 }?.invariant == .accessCount)
        #expect(try checkedToy("lru-per-layer:1") { $0.gpu.stallSeconds *= 1.01 }?.invariant == .gpuAccounting)
        #expect(try checkedToy("all-resident") { _ in } == nil)
        #expect(try checkedToy("all-resident") { $0.link.h2dBytes = 1 }?.invariant == .allResidentMovesNothing)
    }

    // MARK: The engine's staging buffers

    /// Layer 1 needs 0 and 1, both prefetched at layer 0 into staging buffers; with one cache slot, staging 1 evicts 0
    /// before 0 has run. 1 must keep its staging buffer until then, or 0's weights could be overwritten by the next
    /// prefetch before they are read (the checker caught the engine giving it back at the access).
    @Test func aStagedExpertKeepsItsBufferWhileTheExpertItDisplacedStillHasToRun() throws {
        let simulation = try InvariantTests.toy([[[3], [0, 1]]], cache: "lru-per-layer:1", fill: .highestIndex, prefetch: "oracle-next-layer")
        let checker = InvariantChecker(simulation: simulation)
        simulation.observer = checker
        let report = try simulation.run()
        try checker.verify(report: report)
        #expect(report.cache.prefetchHits == 2)
        #expect(checker.inUseEvictions == 1)
    }

    // MARK: Every shipped system

    /// Every shipped preset, read from the catalog, so a new one is checked without editing this list.
    static let systems = ((try? SystemCatalog.presets()) ?? []).map(\.name).sorted()

    @Test func theSystemListIsRead() throws {
        #expect(InvariantTests.systems.count == (try SystemCatalog.presets()).count)
        #expect(InvariantTests.systems.contains("adapmoe") && InvariantTests.systems.contains("mixtral-offloading"))
    }

    /// Each preset on a 64-token prompt and 8 decode tokens of the bundled synthetic trace, on a PCIe device where it
    /// offloads (RTX 3090: the RTX 3060's 32 GB host cannot hold the 78 GiB of fp16 experts most presets offload, an
    /// error since host memory is checked) and a unified-memory one that reads experts from storage (Jetson AGX Orin).
    @Test(arguments: InvariantTests.systems)
    func everySystemPresetRunsClean(_ system: String) throws {
        let trace = try TimelineTests.prefix(of: Fixtures.repositoryRoot.appendingPathComponent("traces/mixtral-8x7b-humaneval-synth.moetrace.jsonl").path,
                                             tokens: 72)
        for hardware in ["rtx3090", "jetson-agx-orin-64g"] {
            let r = Fixtures.sim(["--system", system, "--hardware", hardware, "--trace", trace, "--check"])
            #expect(r.code == 0, "\(system) on \(hardware): \(r.err)")
            #expect(r.out.contains("invariant checks: all \(InvariantViolation.Invariant.allCases.count) hold over 9 passes"), "\(system) on \(hardware)")
        }
    }
}
