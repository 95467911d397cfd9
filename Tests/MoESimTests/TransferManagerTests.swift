import Foundation
import Testing
@testable import MoESim

/// The transfer manager on its own, driven through the calls the executor makes (issue 14: the executor asks the
/// resources through narrow calls). Toy link: 1e8 B/s each way, no setup; an expert is 2 MB, so a load takes 20 ms.
struct TransferManagerTests {
    static func manager(hardware: String = Fixtures.hardware(), runtime: String = Fixtures.runtime()) throws -> TransferManager {
        let files = Fixtures.toyFiles(hardware: hardware, runtime: runtime)
        let hw = try HardwareCatalog.load(path: files.hardware)
        let rt = try RuntimeCatalog.load(path: files.runtime)
        let costs = CostModel(hardware: hw, model: try ModelCatalog.load(path: files.model), quantization: try QuantizationCatalog.resolve("fp16"), runtime: rt)
        return TransferManager(link: LinkModel(hardware: hw, pinnedHostCopies: rt.pinsHostMemory), runtime: rt, costs: costs,
                               layers: 2, experts: 4, prefetch: nil, stagingBuffers: 0, lowPrecisionForm: nil)
    }

    @Test func anOnDemandLoadArrivesOneCopyLater() throws {
        let t = try TransferManagerTests.manager()
        t.loadOnDemand(5)
        #expect(t.lastPartArrival(5) == .infinity)
        #expect(abs(t.arrival(of: 5, part: 0, for: "test") - Fixtures.loadSeconds) < 1e-12)
        #expect(abs(t.now - Fixtures.loadSeconds) < 1e-12)
        #expect(!t.processNextEvent())
    }

    @Test func loadsBeyondTheBufferPoolWaitForAComputedExpert() throws {
        // One load buffer: the second load is issued only once the first expert has been computed (at 50 ms).
        let t = try TransferManagerTests.manager(runtime: Fixtures.runtime().replacingOccurrences(of: #""maxInFlightTransfers":{"value":4"#,
                                                                                                   with: #""maxInFlightTransfers":{"value":1"#))
        t.loadOnDemand(1)
        t.loadOnDemand(2)
        #expect(abs(t.arrival(of: 1, part: 0, for: "test") - Fixtures.loadSeconds) < 1e-12)
        t.advance(to: 0.05)
        #expect(t.lastPartArrival(2) == .infinity)
        t.computed(1, at: 0.05)
        #expect(abs(t.arrival(of: 2, part: 0, for: "test") - (0.05 + Fixtures.loadSeconds)) < 1e-12)
    }

    @Test func aSwapsWriteBackSlowsTheLoadOnlyWhileItRuns() throws {
        // Contended link: H2D drops to 5e7 B/s while the 2 MB write-back (20 ms at 1e8 B/s) runs, then recovers. The load
        // moves 1 MB in those 20 ms and the other 1 MB in 10 ms more: it lands at 30 ms, not at 40 (the rate fixed for the
        // whole copy) nor at 20 (no contention).
        let t = try TransferManagerTests.manager(hardware: Fixtures.hardware(contention: true, h2dDuringD2H: 5e7),
                                                 runtime: Fixtures.runtime(writeBack: true))
        t.evicted(0, refill: 1)
        t.loadOnDemand(1)
        #expect(abs(t.arrival(of: 1, part: 0, for: "test") - 0.03) < 1e-12)
        t.drain()
        #expect(t.h2d.bytes(.onDemand) == 2_000_000)
        #expect(t.d2h.bytes(.writeBack) == 2_000_000)
    }
}
