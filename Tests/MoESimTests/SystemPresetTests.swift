import Foundation
import Testing
@testable import MoESim

/// `--system NAME`: shipped bundles are valid and expand into run options that explicit options override.
@Suite struct SystemPresetTests {
    @Test func everyShippedSystemNamesPoliciesThatExist() throws {
        let systems = try SystemCatalog.presets()
        #expect(Set(systems.map(\.name)).isSuperset(of: ["mixtral-offloading", "mixtral-offloading-lru-only", "mixtral-offloading-no-lru", "adapmoe",
                                                       "adapmoe-gating-only", "adapmoe-prefetch-only", "adapmoe-cache-only", "pregated", "oracle"]))
        for s in systems {
            if let g = s.settings["gating"] { #expect(gatingPolicies.entry(named: try PolicySpec.gating(g).name) != nil, "\(s.name): \(g)") }
            if let p = s.settings["prefetch"] { #expect(prefetchPolicies.entry(named: try PolicySpec.prefetch(p).name) != nil, "\(s.name): \(p)") }
            if let r = s.settings["runtime"] { _ = try RuntimeCatalog.resolve(r) }
            if let c = s.settings["cache"] { _ = try CacheSpec.parse(c) }
        }
    }

    @Test func aSystemFillsOnlyTheOptionsNotGiven() throws {
        let trace = "traces/mixtral-8x7b-synth.moetrace.jsonl"
        let r = Fixtures.sim(["run", "--system", "mixtral-offloading", "--trace", trace, "--cache", "lru-per-layer:2", "--json"])
        #expect(r.code == 0, "\(r.err)")
        let report = try JSONValue.parse(r.out)
        #expect(report["configuration"]?["cache"]?.stringValue == "lru-per-layer:2")
        #expect(report["configuration"]?["prefetch"]?.stringValue == "mixtral-offloading")
        #expect(report["configuration"]?["runtime"]?.stringValue == "mixtral-offloading-paper")
        #expect(report["configuration"]?["quantization"]?.stringValue == "hqq2")
        let unknown = Fixtures.sim(["run", "--system", "mixtral-ofloading", "--trace", trace])
        #expect(unknown.code != 0 && unknown.err.contains("mixtral-offloading"))
        let shown = Fixtures.sim(["systems", "show", "adapmoe"])
        #expect(shown.code == 0 && shown.out.contains("stands for: --cache adapmoe-dp:fit --gating adapmoe --prefetch next-layer-gate"))
    }
}
