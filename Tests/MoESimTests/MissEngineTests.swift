import Foundation
import Testing
@testable import MoESim

/// The engine side of miss policies: `--miss load` is the old engine byte for byte, the checker catches a miss action
/// that lies, the timeline shows CPU work, and bad specs are clear errors.
struct MissEngineTests {
    static let threeTokens: [[[Int]]] = [[[0, 1], [2, 3]], [[1, 2], [0, 3]], [[0, 3], [1, 2]]]

    /// The toy files and a six-token trace, written once (reports name the trace's path).
    static let files = Fixtures.toyFiles(hardware: MissPolicyTests.hardware())
    static let sixTokens = Fixtures.write(Fixtures.trace(MissEngineTests.threeTokens + MissEngineTests.threeTokens), name: "t.moetrace.jsonl")

    static func cli(_ extra: [String], trace: String? = nil) -> (code: Int32, out: String, err: String) {
        let path = trace.map { Fixtures.write($0, name: "t.moetrace.jsonl") } ?? sixTokens
        return Fixtures.sim(["--trace", path, "--model", files.model, "--hardware", files.hardware, "--runtime", files.runtime,
                             "--kv-reserve-tokens", "0"] + extra)
    }

    // MARK: --miss load is the engine without miss policies

    @Test func missLoadPrintsExactlyWhatTheDefaultPrints() {
        for format in [[], ["--json"], ["--csv"]] {
            for cache in ["lru-per-layer:1", "none", "lru-global:3"] {
                let plain = MissEngineTests.cli(["--cache", cache] + format)
                let load = MissEngineTests.cli(["--cache", cache, "--miss", "load"] + format)
                #expect(plain.code == 0 && load.code == 0, "\(plain.err) \(load.err)")
                #expect(plain.out == load.out, "cache \(cache) \(format)")
                #expect(!plain.out.contains("\"miss\"") && !plain.out.contains("Misses"), "no miss section without a miss policy")
                // CSV has the miss columns in every report, so rows of different policies line up: miss "load", the rest empty.
                if format == ["--csv"] { #expect(plain.out.contains(",miss,miss_loaded,") && plain.out.contains(",load,,,,,,,,,,")) }
            }
        }
    }

    @Test func aMissPolicyAddsItsSectionToEveryFormat() {
        let text = MissEngineTests.cli(["--cache", "none", "--miss", "fiddler", "--check"])
        #expect(text.code == 0, "\(text.err)")
        #expect(text.out.contains("miss fiddler, runtime"))
        #expect(text.out.contains("Misses     fiddler: 24 decided: 0 loaded, 24 run on the CPU"))
        #expect(text.out.contains("CPU        24 experts"))
        #expect(text.out.contains("invariant checks: all \(InvariantViolation.Invariant.allCases.count) hold"))
        let json = MissEngineTests.cli(["--cache", "none", "--miss", "hobbit", "--json"])
        #expect(json.out.contains("\"miss\" : \"hobbit\"") && json.out.contains("\"affectedGateMassFraction\""))
        let csv = MissEngineTests.cli(["--cache", "none", "--miss", "hobbit", "--csv"]).out.split(separator: "\n")
        #expect(csv.count == 2 && csv[0].contains("quality_proxy_affected_cell_fraction,quality_proxy_affected_gate_mass_fraction,"))
        let plainCSV = MissEngineTests.cli(["--cache", "none", "--csv"]).out.split(separator: "\n")
        #expect(plainCSV[0] == csv[0], "the same columns with and without a miss policy")
        #expect(CLITests.csvFields(csv[0]).count == CLITests.csvFields(csv[1]).count)
        let quality = MissEngineTests.cli(["--cache", "none", "--miss", "hobbit"]).out
        #expect(quality.contains("Quality    PROXY, not a measured accuracy: 50.0 % of routed (token, expert) cells and 25.0 % of gate-weight mass approximated (low-precision 50.0 %/25.0 %)"))
    }

    @Test func aBaselineCanChangeTheMissPolicy() {
        let r = MissEngineTests.cli(["--cache", "none", "--miss", "fiddler", "--baseline", "miss=load", "--json"])
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out.contains("\"baselineChanges\" : \"miss=load\""))
        let speedup = r.out.split(separator: "\n").first { $0.contains("\"speedup\"") }
        #expect(speedup != nil)
    }

    // MARK: Bad input

    @Test func badMissSpecsAreClearErrors() {
        func error(_ spec: String, trace: String? = nil) -> String {
            let r = trace.map { MissEngineTests.cli(["--miss", spec], trace: $0) } ?? MissEngineTests.cli(["--miss", spec])
            #expect(r.code != 0, "\(spec)")
            return r.err
        }
        #expect(error("nope").contains("--miss") && error("nope").contains("known: load, fiddler, hybrimoe, hobbit, buddymoe"))
        #expect(error("fiddler:x=1").contains("unknown option 'x' for fiddler"))
        #expect(error("hobbit:low=fp16").contains("is not smaller than the run's experts"))
        #expect(error("hobbit:load=0.95,skip=0.9").contains("load=0.95 must not exceed skip=0.9"))
        #expect(error("hobbit:load=2").contains("expected load=NUMBER in [0.0, 1.0]"))
        #expect(error("hobbit:low=zz").contains("low=zz: unknown quantization 'zz'"))
        #expect(error("buddymoe:prefix=0").contains("expected prefix=1"))
        let noWeights = Fixtures.trace(MissEngineTests.threeTokens).replacingOccurrences(of: #""weights":"topk""#, with: #""weights":"none""#)
            .replacingOccurrences(of: #","weights":[[0.75,0.25],[0.75,0.25]]"#, with: "")
        #expect(error("hobbit", trace: noWeights).contains("needs the router's weights"))
        #expect(MissEngineTests.cli(["--miss", "buddymoe:rank=0"], trace: noWeights).code == 0, "rank=0 reads no weights")
    }

    @Test func systemPresetsMayFixTheMissPolicy() throws {
        #expect(SystemPreset.settingKeys.contains("miss"))
        for name in ["fiddler", "hybrimoe", "hobbit", "buddymoe"] {
            let preset = try SystemCatalog.resolve(name)
            #expect(preset.settings["miss"] == name)
            #expect(preset.deviations?.isEmpty == false)
            #expect(preset.commandLine.contains("--miss \(name)"))
        }
    }

    // MARK: The checker

    /// A miss the policy skipped must move nothing and compute nothing.
    @Test func aSkippedMissThatLoadsOrComputesIsCaught() throws {
        let checker = try InvariantTests.bareChecker()
        checker.observe(InvariantTests.passStart(0))
        checker.observe(.access(layer: 0, expert: 1, outcome: .miss, time: 0))
        checker.observe(.missServed(layer: 0, expert: 1, action: .skip, substitute: -1, time: 0))
        #expect(checker.violations.isEmpty)
        checker.observe(.loadIssued(key: 1, cause: .onDemand, generation: 1, time: 0))
        let found = try #require(checker.violations.first)
        #expect(found.invariant == .missActions)
        #expect(found.detail.contains("loaded on demand, but the miss policy served this miss by skip"))
    }

    /// A substitute must be cached and not routed itself; a CPU expert must have been sent there.
    @Test func aSubstituteThatIsNotCachedAndCPUWorkNobodyAskedForAreCaught() throws {
        let checker = try InvariantTests.bareChecker()
        checker.observe(InvariantTests.passStart(0))
        checker.observe(.access(layer: 0, expert: 1, outcome: .miss, time: 0))
        checker.observe(.missServed(layer: 0, expert: 1, action: .substitute, substitute: 2, time: 0))
        #expect(checker.violations.map(\.invariant) == [.missActions])
        #expect(checker.violations[0].detail.contains("substituted by E2, which is not cached"))
        checker.observe(.cpuCompute(CPUWork(start: 0, end: 0.01, resultsReady: 0.011, layer: 0, expert: 3, tokens: 1)))
        #expect(checker.violations.count == 2 && checker.violations[1].detail.contains("did not send this miss there"))
    }

    /// The next layer may not start before the CPU's results are back.
    @Test func usingALayersOutputBeforeTheCPUsResultsIsCaught() throws {
        let checker = try InvariantTests.bareChecker()
        checker.observe(InvariantTests.passStart(0))
        checker.observe(InvariantTests.work(.attention, 0, 0.001))
        checker.observe(.access(layer: 0, expert: 1, outcome: .miss, time: 0.001))
        checker.observe(.missServed(layer: 0, expert: 1, action: .cpu, substitute: -1, time: 0.001))
        checker.observe(.cpuCompute(CPUWork(start: 0.001, end: 0.011, resultsReady: 0.012, layer: 0, expert: 1, tokens: 1)))
        #expect(checker.violations.isEmpty)
        checker.observe(InvariantTests.work(.attention, 0.001, 0.002, layer: 1))
        let found = try #require(checker.violations.first)
        #expect(found.invariant == .missActions)
        #expect(found.detail.contains("layer 0's output was used at 0.001 s, before the CPU's results were back at 0.012 s"))
    }

    /// A report that hides a CPU expert disagrees with the events.
    @Test func aReportThatMiscountsMissActionsIsCaught() throws {
        let modelPath = Fixtures.write(Fixtures.model, name: "toy-model.json")
        let files = Fixtures.toyFiles(hardware: MissPolicyTests.hardware())
        var config = SimulationConfig(hardware: try HardwareCatalog.load(path: files.hardware), model: try ModelCatalog.load(path: modelPath),
                                      quantization: try QuantizationCatalog.resolve("fp16"), runtime: try RuntimeCatalog.load(path: files.runtime),
                                      cache: try CacheSpec.parse("none"), initialFill: .empty, kvReserveTokens: 0)
        config.miss = "fiddler"
        config.beladyReference = false
        let simulation = try Simulation(config: config, source: try TracePassSource(path: Fixtures.write(Fixtures.trace(MissEngineTests.threeTokens), name: "t.moetrace.jsonl")))
        let checker = InvariantChecker(simulation: simulation)
        simulation.observer = checker
        var report = try simulation.run()
        try checker.verify(report: report)
        report.miss!.ranOnCPU -= 1
        report.miss!.loaded += 1
        let found = try #require(InvariantTests.violation { try checker.verify(report: report) })
        #expect(found.invariant == .accessCount || found.invariant == .missActions)
    }

    // MARK: The timeline

    @Test func theTimelineDrawsCPUWorkOnTheCPUTrack() throws {
        let dir = Fixtures.temporaryDirectory()
        let json = dir.appendingPathComponent("t.json").path, svg = dir.appendingPathComponent("t.svg").path
        let r = MissEngineTests.cli(["--cache", "none", "--miss", "fiddler", "--timeline", json, "--timeline-svg", svg])
        #expect(r.code == 0, "\(r.err)")
        let trace = try String(contentsOfFile: json, encoding: .utf8)
        #expect(trace.contains("\"cat\":\"cpu-expert\"") && trace.contains("CPU expert L0/E0"))
        #expect(trace.contains("stall: waiting for the CPU's experts of L0"))
        let picture = try String(contentsOfFile: svg, encoding: .utf8)
        #expect(picture.contains(">CPU<") && picture.contains("CPU expert"))
        // Without CPU work the SVG keeps its rows.
        let plainSVG = dir.appendingPathComponent("p.svg").path
        #expect(MissEngineTests.cli(["--cache", "none", "--timeline-svg", plainSVG]).code == 0)
        #expect(!(try String(contentsOfFile: plainSVG, encoding: .utf8)).contains(">CPU<"))
    }
}
