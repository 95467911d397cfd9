import Foundation
import Testing
@testable import MoESim

/// `sim trace import --from route-trace`, the `resident` annotation and `sim trace residency`.
struct RouteTraceTests {
    /// Two layers of four experts, top-2; a two-token prompt written layer by layer (layer 1 only for the last
    /// prompt token, as llama.cpp runs it), then two decode steps.
    static let toyCSV = """
    # route_trace v1
    # model=/x/Toy-MoE-Q4_K_M.gguf arch=toy n_layer=2 n_expert=4 n_expert_used=2
    # layer=0 expert_bytes=1000 dense_bytes=500
    # layer=1 expert_bytes=800 dense_bytes=400
    turn,phase,step,layer,slot,expert,weight,residency,expert_bytes
    0,0,0,0,0,1,0.6,0,1000
    0,0,0,0,1,2,0.4,0,1000
    0,0,1,0,0,2,0.7,0,0
    0,0,1,0,1,3,0.3,0,1000
    0,0,1,1,0,0,0.5,0,800
    0,0,1,1,1,1,0.5,0,800
    0,1,2,0,0,1,0.6,1,0
    0,1,2,0,1,0,0.4,0,1000
    0,1,2,1,0,0,0.9,1,0
    0,1,2,1,1,3,0.1,0,800
    0,1,3,0,0,3,0.8,1,0
    0,1,3,0,1,2,0.2,1,0
    0,1,3,1,0,3,0.5,1,0
    0,1,3,1,1,2,0.5,0,800

    """

    func importToy(_ csv: String = RouteTraceTests.toyCSV, output: String = "toy.moetrace.jsonl") -> (code: Int32, out: String, err: String, trace: String) {
        let input = Fixtures.write(csv, name: "toy.route.csv")
        let trace = URL(fileURLWithPath: input).deletingLastPathComponent().appendingPathComponent(output).path
        let r = Fixtures.sim(["trace", "import", input, trace])
        return (r.code, r.out, r.err, trace)
    }

    @Test func importsPassesWeightsAndResidency() throws {
        let r = importToy()
        #expect(r.code == 0, "\(r.err)")
        // Not in the catalog: the spec is built from the header, written beside the trace, and the warning names the assumptions.
        #expect(r.out.contains("not in the catalog") && r.out.contains("assumed: top-k 2"))
        let spec = r.trace.replacingOccurrences(of: ".moetrace.jsonl", with: ".model.json")
        #expect(FileManager.default.fileExists(atPath: spec))
        let reader = try TraceReader(path: r.trace)
        #expect(reader.header.model == "toy-moe" && reader.header.layers == 2 && reader.header.topK == 2)
        var tokens: [TokenRecord] = []
        while let item = try reader.next() { if case .token = item { tokens.append(reader.token) } }
        #expect(tokens.map(\.phase) == [.prefill, .prefill, .decode, .decode])
        #expect(tokens.map(\.position) == [0, 1, 2, 3])
        // The first prompt token's layer 1 was not routed: a null cell.
        #expect(tokens[0].counts == [2, -1] && tokens[1].counts == [2, 2])
        #expect(Array(tokens[2].experts[0..<2]) == [1, 0] && tokens[2].weights[0] == 0.6)
        #expect(Array(tokens[2].residency[0..<4]) == [1, 0, 1, 0])
        #expect(Array(tokens[3].residency[0..<4]) == [1, 1, 1, 0])
        // The model runs from the spec the header carries.
        let run = Fixtures.sim(["run", "--trace", r.trace, "--hardware", "jetson-agx-orin-64g", "--cache", "lru-global:bytes=3000"])
        #expect(run.code == 0, "\(run.err)")
        #expect(run.out.contains("quantization recorded"))
    }

    @Test func residencySurvivesBinaryConversion() throws {
        let r = importToy()
        let binary = r.trace.replacingOccurrences(of: ".moetrace.jsonl", with: ".moetrace")
        let back = r.trace.replacingOccurrences(of: ".moetrace.jsonl", with: ".back.jsonl")
        #expect(Fixtures.sim(["trace", "convert", r.trace, binary]).code == 0)
        #expect(Fixtures.sim(["trace", "convert", binary, back]).code == 0)
        #expect(try String(contentsOfFile: back, encoding: .utf8) == String(contentsOfFile: r.trace, encoding: .utf8))
    }

    @Test func byteBudgetLRUAgainstRecordedResidencyByHand() throws {
        let r = importToy()
        // 3000 B. Prefill, layer 0: E1, E2, E2 (hit), E3 fill 3000 B; layer 1: E0 evicts L0E1, E1 evicts L0E2 -> {L0E3,
        // L1E0, L1E1}. Step 2: L0E1 miss (recorded hit) evicts L0E3; L0E0 miss (agree) evicts L1E0; L1E0 miss
        // (recorded hit) evicts L1E1; L1E3 miss (agree) evicts L0E1. Step 3: L0E3 miss (recorded hit), L0E2 miss
        // (recorded hit), L1E3 hit (agree), L1E2 miss (agree). So 1 simulated hit, 5 recorded, 4 of 8 cells agree.
        let small = try ResidencyComparison.run(source: try openTrace(path: r.trace), expertBytes: [1000, 800], budgetBytes: 3000)
        #expect(small.decodeAccesses == 8 && small.prefillAccesses == 6)
        #expect(small.bothResident == 1 && small.bothMissing == 3 && small.recordedOnly == 4 && small.simulatedOnly == 0)
        // A budget that holds everything the prompt touched agrees on every cell.
        let large = try ResidencyComparison.run(source: try openTrace(path: r.trace), expertBytes: [1000, 800], budgetBytes: 10_000)
        #expect(large.agreement == 1 && large.simulatedHitRate == 5.0 / 8.0)
        let cli = Fixtures.sim(["trace", "residency", r.trace, "--budget", "10000"])
        #expect(cli.code == 0, "\(cli.err)")
        #expect(cli.out.contains("simulated hit rate 0.6250, recorded 0.6250"))
    }

    @Test func staticOverlapAndDistinctExpertsByHand() throws {
        let r = importToy()
        let stats = Fixtures.sim(["trace", "stats", r.trace, "--json"])
        #expect(stats.code == 0, "\(stats.err)")
        let s = try JSONDecoder().decode(TraceStatistics.self, from: Data(stats.out.utf8))
        // Decode layer 0: [1,0], [3,2]: every expert once, the 2 hottest are 0 and 1 (ties to the lower id): 2 of 4.
        // Layer 1: [0,3], [3,2]: 3 twice, then 0: the list {3, 0} covers 3 of 4. Pooled 5 of 8.
        #expect(s.perLayer[0].staticOverlap == 0.5 && s.perLayer[1].staticOverlap == 0.75 && s.staticOverlap == 5.0 / 8.0)
        #expect(s.perLayer.map(\.distinctDecodeExperts) == [4, 3] && s.distinctDecodeExpertsMean == 3.5)
        // Reuse counts decode tokens after a decode token: step 3 keeps 0 of 2 at layer 0 and 1 of 2 at layer 1.
        #expect(s.reuse == 0.25)
        #expect(s.staticOverlapIfUniform == 0.5)
    }

    @Test func badRouteTracesNameFileLineAndField() {
        func failure(_ csv: String) -> String {
            let r = importToy(csv)
            #expect(r.code == 1)
            return r.err
        }
        let lines = RouteTraceTests.toyCSV.components(separatedBy: "\n")
        func replacing(_ index: Int, with line: String) -> String {
            var copy = lines
            copy[index] = line
            return copy.joined(separator: "\n")
        }
        #expect(failure(replacing(0, with: "# route_trace v2")).contains("toy.route.csv:1:"))
        #expect(failure(replacing(1, with: "# model=a n_layer=2 n_expert=4 n_expert_used=2 colour=red")).contains("field 'colour'"))
        #expect(failure(replacing(1, with: "# model=a n_layer=999999999999 n_expert=999999999999 n_expert_used=2")).contains("more than moe-sim holds"))
        #expect(failure(replacing(1, with: "# model=a n_layer=2 n_expert=4 n_expert_used=5")).contains("field 'n_expert_used'"))
        #expect(failure(replacing(3, with: "# layer=1 expert_bytes=800")).contains("toy.route.csv:4:"))
        // Row 6 (line 7): expert 9 of 4.
        #expect(failure(replacing(6, with: "0,0,0,0,1,9,0.4,0,1000")).contains("toy.route.csv:7: field 'expert'"))
        #expect(failure(replacing(6, with: "0,0,0,0,2,2,0.4,0,1000")).contains("field 'slot'"))
        #expect(failure(replacing(6, with: "0,0,0,0,1,2,0.4,0,999")).contains("field 'expert_bytes'"))
        #expect(failure(replacing(6, with: "0,0,0,0,1,2,0.4,2,1000")).contains("field 'residency'"))
        #expect(failure(replacing(6, with: "0,0,0,0,1,2,abc,0,1000")).contains("field 'weight'"))
        #expect(failure(replacing(6, with: "0,0,0,0,1,2")).contains("comma-separated fields"))
        // Decode before prefill of the same turn goes back in time.
        #expect(failure(lines.prefix(5).joined(separator: "\n") + "\n" + lines[11] + "\n" + lines[5] + "\n").contains("time order"))
        // The output is not overwritten without --force.
        let first = importToy()
        let again = Fixtures.sim(["trace", "import", first.trace.replacingOccurrences(of: "toy.moetrace.jsonl", with: "toy.route.csv"), first.trace])
        #expect(again.code == 1)
    }

    @Test func residencyAnnotationIsCheckedInJSONL() throws {
        let header = #"{"moe_trace":1,"model":"toy","layers":2,"experts":4,"top_k":2,"weights":"none"}"#
        for (line, expected) in [(#"{"request":"r","phase":"decode","experts":[[0,1],[2]],"resident":[[1,0],[2]]}"#, "expected 0 or 1"),
                                 (#"{"request":"r","phase":"decode","experts":[[0,1],[2]],"resident":[[1,0],[1,1]]}"#, "2 residency flags for 1 experts"),
                                 (#"{"request":"r","phase":"decode","experts":[[0,1],null],"resident":[[1,0],[1]]}"#, "null exactly where")] {
            let path = Fixtures.write(header + "\n" + line + "\n", name: "r.jsonl")
            let reader = try TraceReader(path: path)
            #expect(throws: MoESimError.self) { _ = try reader.next() }
            let r = Fixtures.sim(["trace", "stats", path])
            #expect(r.code == 1 && r.err.contains(expected), "\(r.err)")
        }
    }
}

/// The shipped route traces of ../shared (they fail, not skip, when MOESIM_REQUIRE_SHARED=1 and ../shared is missing).
@Suite(.enabled(if: Fixtures.routeTracesAvailable, "needs ../shared/traces/bigmoeonedge-route-trace"))
struct SharedRouteTraceTests {
    static let runs: [(file: String, budget: String, recordedRate: Double)] = [("qwen", "4000MiB", 0.803), ("gptoss", "3000MiB", 0.448)]

    func imported(_ name: String) throws -> String {
        let out = Fixtures.temporaryDirectory().appendingPathComponent("\(name).moetrace").path
        let r = Fixtures.sim(["trace", "import", Fixtures.routeTrace("\(name).route.csv"), out])
        #expect(r.code == 0, "\(r.err)")
        return out
    }

    @Test func headerSizesMatchTheGGUFRules() throws {
        for (name, model) in [("qwen", "qwen3-30b-a3b"), ("gptoss", "gpt-oss-120b")] {
            let file = try RouteTraceFile(path: Fixtures.routeTrace("\(name).route.csv"))
            let spec = try ModelCatalog.resolve(model)
            let q = try QuantizationCatalog.resolve("q4_k_m")
            #expect(q.expertBytesByLayer(spec) == file.header.expertBytes, "\(name)")
            #expect((0..<spec.moeLayers).map { q.ggufResidentBytes(spec, layer: $0)! } == file.header.denseBytes, "\(name)")
        }
    }

    @Test func bothImportAndReplay() throws {
        for (name, budget, _) in SharedRouteTraceTests.runs {
            let trace = try imported(name)
            // On the phone preset (figures from datasheets, not fitted), cold cache warmed by the prompt, as recorded.
            let r = Fixtures.sim(["run", "--trace", trace, "--quant", "q4_k_m", "--hardware", "snapdragon-8-gen5-ufs4", "--runtime", "tuned",
                                  "--initial-fill", "empty", "--cache", "lru-global:bytes=\(budget)", "--json"])
            #expect(r.code == 0, "\(r.err)")
            let report = try JSONDecoder().decode(Report.self, from: Data(r.out.utf8))
            #expect(report.decode.tokens == (name == "qwen" ? 128 : 64))
            #expect(report.sizes.expertBytesPerLayer?.count == (name == "qwen" ? 48 : nil))
            #expect(report.configuration.offloadTier == "storage")
        }
    }

    /// With no cache every routed expert is loaded (once per prefill pass, once per decode cell): the bytes moved are
    /// each access's own layer's size, not one size for all.
    @Test func transfersUsePerLayerExpertSizes() throws {
        let trace = try imported("qwen")
        let r = Fixtures.sim(["run", "--trace", trace, "--quant", "q4_k_m", "--hardware", "rtx4090", "--runtime", "tuned", "--cache", "none", "--json"])
        #expect(r.code == 0, "\(r.err)")
        let report = try JSONDecoder().decode(Report.self, from: Data(r.out.utf8))
        let sizes = try QuantizationCatalog.resolve("q4_k_m").expertBytesByLayer(try ModelCatalog.resolve("qwen3-30b-a3b"))
        let source = try openTrace(path: trace)
        var expected = 0.0, loads = 0
        var prefill: [Set<Int32>] = Array(repeating: [], count: 48)
        while let item = try source.next() {
            guard case .token = item else { continue }
            let t = source.token
            for l in 0..<48 where t.counts[l] > 0 {
                for i in 0..<Int(t.counts[l]) {
                    let e = t.experts[l * t.slotsPerLayer + i]
                    if t.phase == .prefill { prefill[l].insert(e) } else { expected += Double(sizes[l]); loads += 1 }
                }
            }
        }
        expected += prefill.enumerated().reduce(0.0) { $0 + Double($1.element.count * sizes[$1.offset]) }
        loads += prefill.reduce(0) { $0 + $1.count }
        #expect(report.link.onDemandLoadBytes == expected)
        // Below what one size for all (the largest) would move.
        #expect(expected < Double(loads * sizes.max()!))
    }

    /// A global LRU of the recorded budget, warmed by the trace's own prefill, against the engine's decode residency.
    @Test func byteBudgetLRUReproducesTheRecordedHitRate() throws {
        for (name, budget, recordedRate) in SharedRouteTraceTests.runs {
            let trace = try imported(name)
            let spec = try ModelCatalog.resolve(name == "qwen" ? "qwen3-30b-a3b" : "gpt-oss-120b")
            let sizes = try QuantizationCatalog.resolve("q4_k_m").expertBytesByLayer(spec)
            let r = try ResidencyComparison.run(source: try openTrace(path: trace), expertBytes: sizes, budgetBytes: try ByteSize.parse(budget, field: "budget"))
            #expect(abs(r.recordedHitRate - recordedRate) < 0.0005, "\(name): recorded \(r.recordedHitRate)")
            #expect(abs(r.simulatedHitRate - recordedRate) < 0.02, "\(name): simulated \(r.simulatedHitRate)")
            // Measured: qwen 36,859 of 36,864 cells agree, gpt-oss all 4,608.
            #expect(r.agreement > 0.999, "\(name): agreement \(r.agreement)")
        }
    }

    /// findings.md: "the previous token's k" 38.0 % (qwen) and 17.9 % (gpt-oss), "the run's k hottest" 37.6 % and 26.7 %,
    /// distinct experts touched per layer 64 (33-107) and 36 (19-64), all over the decode steps.
    @Test func statsReproduceTheRecordersOverlaps() throws {
        for (name, temporal, hot, distinct) in [("qwen", 0.380, 0.376, (64.0, 33, 107)), ("gptoss", 0.179, 0.267, (36.0, 19, 64))] {
            let r = Fixtures.sim(["trace", "stats", try imported(name), "--json"])
            #expect(r.code == 0, "\(r.err)")
            let s = try JSONDecoder().decode(TraceStatistics.self, from: Data(r.out.utf8))
            #expect(abs(s.reuse! - temporal) < 0.005, "\(name): temporal \(s.reuse!)")
            #expect(abs(s.staticOverlap! - hot) < 0.005, "\(name): static \(s.staticOverlap!)")
            #expect(abs(s.distinctDecodeExpertsMean! - distinct.0) < 0.5, "\(name): distinct \(s.distinctDecodeExpertsMean!)")
            #expect(s.distinctDecodeExpertsMin == distinct.1 && s.distinctDecodeExpertsMax == distinct.2)
        }
    }
}
