import Foundation
import Testing
@testable import MoESim

/// `sim fidelity`: every row simulated vs measured, the one-point calibration of each group, the scatter; and the
/// shipped measurements files read cleanly.
@Suite struct FidelityTests {
    static let shortTrace = "traces/mixtral-8x7b-humaneval-synth-short.moetrace.jsonl"

    @Test func theShippedMeasurementsFilesAreValid() throws {
        let files = try MeasurementFile.loadAll("experiments/measurements")
        #expect(files.map(\.name) == ["adapmoe-ablation", "bigmoeonedge-phone", "mixtral-offloading-table2"])
        let table2 = try #require(files.last)
        #expect(table2.rows.count == 16 && table2.citation.contains("arXiv 2312.17238"))
        // Four columns, each with its LRU-only row as the one anchor.
        let groups = Dictionary(grouping: table2.rows, by: \.group)
        #expect(groups.count == 4 && groups.values.allSatisfy { $0.count == 4 && $0.filter(\.anchor).count == 1 })
        #expect(table2.rows.filter(\.anchor).allSatisfy { $0.value(of: "system") == "mixtral-offloading-lru-only" })
    }

    /// The phone rows replay the recorded route_trace CSV itself: `sim run` imports it into a temporary moe-trace,
    /// takes the quantization from the GGUF name, and leaves nothing behind.
    @Test(.enabled(if: Fixtures.routeTracesAvailable, "needs ../shared/traces/bigmoeonedge-route-trace"))
    func aRouteTraceReplaysDirectly() throws {
        let replay = try RouteTraceReplay.importing(Fixtures.routeTrace("gptoss.route.csv"))
        #expect(FileManager.default.fileExists(atPath: replay.tracePath) && replay.quantization == "q4_k_m")
        replay.remove()
        #expect(!FileManager.default.fileExists(atPath: replay.folder.path))
        let r = Fixtures.sim(["run", "--trace", Fixtures.routeTrace("qwen.route.csv"), "--hardware", "snapdragon-8-gen5-ufs4", "--runtime", "tuned",
                              "--initial-fill", "empty", "--cache", "lru-global:bytes=4000MiB", "--optimum", "off", "--json"])
        #expect(r.code == 0, "\(r.err)")
        let report = try JSONValue.parse(r.out)
        #expect(report["decode"]?["tokens"]?.numberValue == 128)
        #expect(report["configuration"]?["quantization"]?.stringValue == "q4_k_m")
    }

    @Test func aGroupIsCalibratedOnItsAnchorAndPredictsTheRest() throws {
        let folder = Fixtures.temporaryDirectory()
        let csv = folder.appendingPathComponent("paper.csv").path
        let rows = [("mixtral-offloading-lru-only", 1.6, "yes"), ("mixtral-offloading-no-lru", 1.2, "no"), ("mixtral-offloading-naive", 0.7, "no")]
        try ("# source: test\noptions,measured_tokens_per_second,note,group,anchor\n" + rows.map {
            "--system \($0.0) --hardware t4 --quant hqq2 --trace ${shared}/absent.jsonl,\($0.1),\($0.0),T4,\($0.2)\n"
        }.joined()).write(toFile: csv, atomically: true, encoding: .utf8)
        // Without the trace the rows are skipped, not failed.
        let skipped = Fixtures.sim(["fidelity", "--measurements", csv, "--shared", folder.path, "--json"])
        #expect(skipped.code == 0, "\(skipped.err)")
        #expect(try JSONValue.parse(skipped.out)["simulated"]?.numberValue == 0)

        let out = folder.appendingPathComponent("results").path
        let r = Fixtures.sim(["fidelity", "--measurements", csv, "--trace", Self.shortTrace, "--out", out])
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out.contains("| paper | 3 | 3 |") && r.out.contains("### One-point calibration"), "\(r.out)")
        let results = try JSONValue.parse(String(contentsOfFile: out + "/results.json", encoding: .utf8))
        let source = try #require(results["sources"]?.arrayValue?.first)
        let group = try #require(source["onePoint"]?.arrayValue?.first)
        // The anchor is matched after the fit; the other two rows are predictions with an error each.
        #expect(abs(try #require(group["anchorErrorAfter"]?.numberValue)) < 0.01)
        #expect(group["predictions"]?.arrayValue?.count == 2)
        let cells = try #require(source["cells"]?.arrayValue)
        for cell in cells {
            let measured = try #require(cell["measuredTokensPerSecond"]?.numberValue), simulated = try #require(cell["simulatedTokensPerSecond"]?.numberValue)
            #expect(abs(try #require(cell["error"]?.numberValue) - (simulated / measured - 1)) < 1e-12)
        }
        let svg = try String(contentsOfFile: out + "/fidelity.svg", encoding: .utf8)
        #expect(svg.contains("y = x") && svg.contains(">paper<") && svg.hasPrefix("<?xml"))
        // Same inputs, same bytes.
        let again = Fixtures.sim(["fidelity", "--measurements", csv, "--trace", Self.shortTrace, "--json"])
        #expect(again.code == 0)
        let againJSON = try JSONValue.parse(again.out)
        #expect(PrettyJSON.render(againJSON) == PrettyJSON.render(results))
    }

    @Test func twoAnchorsInAGroupAreAnErrorAtTheSecond() throws {
        let folder = Fixtures.temporaryDirectory()
        let csv = folder.appendingPathComponent("m.csv").path
        try ("# source: test\noptions,measured_tokens_per_second,group,anchor\n"
             + "--hardware t4 --quant hqq2 --cache none --trace \(Self.shortTrace),1.0,g,yes\n"
             + "--hardware t4 --quant hqq2 --cache lru-per-layer:2 --trace \(Self.shortTrace),1.1,g,yes\n").write(toFile: csv, atomically: true, encoding: .utf8)
        let r = Fixtures.sim(["fidelity", "--measurements", csv])
        #expect(r.code != 0 && r.err.contains("m.csv:4: field 'anchor': group 'g' has a second anchor row (the first is line 3)"), "\(r.err)")
    }

    @Test func theScatterIsLogLogWithTheIdentityLine() {
        let chart = ScatterChart(title: "t", xLabel: "x", yLabel: "y", series: [.init(name: "a", points: [(1, 1), (10, 12)]), .init(name: "b", points: [(3, 2)])])
        let svg = chart.svg()
        #expect(svg == chart.svg())
        #expect(ScatterChart.ticks(low: 0.8, high: 12) == [1, 2, 5, 10])
        #expect(svg.contains("y = x ± 10 %") && svg.contains(">a<") && svg.contains(">b<"))
    }
}

extension JSONValue {
    var arrayValue: [JSONValue]? { if case let .array(items) = self { return items } else { return nil } }
}
