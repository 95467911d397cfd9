import Foundation
import Testing
@testable import MoESim

/// `--set` overrides, comma-list sweeps, `--baseline` on any option, CSV columns, `sim compare`, help, experiment
/// settings and pre-flight checks, progress lines, and the presets' sources.
struct CommandLineSweepTests {
    let files = Fixtures.toyFiles()
    let toyTrace = Fixtures.write(Fixtures.trace([[[0, 1], [2, 3]], [[1, 2], [0, 3]], [[0, 3], [1, 2]], [[2, 3], [0, 1]]]), name: "sweep-toy.moetrace.jsonl")
    static let bundled = Fixtures.repositoryRoot.appendingPathComponent("traces/mixtral-8x7b-synth.moetrace.jsonl").path

    func toyRun(_ extra: [String]) -> (code: Int32, out: String, err: String) {
        Fixtures.sim(["--trace", toyTrace, "--model", files.model, "--runtime", files.runtime, "--cache", "lru-per-layer:2"] + extra)
    }

    func json(_ text: String) throws -> JSONValue { try JSONValue.parse(text) }

    // MARK: --set

    @Test func anOverrideChangesTheFigureAndIsListedInEveryFormat() throws {
        let plain = toyRun(["--hardware", files.hardware, "--json"])
        let slow = toyRun(["--hardware", files.hardware, "--set", "hostLink.h2dBytesPerSecond=1e6", "--json"])
        #expect(plain.code == 0 && slow.code == 0, "\(plain.err)\(slow.err)")
        let a = try json(plain.out), b = try json(slow.out)
        let latency = { (v: JSONValue) in v["decode"]?["latency"]?["meanSeconds"]?.numberValue ?? 0 }
        #expect(latency(b) > latency(a), "a slower link must slow decoding")
        #expect(b["run"]?["overrides"] == .array([.string("hostLink.h2dBytesPerSecond=1e6")]))
        #expect(a["run"]?["overrides"] == .array([]))
        let text = toyRun(["--hardware", files.hardware, "--set", "hostLink.h2dBytesPerSecond=1e6"])
        #expect(text.out.contains("  overrides --set hostLink.h2dBytesPerSecond=1e6"))
        let csvRun = toyRun(["--hardware", files.hardware, "--set", "hostLink.h2dBytesPerSecond=1e6", "--csv"])
        let csv = csvRun.out.split(separator: "\n")
        try #require(csv.count == 2, "\(csvRun.err)")
        let header = csv[0].split(separator: ",", omittingEmptySubsequences: false).map(String.init), row = csv[1].split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        #expect(row[header.firstIndex(of: "overrides")!] == "hostLink.h2dBytesPerSecond=1e6")
        #expect(row[header.firstIndex(of: "tool_version")!] == CommandLineTool.version)
    }

    @Test func aSourcedFigureTakesTheOverrideAsItsSource() throws {
        let overrides = try PresetOverrides.parse(["hostLink.h2dBytesPerSecond=12e9"])
        let p = try HardwareCatalog.resolve("3060", overrides: overrides)
        #expect(p.hostLink!.h2dBytesPerSecond.value == 12e9)
        #expect(p.hostLink!.h2dBytesPerSecond.source == "command line: --set hostLink.h2dBytesPerSecond=12e9")
        #expect(p.hostLink!.h2dBytesPerSecond.unconfirmed == true)
        // Other presets and kinds are untouched.
        #expect(try RuntimeCatalog.resolve("tuned", overrides: overrides).name == "tuned")
        #expect(try HardwareCatalog.resolve("3060").hostLink!.h2dBytesPerSecond.value == 25e9)
    }

    @Test func aMisspelledOverrideIsAnErrorNamingTheFieldWithASuggestion() {
        let r = toyRun(["--hardware", "3060", "--set", "hostLink.h2dBytesPerSecnd=12e9"])
        #expect(r.code == 1)
        #expect(r.err.contains("field 'hostLink.h2dBytesPerSecnd'"), "\(r.err)")
        #expect(r.err.contains("did you mean 'hostLink.h2dBytesPerSecond'?"), "\(r.err)")
        #expect(r.err.contains("hardware preset rtx3060-12g"), "\(r.err)")
        let top = toyRun(["--set", "hostLinc.h2dBytesPerSecond=12e9"])
        #expect(top.code == 1 && top.err.contains("did you mean 'hostLink'?"), "\(top.err)")
        let ambiguous = toyRun(["--set", "name=x"])
        #expect(ambiguous.code == 1 && ambiguous.err.contains("--set hardware.name=x"), "\(ambiguous.err)")
        let notANumber = toyRun(["--hardware", "3060", "--set", "hostLink.h2dBytesPerSecond=fast"])
        #expect(notANumber.code == 1 && notANumber.err.contains("expected a number, found 'fast'"), "\(notANumber.err)")
        #expect(toyRun(["--set", "noequals"]).err.contains("expected PATH=VALUE"))
    }

    @Test func overridesApplyToTheRuntimeAndToServe() throws {
        let r = try RuntimeCatalog.resolve("hf-eager", overrides: try PresetOverrides.parse(["runtime.writeBackOnEvict=false"]))
        #expect(r.writeBackOnEvict.value == false)
        let serve = Fixtures.sim(["serve", "--requests", "4", "--output-tokens", "4", "--prompt-tokens", "8", "--set", "hardware.device.memoryBytes=5e10"])
        #expect(serve.code == 0, "\(serve.err)")
        #expect(serve.out.contains("override: --set hardware.device.memoryBytes=5e10"))
        let cache = Fixtures.sim(["cache", "sweep", "--trace", toyTrace, "--model", files.model, "--set", "hostLink.h2dBytesPerSecond=1e9"])
        #expect(cache.code == 1 && cache.err.contains("sim cache times nothing"), "\(cache.err)")
    }

    // MARK: sweeps

    @Test func commaListsSplitAtValuesWithTheirOwnOptions() {
        let gating = RunSweep.standaloneNames("gating"), cache = RunSweep.standaloneNames("cache")
        #expect(RunSweep.split("a,b,c") == ["a", "b", "c"])
        #expect(RunSweep.split("lru-per-layer:1,2,4", names: cache) == ["lru-per-layer:1,2,4"])
        #expect(RunSweep.split("none,lru-per-layer:2,lfu-per-layer:2", names: cache) == ["none", "lru-per-layer:2", "lfu-per-layer:2"])
        #expect(RunSweep.split("lru-per-layer:2,all-resident,none", names: cache) == ["lru-per-layer:2", "all-resident", "none"])
        #expect(RunSweep.split("adapmoe:T=0.007,prefill,topk", names: gating) == ["adapmoe:T=0.007,prefill", "topk"])
        #expect(RunSweep.split("adapmoe:T=0.1,expert0-bug", names: gating) == ["adapmoe:T=0.1,expert0-bug"])
        #expect(RunSweep(try! ArgumentParser.parse(["--gating", "adapmoe:T=1,prefill"], options: RunCommand.options)).isSweep == false)
    }

    @Test func aSweepPrintsOneRankedTableWithEveryCombination() throws {
        let r = Fixtures.sim(["--trace", toyTrace, "--model", files.model, "--runtime", files.runtime, "--hardware", files.hardware,
                              "--cache", "none,lru-per-layer:2,all-resident", "--seed", "1,2"])
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out.hasPrefix("Sweep of 6 runs (cache x 3, seed x 2)"))
        let rows = r.out.split(separator: "\n").filter { $0.first?.isNumber == true }
        try #require(rows.count == 6)
        #expect(rows.map { $0.split(separator: " ")[0] } == ["1", "2", "3", "4", "5", "6"])
        // Ranked: all-resident first, no cache last; latencies never fall down the table.
        #expect(rows[0].contains("all-resident") && rows[5].contains("none"))
        let latencies = rows.map { Double($0.split(separator: " ", omittingEmptySubsequences: true)[3])! }
        #expect(latencies == latencies.sorted())
        #expect(rows[0].hasSuffix("1.00x"))
    }

    @Test func aSweepListsFailedRunsAndWritesCSVAndSVG() throws {
        let svg = FileManager.default.temporaryDirectory.appendingPathComponent("moesim-sweep-\(UUID().uuidString).svg").path
        defer { try? FileManager.default.removeItem(atPath: svg) }
        let r = Fixtures.sim(["--trace", toyTrace, "--model", files.model, "--runtime", files.runtime, "--hardware", files.hardware,
                              "--cache", "lru-per-layer:2,lru-per-layer:9", "--svg", svg])
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out.contains("1 run(s) failed:\n  lru-per-layer:9: "), "\(r.out)")
        let chart = try String(contentsOfFile: svg, encoding: .utf8)
        #expect(chart.contains("<svg") && chart.contains("lru-per-layer:2"))
        let csv = Fixtures.sim(["--trace", toyTrace, "--model", files.model, "--runtime", files.runtime, "--hardware", files.hardware,
                                "--cache", "none,lru-per-layer:2", "--miss", "load,fiddler", "--csv"])
        #expect(csv.code == 0, "\(csv.err)")
        let lines = csv.out.split(separator: "\n")
        #expect(lines.count == 5, "a header and four rows")
        let widths = Set(lines.map { $0.split(separator: ",", omittingEmptySubsequences: false).count })
        #expect(widths.count == 1, "every row has the header's columns, whatever the miss policy")
        let all = Fixtures.sim(["--trace", toyTrace, "--model", files.model, "--runtime", files.runtime, "--hardware", files.hardware, "--cache", "lru-per-layer:8,lru-per-layer:9"])
        #expect(all.code == 1 && all.err.contains("every run of the sweep failed"))
    }

    @Test func aSweepRefusesATimeline() {
        let r = toyRun(["--hardware", "4090,3060", "--timeline", "x.json"])
        #expect(r.code == 1 && r.err.contains("--timeline"))
    }

    @Test func theIssuesSweepRunsInOneCommand() throws {
        let r = Fixtures.sim(["--system", "mixtral-offloading,adapmoe,promoe", "--hardware", "4090,3060", "--quant", "hqq4",
                              "--trace", CommandLineSweepTests.bundled])
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out.hasPrefix("Sweep of 6 runs (hardware x 2, system x 3)"))
        // mixtral-offloading's 4 experts per layer at 4-bit do not fit 12 GB: listed, not fatal.
        #expect(r.out.contains("1 run(s) failed:\n  3060 / mixtral-offloading"))
    }

    // MARK: --baseline

    @Test func theBaselineTakesAnyOptionAndSaysKeysAreSpaceSeparated() throws {
        let commas = toyRun(["--hardware", files.hardware, "--baseline", "cache=none,prefetch=none"])
        #expect(commas.code == 1)
        #expect(commas.err.contains("keys are separated by spaces"), "\(commas.err)")
        #expect(commas.err.contains("--baseline \"cache=none prefetch=none\""), "\(commas.err)")
        // A cache list with commas is one value, not two keys.
        let list = toyRun(["--hardware", files.hardware, "--baseline", "cache=lru-per-layer:1,2"])
        #expect(list.code == 0, "\(list.err)")
        let hardware = toyRun(["--hardware", files.hardware, "--baseline", "hardware=\(files.hardware) seed=3", "--json"])
        #expect(hardware.code == 0, "\(hardware.err)")
        #expect(try json(hardware.out)["baseline"]?["run"]?["seed"]?.numberValue == 3)
        let unknown = toyRun(["--baseline", "cahce=none"])
        #expect(unknown.code == 1 && unknown.err.contains("did you mean 'cache'?"), "\(unknown.err)")
    }

    // MARK: compare

    @Test func compareShowsSettingsAndRatios() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("moesim-compare-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let a = dir.appendingPathComponent("a.json").path, b = dir.appendingPathComponent("b.json").path
        try toyRun(["--hardware", files.hardware, "--json"]).out.write(toFile: a, atomically: true, encoding: .utf8)
        try toyRun(["--hardware", files.hardware, "--set", "hostLink.h2dBytesPerSecond=1e6", "--json", "--baseline", "cache=none"]).out
            .write(toFile: b, atomically: true, encoding: .utf8)
        let r = Fixtures.sim(["compare", a, b])
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out.contains("overrides: none | hostLink.h2dBytesPerSecond=1e6"))
        let latency = try #require(r.out.split(separator: "\n").first { $0.hasPrefix("decode latency mean") })
        #expect(latency.hasSuffix("x") && !latency.hasSuffix("1.000x"))
        #expect(r.out.contains("0.0 points"), "same cache, same hit rate")
        let same = Fixtures.sim(["compare", a, a])
        #expect(same.out.contains("Same settings.") && same.out.contains("1.000x"))
        let bad = Fixtures.sim(["compare", a, files.model])
        #expect(bad.code == 1 && bad.err.contains("expected the output of `sim run ... --json`"), "\(bad.err)")
    }

    // MARK: help

    @Test func helpAlwaysWorks() {
        for args in [["hardware", "--help"], ["models", "--help"], ["runtime", "--help"], ["systems", "--help"], ["hardware", "show", "--help"],
                     ["models", "show", "--help"], ["compare", "--help"], ["experiment", "--help"]] {
            let r = Fixtures.sim(args)
            #expect(r.code == 0 && r.out.hasPrefix("Usage"), "\(args): \(r.err)")
        }
        let typo = Fixtures.sim(["hardwre"])
        #expect(typo.code == 1 && typo.err.contains("did you mean 'hardware'?"))
        let quant = Fixtures.sim(["experiment", "run", "quickstart", "--quant", "fp16"])
        #expect(quant.code == 1 && quant.err.contains("--set quant=VALUE"), "\(quant.err)")
    }

    // MARK: experiments

    static func specDirectory(_ transform: (String) -> String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("moesim-spec-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let spec = try String(contentsOf: Fixtures.repositoryRoot.appendingPathComponent("experiments/quickstart.json"), encoding: .utf8)
            .replacingOccurrences(of: "traces/mixtral-8x7b-synth", with: Fixtures.repositoryRoot.path + "/traces/mixtral-8x7b-synth")
        try transform(spec).write(to: dir.appendingPathComponent("quickstart.json"), atomically: true, encoding: .utf8)
        return dir.path
    }

    @Test func aSpecWithAnUnknownOptionOrMetricPathFailsBeforeTheSweep() throws {
        let option = try CommandLineSweepTests.specDirectory { $0.replacingOccurrences(of: "\"quant\": \"hqq2\"", with: "\"qaunt\": \"hqq2\"") }
        let r = Fixtures.sim(["experiment", "run", "quickstart", "--experiments", option, "--out", option + "/out", "--quiet"])
        #expect(r.code == 1 && r.err.contains("field 'base.qaunt'") && r.err.contains("did you mean 'quant'?"), "\(r.err)")
        #expect(!FileManager.default.fileExists(atPath: option + "/out"))
        let path = try CommandLineSweepTests.specDirectory {
            $0.replacingOccurrences(of: "\"baseline\": {\"cache\": \"none\"},", with: "\"baseline\": {\"cache\": \"none\"}, \"onRunError\": \"record\",")
                .replacingOccurrences(of: "\"decode.latency.meanSeconds\"", with: "\"decode.latency.meanSecs\"")
        }
        let p = Fixtures.sim(["experiment", "run", "quickstart", "--experiments", path, "--out", path + "/out", "--quiet"])
        #expect(p.code == 1 && p.err.contains("'decode.latency.meanSecs' is not in the output of run 0"), "\(p.err)")
    }

    @Test func experimentSetCollapsesAnAxisReplacesABaseOptionAndPassesPresetFields() throws {
        let dir = try CommandLineSweepTests.specDirectory { $0 }
        let r = Fixtures.sim(["experiment", "run", "quickstart", "--experiments", dir, "--out", dir + "/out", "--quiet",
                              "--set", "cache=lru-per-layer:4", "--set", "quant=hqq4", "--set", "hostLink.h2dBytesPerSecond=20e9"])
        #expect(r.code == 0, "\(r.err)")
        let report = try String(contentsOfFile: dir + "/out/report.md", encoding: .utf8)
        #expect(report.contains("Re-run with --set cache=lru-per-layer:4 --set quant=hqq4 --set hostLink.h2dBytesPerSecond=20e9"))
        #expect(report.contains("--quant hqq4 --set hostLink.h2dBytesPerSecond=20e9"))
        let results = try JSONValue.parse(try String(contentsOfFile: dir + "/out/results.json", encoding: .utf8))
        guard case let .array(runs)? = results["runs"] else { Issue.record("no runs"); return }
        #expect(runs.count == 2, "the collapsed axis and its baseline")
        let bad = Fixtures.sim(["experiment", "run", "quickstart", "--experiments", dir, "--out", dir + "/bad", "--set", "qant=hqq4"])
        #expect(bad.code == 1 && bad.err.contains("did you mean 'quant'?"), "\(bad.err)")
    }

    // MARK: progress, presets

    @Test func progressLinesGiveRateAndETA() {
        #expect(ProgressLine.text(label: "replay", unit: "tokens", done: 500, total: 2000, elapsed: 2, detail: "")
                == "replay: 500/2000 tokens, 250 tokens/s, 2.0 s, ETA 6 s")
        #expect(ProgressLine.text(label: "sweep", unit: "runs", done: 3, total: nil, elapsed: 1.5, detail: "last: a")
                == "sweep: 3 runs, 2.0 runs/s, 1.5 s (last: a)")
        #expect(ProgressLine.duration(125) == "2 min 5 s")
        #expect(RunProgress.tokenLines(CommandLineSweepTests.bundled) == 320)
    }

    @Test func noPresetCitesAnAbsolutePath() throws {
        var sources: [String] = []
        func collect(_ v: JSONValue) {
            switch v {
            case let .object(members):
                for (key, value) in members {
                    if key == "source" || key == "sources", case let .string(s) = value { sources.append(s) }
                    if key == "sources", case let .array(items) = value { sources += items.compactMap(\.stringValue) }
                    collect(value)
                }
            case let .array(items): items.forEach(collect)
            default: break
            }
        }
        let kinds = ["hardware", "models", "runtimes", "systems", "profiles", "serving"]
        for kind in kinds {
            for url in ResourceLocator.presetFiles(kind: kind) {
                collect(try JSONValue.parse(try String(contentsOf: url, encoding: .utf8)))
            }
        }
        #expect(sources.count > 100)
        // A path such as /home/me/docs/peers.md or ~/notes/x.md (a URL's "//host/path" is preceded by ':').
        let pattern = try NSRegularExpression(pattern: #"(^|[\s(;,'"])(~|/[A-Za-z0-9._-]+)/[A-Za-z0-9._-]+"#)
        let absolute = sources.filter { s in
            pattern.firstMatch(in: s, range: NSRange(s.startIndex..., in: s)) != nil || s.contains("file://")
        }
        let example = "see /home/me/docs/peers.md"
        #expect(pattern.firstMatch(in: example, range: NSRange(example.startIndex..., in: example)) != nil, "the pattern finds a path")
        #expect(absolute.isEmpty, "sources must cite documents by name, not by a machine's path: \(absolute)")
    }

    @Test func unifiedMemoryKeepsTheOSReserveFree() throws {
        let orin = try HardwareCatalog.resolve("orin")
        let os = try #require(orin.device.osReservedBytes)
        #expect(os.unconfirmed == true && !os.source.isEmpty)
        let r = Fixtures.sim(["--hardware", "orin", "--trace", CommandLineSweepTests.bundled, "--json"])
        #expect(r.code == 0, "\(r.err)")
        let memory = try #require(try json(r.out)["memory"])
        let peak = try #require(memory["peakDeviceBytes"]?.numberValue), capacity = try #require(memory["deviceCapacityBytes"]?.numberValue)
        let reserve = try #require(memory["runtimeReservedBytes"]?.numberValue)
        #expect(reserve >= os.value, "the reserve holds the OS's share")
        #expect(peak <= capacity, "peak \(peak) (with the reserve) within \(capacity)")
        // The model itself gets at most the memory the OS leaves.
        #expect(peak - reserve <= capacity - os.value)
        #expect(try HardwareCatalog.resolve("4090").device.osReservedBytes == nil)
    }
}

/// With MOESIM_REQUIRE_SHARED=1 (CI) a missing ../shared is a failure, not a quiet skip of the tests that need it.
struct RequiredSharedTests {
    @Test func theSharedTracesArePresentWhenRequired() {
        guard Fixtures.sharedTracesRequired else { return }
        #expect(Fixtures.sharedTracesPresent, "MOESIM_REQUIRE_SHARED=1 but \(Fixtures.sharedTraces.path) lacks the recorded traces")
    }
}

/// Logarithmic value axes and labels that keep apart.
struct ChartScaleTests {
    @Test func aLogScaleSpansPowersOfTenAndPlacesValuesByTheirLogarithm() {
        let scale = NiceScale.logarithmic(minimum: 9.7, maximum: 953)
        #expect(scale.lower == 1 && scale.upper == 1000)
        #expect(scale.ticks == [1, 10, 100, 1000])
        #expect(abs(scale.position(10, from: 0, to: 300) - 100) < 1e-9)
        #expect(abs(scale.position(100, from: 0, to: 300) - 200) < 1e-9)
        let narrow = NiceScale.logarithmic(minimum: 0.02, maximum: 0.4)
        #expect(narrow.ticks == [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1])
        #expect(narrow.tickLabel(0.02) == "0.02" && narrow.tickLabel(1) == "1")
    }

    @Test func aLogBarChartKeepsSmallBarsVisible() throws {
        var chart = BarChart(title: "t", xLabel: "x", yLabel: "y (ms)", categories: ["a", "b"], series: [BarChart.Series(name: "", values: [10, 1000])])
        let linear = chart.svg()
        chart.logScale = true
        let log = chart.svg()
        func heights(_ svg: String) throws -> [Double] {
            let pattern = try NSRegularExpression(pattern: ##"<rect x="[^"]*" y="[^"]*" width="[^"]*" height="([0-9.]+)" fill="#(?!ffffff)"##)
            return pattern.matches(in: svg, range: NSRange(svg.startIndex..., in: svg)).map { Double((svg as NSString).substring(with: $0.range(at: 1)))! }
        }
        let (l, g) = (try heights(linear), try heights(log))
        try #require(l.count == 2 && g.count == 2, "\(l) \(g)")
        #expect(l[0] / l[1] < 0.011, "linear: the small bar is a sliver")
        #expect(g[0] / g[1] > 0.3, "log: the small bar is a third of the large one")
        #expect(log.contains(">1000<") && log.contains(">10<"))
    }

    @Test func slantedLabelsShrinkToTheirSlot() {
        let chart = BarChart(title: "t", xLabel: "x", yLabel: "y", categories: [], series: [])
        #expect(chart.slantedSize(slot: 100) == ChartFrame.tickSizePixels)
        // Neighbouring slanted labels are slot x sin(32 degrees) apart: the font stays below that.
        #expect(chart.slantedSize(slot: 10) < 10 * sin(32 * Double.pi / 180))
    }
}
