import Foundation
import Testing
@testable import MoESim

/// The `mixtral-offloading` runtime against mixtral-offloading's measured Table 2 (peers.md §4.4), and the knobs
/// the calibration added: host dispatch speed, pageable copies, `--cache-experts`.
@Suite struct CalibrationTests {
    /// Table 2, decode tokens/s: rows full, LRU only, no LRU, naive; columns (hardware, quant).
    static let table2: [(system: String, hardware: String, quant: String, tokensPerSecond: Double)] = [
        ("mixtral-offloading", "a100-80g-sxm", "hqq2", 3.061), ("mixtral-offloading", "t4", "hqq2", 2.092),
        ("mixtral-offloading", "a100-80g-sxm", "hqq3", 2.845), ("mixtral-offloading", "t4", "hqq3", 1.603),
        ("mixtral-offloading-lru-only", "a100-80g-sxm", "hqq2", 2.918), ("mixtral-offloading-lru-only", "t4", "hqq2", 1.567),
        ("mixtral-offloading-lru-only", "a100-80g-sxm", "hqq3", 2.683), ("mixtral-offloading-lru-only", "t4", "hqq3", 1.365),
        ("mixtral-offloading-no-lru", "a100-80g-sxm", "hqq2", 2.265), ("mixtral-offloading-no-lru", "t4", "hqq2", 1.168),
        ("mixtral-offloading-no-lru", "a100-80g-sxm", "hqq3", 2.055), ("mixtral-offloading-no-lru", "t4", "hqq3", 1.061),
        ("mixtral-offloading-naive", "a100-80g-sxm", "hqq2", 1.392), ("mixtral-offloading-naive", "t4", "hqq2", 0.661),
        ("mixtral-offloading-naive", "a100-80g-sxm", "hqq3", 1.246), ("mixtral-offloading-naive", "t4", "hqq3", 0.580),
    ]

    /// The faithful-engine issue's acceptance on the 16 public cells: mean absolute error <= 8 %, every cell <= 15 %,
    /// the row order kept in every column, and LRU-only / no-LRU within 0.05 of the paper's ratio in every column, with
    /// no per-cell setting (each run is just `--system ROW --hardware H --quant Q`). The fit was made on the longer
    /// HumanEval decode trace (the experiment's); this runs the shorter HumanEval/0 one, so it also checks that the
    /// calibration does not hinge on the exact trace.
    @Test(.enabled(if: Fixtures.sharedTracesAvailable, "needs ../shared/traces"))
    func table2IsReproducedWithin8PercentMeanInOrder() throws {
        let trace = Fixtures.sharedTrace("humaneval0.moetrace.jsonl")
        var simulated: [String: Double] = [:]
        var errors: [Double] = []
        for cell in CalibrationTests.table2 {
            let r = Fixtures.sim(["run", "--trace", trace, "--system", cell.system, "--hardware", cell.hardware, "--quant", cell.quant, "--json"])
            #expect(r.code == 0, "\(r.err)")
            let tokensPerSecond = try #require(try JSONValue.parse(r.out)["decode"]?["tokensPerSecond"]?.numberValue)
            let error = tokensPerSecond / cell.tokensPerSecond - 1
            #expect(abs(error) <= 0.15, "\(cell.system) on \(cell.hardware) \(cell.quant): \(tokensPerSecond) tok/s vs paper \(cell.tokensPerSecond)")
            errors.append(abs(error))
            simulated["\(cell.system)|\(cell.hardware)|\(cell.quant)"] = tokensPerSecond
        }
        #expect(errors.reduce(0, +) / Double(errors.count) <= 0.08, "mean absolute error \(errors.reduce(0, +) / Double(errors.count))")
        let rows = ["mixtral-offloading", "mixtral-offloading-lru-only", "mixtral-offloading-no-lru", "mixtral-offloading-naive"]
        for hardware in ["a100-80g-sxm", "t4"] {
            for quant in ["hqq2", "hqq3"] {
                let column = rows.map { simulated["\($0)|\(hardware)|\(quant)"]! }
                #expect(column == column.sorted(by: >), "row order in \(hardware) \(quant): \(column)")
                let paper = rows.map { row in CalibrationTests.table2.first { $0.system == row && $0.hardware == hardware && $0.quant == quant }!.tokensPerSecond }
                #expect(abs(column[1] / column[2] - paper[1] / paper[2]) <= 0.05,
                        "LRU-only / no-LRU in \(hardware) \(quant): \(column[1] / column[2]) vs paper \(paper[1] / paper[2])")
            }
        }
    }

    @Test func hostDispatchSpeedStretchesOnlyTheRuntimesFixedCosts() throws {
        let model = try ModelCatalog.resolve("mixtral-8x7b")
        let quant = try QuantizationCatalog.resolve("hqq2")
        let runtime = try RuntimeCatalog.resolve("mixtral-offloading")
        var slow = try HardwareCatalog.resolve("a100-80g-sxm")
        let fast = CostModel(hardware: slow, model: model, quantization: quant, runtime: runtime)
        slow.host.dispatchSpeedRelative = Sourced(0.5, source: "test")
        let slower = CostModel(hardware: slow, model: model, quantization: quant, runtime: runtime)
        // GPU work is the same on both hosts; only the host's own times double.
        #expect(slower.attentionSeconds(queryTokens: 1, attendedPositions: 100, kvTokensRead: 99)
                == fast.attentionSeconds(queryTokens: 1, attendedPositions: 100, kvTokensRead: 99))
        #expect(slower.lmHeadSeconds(logitTokens: 1) == fast.lmHeadSeconds(logitTokens: 1))
        #expect(abs(slower.hostLayerSeconds - 2 * runtime.perLayerOverheadSeconds.value) < 1e-15)
        #expect(abs(slower.hostExpertSeconds - 2 * runtime.perExpertOverheadSeconds.value) < 1e-15)
        #expect(abs(slower.hostPassSeconds - 2 * runtime.perPassOverheadSeconds.value) < 1e-15)
    }

    @Test func unpinnedHostMemoryMovesAtThePageableRate() throws {
        let link = try #require(try HardwareCatalog.resolve("a100-80g-sxm").hostLink)
        #expect(link.h2dBytesPerSecond(pinned: true) == link.h2dBytesPerSecond.value)
        #expect(link.h2dBytesPerSecond(pinned: false) == HardwareProfile.HostLink.defaultPageableFraction * link.h2dBytesPerSecond.value)
        var measured = link
        measured.pageableH2DBytesPerSecond = Sourced(7e9, source: "test")
        #expect(measured.h2dBytesPerSecond(pinned: false) == 7e9)
        // The naive row: same misses as no LRU, but slower (pageable, one load at a time).
        let trace = "traces/mixtral-8x7b-humaneval-synth.moetrace.jsonl"
        func tokensPerSecond(_ system: String) throws -> Double {
            let r = Fixtures.sim(["run", "--trace", trace, "--system", system, "--hardware", "a100-80g-sxm", "--json"])
            #expect(r.code == 0, "\(r.err)")
            return try #require(try JSONValue.parse(r.out)["decode"]?["tokensPerSecond"]?.numberValue)
        }
        #expect(try tokensPerSecond("mixtral-offloading-naive") < tokensPerSecond("mixtral-offloading-no-lru"))
    }

    @Test func cacheExpertsResizesAnyPolicyAndKeepsItsOptions() throws {
        #expect(try CacheSpec.replacingCapacity(in: "lru-per-layer:fit", totalExperts: 128) == "lru-per-layer:total=128")
        #expect(try CacheSpec.replacingCapacity(in: "lfu-global:64", totalExperts: 96) == "lfu-global:total=96")
        #expect(try CacheSpec.replacingCapacity(in: "adapmoe-dp:fit", totalExperts: 64) == "adapmoe-dp:total=64")
        #expect(try CacheSpec.replacingCapacity(in: "adapmoe-dp-measured:total=32,prefix=16", totalExperts: 64)
                == "adapmoe-dp-measured:total=64,prefix=16")
        #expect(throws: MoESimError.self) { try CacheSpec.replacingCapacity(in: "none", totalExperts: 64) }
        let r = Fixtures.sim(["run", "--trace", "traces/mixtral-8x7b-synth.moetrace.jsonl", "--system", "adapmoe", "--cache-experts", "96", "--json"])
        #expect(r.code == 0, "\(r.err)")
        let report = try JSONValue.parse(r.out)
        #expect(report["configuration"]?["cache"]?.stringValue == "adapmoe-dp:total=96")
        let bad = Fixtures.sim(["run", "--trace", "traces/mixtral-8x7b-synth.moetrace.jsonl", "--cache", "all-resident", "--cache-experts", "8"])
        #expect(bad.code != 0 && bad.err.contains("--cache-experts"))
    }
}
