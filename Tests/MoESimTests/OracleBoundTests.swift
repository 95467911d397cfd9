import Foundation
import Testing
@testable import MoESim

/// The `oracle` system (Belady eviction at the largest cache that fits, perfect-knowledge prefetch, the `tuned`
/// runtime) is the best GPU-only schedule: no system that drops no work and runs every expert on the GPU may beat it
/// on the same runtime and quantization. Systems that run experts on the CPU read them from host DRAM instead of over
/// the link and may beat it where that is faster; then their report must say so.
@Suite struct OracleBoundTests {
    static let trace = Fixtures.repositoryRoot.appendingPathComponent("traces/mixtral-8x7b-humaneval-synth-short.moetrace.jsonl").path
    static let hardware = ["rtx4090", "rtx3060-12g-gen3", "t4", "jetson-agx-orin-64g"]

    static func run(_ system: String, hardware: String, quant: String) throws -> JSONValue? {
        let r = Fixtures.sim(["run", "--trace", trace, "--system", system, "--hardware", hardware, "--runtime", "tuned", "--quant", quant, "--json"])
        // A system whose memory plan does not fit this device is not a counterexample.
        guard r.code == 0 else { return nil }
        return try JSONValue.parse(r.out)
    }

    @Test(arguments: ["hqq4", "fp16"])
    func theOracleBoundsEverySystemThatDropsNoWork(quant: String) throws {
        let systems = try SystemCatalog.presets().map(\.name)
        #expect(systems.contains("oracle") && systems.count >= 15)
        for hardware in OracleBoundTests.hardware {
            guard let oracle = try OracleBoundTests.run("oracle", hardware: hardware, quant: quant),
                  let bound = oracle["decode"]?["latency"]?["meanSeconds"]?.numberValue else { continue }
            for system in systems where system != "oracle" {
                guard let report = try OracleBoundTests.run(system, hardware: hardware, quant: quant),
                      let latency = report["decode"]?["latency"]?["meanSeconds"]?.numberValue else { continue }
                // Dropping gating or approximate miss actions (skip, substitute, low precision) do less work.
                let dropsWork = !(report["gating"]?.isNull ?? true) || !(report["miss"]?["quality"]?.isNull ?? true)
                guard !dropsWork, latency < bound * (1 - 1e-9) else { continue }
                let usedCPU = !(report["miss"]?["cpu"]?.isNull ?? true)
                var notes: [String] = []
                if case let .array(items)? = report["miss"]?["notes"] { notes = items.compactMap(\.stringValue) }
                #expect(usedCPU && notes.contains { $0.contains("can beat the `oracle` system") },
                        "\(system) on \(hardware) \(quant): \(latency) s per token, below the oracle's \(bound) s, without running experts on the CPU")
            }
        }
    }
}
