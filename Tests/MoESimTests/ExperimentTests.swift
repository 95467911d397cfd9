import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
@testable import MoESim

/// Experiments as code: spec validation, sweep expansion, sharding and merge, the check/bless regression guard,
/// SVG output and results folders. Every experiment here runs the toy model (milliseconds per run).
struct ExperimentTests {
    /// Layer 0 and 1 each see experts 0 1 0 2 0: with 2 slots per layer and empty caches LRU hits twice per layer
    /// (the re-used 0 stays), FIFO once (0 is evicted as the oldest before its last use).
    static let lruFavouringTokens: [[[Int]]] = [[[0], [0]], [[1], [1]], [[0], [0]], [[2], [2]], [[0], [0]]]

    /// A temporary experiments folder with the toy inputs; `spec(...)` writes toy.json into it.
    struct Workspace {
        let root: URL
        let trace: String
        let files = Fixtures.toyFiles()

        init() {
            root = Fixtures.temporaryDirectory()
            trace = root.appendingPathComponent("toy.moetrace.jsonl").path
            try! Fixtures.trace(ExperimentTests.lruFavouringTokens).write(toFile: trace, atomically: true, encoding: .utf8)
        }

        var experiments: String { root.appendingPathComponent("experiments").path }
        var specPath: String { experiments + "/toy.json" }
        func path(_ name: String) -> String { root.appendingPathComponent(name).path }

        /// The base options every toy run needs, as spec JSON members.
        var baseMembers: String {
            #""trace": "\#(trace)", "hardware": "\#(files.hardware)", "model": "\#(files.model)", "runtime": "\#(files.runtime)", "initial-fill": "empty""#
        }

        /// A toy spec: `axes` and `extra` are JSON fragments; `cache` goes into base when given.
        @discardableResult
        func spec(axes: String = #"[{"option": "cache", "values": ["none", "lru-per-layer:2", "fifo-per-layer:2"], "labels": ["none", "LRU", "FIFO"]}]"#,
                  cache: String? = nil, extra: String = "") -> String {
            let cacheMember = cache.map { #", "cache": "\#($0)""# } ?? ""
            let text = """
            {"name": "toy", "description": "toy experiment", "command": ["run"],
             "base": {\(baseMembers)\(cacheMember)},
             "axes": \(axes),
             "metrics": [
               {"name": "hits", "path": "cache.hits", "kind": "count"},
               {"name": "latency", "title": "decode latency", "path": "decode.latency.meanSeconds", "kind": "time", "format": "ms"},
               {"name": "hitRate", "title": "hit rate", "path": "cache.hitRate", "kind": "ratio", "format": "percent"}
             ],
             "tables": [{"title": "Toy table", "metrics": ["hits", "latency", "hitRate"]}],
             "plots": [{"type": "bar", "file": "latency.svg", "title": "Toy latency <&> \\"quoted\\"", "x": "cache", "y": "latency",
                        "xLabel": "cache policy", "yLabel": "decode latency (ms)"}],
             "check": {"metrics": ["hits", "latency", "hitRate"]}\(extra)}
            """
            try! FileManager.default.createDirectory(atPath: experiments, withIntermediateDirectories: true)
            try! text.write(toFile: specPath, atomically: true, encoding: .utf8)
            return specPath
        }

        func sim(_ arguments: [String]) -> (code: Int32, out: String, err: String) {
            Fixtures.sim(["experiment"] + arguments + ["--experiments", experiments, "--quiet"])
        }
    }

    static func decode(_ text: String, file: String = "experiments/bad.json") -> MoESimError? {
        do {
            _ = try ExperimentSpec.decode(try JSONValue.parse(text), file: file, expectedName: "bad")
            return nil
        } catch let error as MoESimError {
            return error
        } catch {
            return MoESimError("\(error)")
        }
    }

    static let minimalSpec = #"{"name": "bad", "description": "d", "command": ["run"], "axes": [{"option": "cache", "values": ["none", "lru-per-layer:2"]}], "metrics": [{"name": "hits", "path": "cache.hits", "kind": "count"}]"#

    // MARK: - Spec validation

    @Test(arguments: [
        (#", "axis": []}"#, "field 'axis': unknown field (hint: did you mean 'axes'?"),
        (#", "plots": [{"type": "bar", "file": "a.svg", "title": "t", "x": "cache", "y": "latency", "xLabel": "x", "yLabel": "y"}]}"#,
         "field 'plots[0].y': unknown metric 'latency'"),
        (#", "plots": [{"type": "pie", "file": "a.svg", "title": "t", "x": "cache", "y": "hits", "xLabel": "x", "yLabel": "y"}]}"#,
         "field 'plots[0].type': expected \"line\" or \"bar\""),
        (#", "tables": [{"title": "t", "metrics": ["hits"], "where": {"cache": "lfu-per-layer:2"}}]}"#,
         "field 'tables[0].where.cache': 'lfu-per-layer:2' is not a value of axis 'cache'"),
        (#", "paper": [{"label": "p", "match": {}, "metric": "hits", "value": 3, "source": "s"}]}"#,
         "field 'paper[0].match': does not fix axis 'cache'"),
        (#", "check": {"metrics": ["hits"], "tolerances": {"count": -1}}}"#, "field 'check.tolerances.count': must be a non-negative number"),
        (#", "baseline": {}}"#, "field 'baseline': give at least one option override"),
    ])
    func specErrorsNameFileAndJSONPath(suffix: String, expected: String) throws {
        let error = try #require(ExperimentTests.decode(ExperimentTests.minimalSpec + suffix))
        #expect(error.description.hasPrefix("experiments/bad.json: "))
        #expect(error.description.contains(expected), "\(error)")
    }

    @Test func shippedSpecsAreValidAndHaveExpectations() throws {
        let folder = Fixtures.repositoryRoot.appendingPathComponent("experiments").path
        let specs = try ExperimentCommands.allSpecs(directory: folder)
        #expect(Set(specs.map(\.name)).isSuperset(of: ["quickstart", "cache-curves", "hardware-sweep"]))
        for spec in specs {
            #expect(spec.check != nil, "\(spec.name) has no check variant")
            #expect(FileManager.default.fileExists(atPath: ExperimentCheck.expectedPath(experimentsDirectory: folder, name: spec.name)),
                    "\(spec.name) has no expectations; run `sim experiment bless \(spec.name)`")
            #expect(!spec.plots.isEmpty && !spec.tables.isEmpty)
        }
    }

    @Test func specStructureErrors() throws {
        let labels = try #require(ExperimentTests.decode(#"{"name": "bad", "description": "d", "command": ["run"], "axes": [{"option": "cache", "values": ["a", "b"], "labels": ["A"]}], "metrics": [{"name": "m", "path": "x", "kind": "count"}]}"#))
        #expect(labels.description.contains("field 'axes[0].labels': has 1 labels for 2 values"))
        let kind = try #require(ExperimentTests.decode(#"{"name": "bad", "description": "d", "command": ["run"], "metrics": [{"name": "m", "path": "x"}]}"#))
        #expect(kind.description.contains("field 'metrics[0]': 'kind' is required"))
        let speedup = try #require(ExperimentTests.decode(#"{"name": "bad", "description": "d", "command": ["run"], "metrics": [{"name": "m", "path": "x", "kind": "time"}, {"name": "s", "speedupOf": "m"}]}"#))
        #expect(speedup.description.contains("field 'metrics[1].speedupOf': a speedup needs a top-level 'baseline'"))
        let name = try #require(ExperimentTests.decode(#"{"name": "other", "description": "d", "command": ["run"], "metrics": [{"name": "m", "path": "x", "kind": "time"}]}"#))
        #expect(name.description.contains("field 'name': is 'other' but the file is bad.json"))
        let unfixed = try #require(ExperimentTests.decode(#"{"name": "bad", "description": "d", "command": ["run"], "axes": [{"option": "a", "values": [1, 2]}, {"option": "b", "values": [1, 2]}], "metrics": [{"name": "m", "path": "x", "kind": "time"}], "plots": [{"type": "line", "file": "p.svg", "title": "t", "x": "a", "y": "m", "xLabel": "x", "yLabel": "y"}]}"#))
        #expect(unfixed.description.contains("field 'plots[0]': axis 'b' has 2 values but is neither x nor series"))
        let json = try #require(ExperimentTests.decode(#"{"name": "bad", "description": "d", "command": ["run", "--json"], "metrics": []}"#))
        #expect(json.description.contains("field 'command[1]': leave out --json"))
    }

    @Test func anAbsentPathUsesTheMetricsDefaultOnlyWhenGiven() throws {
        let workspace = Workspace()
        workspace.spec()
        let text = """
        {"name": "toy", "description": "toy", "command": ["run"], "base": {\(workspace.baseMembers)},
         "axes": [{"option": "cache", "values": ["lru-per-layer:2"]}],
         "metrics": [{"name": "hits", "path": "cache.hits", "kind": "count"},
                     {"name": "proxy", "path": "gating.estimatedLossIncreaseProxy", "kind": "ratio", "absent": 0}],
         "tables": [{"title": "t", "metrics": ["hits", "proxy"]}],
         "plots": [{"type": "bar", "file": "p.svg", "title": "t", "x": "cache", "y": "hits", "xLabel": "x", "yLabel": "y"}]}
        """
        try text.write(toFile: workspace.specPath, atomically: true, encoding: .utf8)
        let out = workspace.path("out-absent")
        let r = workspace.sim(["run", "toy", "--out", out])
        #expect(r.code == 0, "\(r.err)")
        let csv = try String(contentsOfFile: out + "/results.csv", encoding: .utf8)
        #expect(csv.split(separator: "\n")[1].contains(",lru-per-layer:2,4,0,sim run"), "\(csv)")
        let misplaced = try #require(ExperimentTests.decode(#"{"name": "bad", "description": "d", "command": ["run"], "baseline": {"cache": "none"}, "metrics": [{"name": "m", "path": "x", "kind": "time"}, {"name": "s", "speedupOf": "m", "absent": 1}]}"#))
        #expect(misplaced.description.contains("field 'metrics[1].absent': only a 'path' metric"))
    }

    // MARK: - Expansion and sharding

    @Test func axesExpandAsNestedLoopsFirstAxisOutermost() throws {
        let text = #"{"name": "x", "description": "d", "command": ["run"], "base": {"trace": "T", "json-free": true, "skip": false}, "axes": [{"option": "a", "values": ["1", "2"]}, {"option": "b", "title": "B", "values": ["p", "q", "r"], "labels": ["P", "Q", "R"]}], "baseline": {"b": "p", "prefetch": "none"}, "metrics": [{"name": "m", "path": "x", "kind": "time"}]}"#
        let spec = try ExperimentSpec.decode(try JSONValue.parse(text), file: "x.json")
        let plan = ExperimentPlan(spec: spec, sharedDirectory: "S")
        #expect(plan.sweepRuns.map(\.label) == ["a=1, B=P", "a=1, B=Q", "a=1, B=R", "a=2, B=P", "a=2, B=Q", "a=2, B=R"])
        #expect(plan.runs[1].arguments == ["run", "--trace", "T", "--json-free", "--a", "1", "--b", "q", "--json"])
        // The baseline changes an option no axis has, so each `a` value needs one extra run, after the sweep.
        #expect(plan.runs.count == 8)
        #expect(plan.runs[6].label == "baseline: a=1, B=P, prefetch=none" && plan.runs[6].role == .baseline)
        #expect(plan.runs[6].arguments == ["run", "--trace", "T", "--json-free", "--a", "1", "--b", "p", "--prefetch", "none", "--json"])
        #expect(plan.runs.prefix(3).allSatisfy { $0.baselineIndex == 6 } && plan.runs[3..<6].allSatisfy { $0.baselineIndex == 7 })
        #expect(plan.indices(for: Shard(index: 1, count: 3)) == [1, 4, 7])
        #expect(try Shard.parse("2/3") == Shard(index: 2, count: 3))
        #expect(throws: MoESimError.self) { try Shard.parse("3/3") }
    }

    @Test func shardsMergedAreByteIdenticalToOneRun() throws {
        let workspace = Workspace()
        workspace.spec(axes: #"[{"option": "cache", "values": ["none", "lru-per-layer:1", "lru-per-layer:2", "fifo-per-layer:2"]}, {"option": "prefetch", "values": ["none", "oracle-next-layer"]}]"#,
                       extra: #", "baseline": {"cache": "none"}"#)
        // The toy spec's plot has x = cache, so the prefetch axis needs a series; rewrite it with one.
        var text = try String(contentsOfFile: workspace.specPath, encoding: .utf8)
        text = text.replacingOccurrences(of: #""y": "latency","#, with: #""y": "latency", "series": "prefetch","#)
        try text.write(toFile: workspace.specPath, atomically: true, encoding: .utf8)

        let whole = workspace.sim(["run", "toy", "--out", workspace.path("whole")])
        #expect(whole.code == 0, "\(whole.err)")
        var shardFolders: [String] = []
        for index in 0..<3 {
            let folder = workspace.path("shard\(index)")
            let result = workspace.sim(["run", "toy", "--shard", "\(index)/3", "--out", folder, "--jobs", "1"])
            #expect(result.code == 0, "\(result.err)")
            shardFolders.append(folder)
        }
        let merged = workspace.sim(["merge", workspace.path("merged")] + shardFolders.reversed())
        #expect(merged.code == 0, "\(merged.err)")
        for file in ["results.json", "results.csv", "report.md", "latency.svg"] {
            let a = FileManager.default.contents(atPath: workspace.path("whole/\(file)"))
            let b = FileManager.default.contents(atPath: workspace.path("merged/\(file)"))
            #expect(a != nil && a == b, "\(file) differs between the unsharded run and the merged shards")
        }
        let incomplete = workspace.sim(["merge", workspace.path("partial"), shardFolders[0], shardFolders[2]])
        #expect(incomplete.code == 1 && incomplete.err.contains("shard 1/3 is missing"))
    }

    @Test func parallelRunsGiveTheSameBytesAsOneWorker() throws {
        let workspace = Workspace()
        workspace.spec()
        #expect(workspace.sim(["run", "toy", "--out", workspace.path("one"), "--jobs", "1"]).code == 0)
        #expect(workspace.sim(["run", "toy", "--out", workspace.path("four"), "--jobs", "4"]).code == 0)
        #expect(FileManager.default.contents(atPath: workspace.path("one/results.json")) == FileManager.default.contents(atPath: workspace.path("four/results.json")))
    }

    // MARK: - Check and bless

    @Test func checkPassesOnBlessedNumbersAndNamesWhatMoved() throws {
        let workspace = Workspace()
        workspace.spec()
        let bless = workspace.sim(["bless", "toy"])
        #expect(bless.code == 0, "\(bless.err)")
        let check = workspace.sim(["check"])
        #expect(check.code == 0, "\(check.out)\(check.err)")
        #expect(check.out.contains("ok    toy: 3 runs, 9 numbers as expected"))

        // Move one count and one time in the stored expectations.
        let expectedFile = workspace.experiments + "/expected/toy.json"
        var text = try String(contentsOfFile: expectedFile, encoding: .utf8)
        let expected = try JSONValue.parse(text)
        guard case let .array(runs)? = expected["runs"], let lru = runs.first(where: { $0["run"]?.stringValue == "cache=LRU" }),
              let hits = lru["metrics"]?["hits"]?.numberValue, let latency = lru["metrics"]?["latency"]?.numberValue else {
            Issue.record("unexpected expectations file: \(text)")
            return
        }
        #expect(hits == 4)
        text = text.replacingOccurrences(of: "\"hits\": \(JSONValue.format(hits)),", with: "\"hits\": \(JSONValue.format(hits + 1)),")
        text = text.replacingOccurrences(of: JSONValue.format(latency), with: JSONValue.format(latency * (1 + 1e-6)))
        try text.write(toFile: expectedFile, atomically: true, encoding: .utf8)
        let failed = workspace.sim(["check", "toy"])
        #expect(failed.code == 1)
        #expect(failed.out.contains("experiment toy, run 'cache=LRU', metric hits: expected 5, got 4 (difference -1; tolerance 0: counts must match exactly)"), "\(failed.out)")
        #expect(failed.out.contains("experiment toy, run 'cache=LRU', metric latency: expected"), "\(failed.out)")
        #expect(failed.out.contains("tolerance relative 1.0e-09"))
        #expect(failed.err.contains("experiment check failed: toy"))
    }

    @Test func checkFailsWhenAPolicyBehavesDifferently() throws {
        // Blessed with LRU; then the spec's policy becomes FIFO while run names and expectations stay: the
        // numbers move, as they would if LRU's own behaviour changed.
        let workspace = Workspace()
        let axes = #"[{"option": "hardware", "values": ["HW"]}]"#
        workspace.spec(axes: axes.replacingOccurrences(of: "HW", with: workspace.files.hardware), cache: "lru-per-layer:2")
        // The hardware axis replaces the base hardware option, and the plot's x must be that axis.
        func writeSpec(cache: String) throws {
            var text = try String(contentsOfFile: workspace.specPath, encoding: .utf8)
            text = text.replacingOccurrences(of: #""hardware": "\#(workspace.files.hardware)", "model""#, with: #""model""#)
            text = text.replacingOccurrences(of: #""cache": "lru-per-layer:2""#, with: #""cache": "\#(cache)""#)
            text = text.replacingOccurrences(of: #""x": "cache""#, with: #""x": "hardware""#)
            try text.write(toFile: workspace.specPath, atomically: true, encoding: .utf8)
        }
        try writeSpec(cache: "lru-per-layer:2")
        #expect(workspace.sim(["bless", "toy"]).code == 0)
        #expect(workspace.sim(["check", "toy"]).code == 0)
        try writeSpec(cache: "fifo-per-layer:2")
        let failed = workspace.sim(["check", "toy"])
        #expect(failed.code == 1)
        #expect(failed.out.contains("experiment toy, run 'hardware=\(workspace.files.hardware)', metric hits: expected 4, got 2"), "\(failed.out)")
        #expect(failed.out.contains("metric hitRate: expected"))
    }

    @Test func runsNeedingAbsentSharedFilesAreSkippedNotFailed() throws {
        let workspace = Workspace()
        workspace.spec()
        var text = try String(contentsOfFile: workspace.specPath, encoding: .utf8)
        text = text.replacingOccurrences(of: workspace.trace, with: "${shared}/absent.moetrace.jsonl")
        try text.write(toFile: workspace.specPath, atomically: true, encoding: .utf8)
        let shared = workspace.path("no-shared-here")
        let run = workspace.sim(["run", "toy", "--out", workspace.path("out"), "--shared", shared])
        #expect(run.code == 0, "\(run.err)")
        let report = try String(contentsOfFile: workspace.path("out/report.md"), encoding: .utf8)
        #expect(report.contains("skipped: needs \(shared)/absent.moetrace.jsonl"))
        #expect(report.contains("| none | skipped | skipped | skipped |"))
        // Check skips too (with an expectations file in place it must not fail).
        try FileManager.default.createDirectory(atPath: workspace.experiments + "/expected", withIntermediateDirectories: true)
        try #"{"schema": "moe-sim/experiment-expected/1", "experiment": "toy", "runs": []}"#.write(toFile: workspace.experiments + "/expected/toy.json", atomically: true, encoding: .utf8)
        let check = workspace.sim(["check", "toy", "--shared", shared])
        #expect(check.code == 0, "\(check.out)\(check.err)")
        #expect(check.out.contains("skip  toy: 3 of 3 runs skipped: needs"))
        #expect(workspace.sim(["bless", "toy", "--shared", shared]).err.contains("cannot bless toy"))
    }

    @Test func failingRunsStopTheExperimentUnlessRecorded() throws {
        let workspace = Workspace()
        workspace.spec(axes: #"[{"option": "cache", "values": ["none", "nonsense-per-layer:2"]}]"#)
        let failed = workspace.sim(["run", "toy", "--out", workspace.path("a")])
        #expect(failed.code == 1)
        #expect(failed.err.contains("experiment toy, run 1 (cache=nonsense-per-layer:2) failed:"), "\(failed.err)")
        #expect(!FileManager.default.fileExists(atPath: workspace.path("a")))
        workspace.spec(axes: #"[{"option": "cache", "values": ["none", "nonsense-per-layer:2"]}]"#, extra: #", "onRunError": "record""#)
        let recorded = workspace.sim(["run", "toy", "--out", workspace.path("b")])
        #expect(recorded.code == 0, "\(recorded.err)")
        let csv = try String(contentsOfFile: workspace.path("b/results.csv"), encoding: .utf8)
        #expect(csv.split(separator: "\n")[2].hasPrefix("1,cache=nonsense-per-layer:2,sweep,failed,"))
    }

    /// Issue 19 row 10: with "onRunError": "record" and every run failing, the sweep exited 0 ("5 runs, 5 failed (recorded)").
    @Test func aSweepWhereNoRunSucceededFails() throws {
        let workspace = Workspace()
        workspace.spec(axes: #"[{"option": "cache", "values": ["nonsense-per-layer:1", "nonsense-per-layer:2"]}]"#, extra: #", "onRunError": "record""#)
        let r = workspace.sim(["run", "toy", "--out", workspace.path("c")])
        #expect(r.code == 1)
        #expect(r.err.contains("error: no run succeeded: 2 runs, 2 failed (recorded); why each did not is in \(workspace.path("c"))/report.md"), "\(r.err)")
        // The results that say why are still written.
        #expect(FileManager.default.fileExists(atPath: workspace.path("c/results.csv")))
    }

    // MARK: - Output files

    @Test func resultsAreWrittenWholeAndNotOverwrittenWithoutForce() throws {
        let workspace = Workspace()
        workspace.spec()
        let folder = workspace.path("results/toy")
        #expect(workspace.sim(["run", "toy", "--out", folder]).code == 0)
        let marker = folder + "/marker.txt"
        try "keep".write(toFile: marker, atomically: true, encoding: .utf8)
        let again = workspace.sim(["run", "toy", "--out", folder])
        #expect(again.code == 1 && again.err.contains("already exists; not overwriting it (hint: pass --force"))
        #expect(FileManager.default.fileExists(atPath: marker))
        let forced = workspace.sim(["run", "toy", "--out", folder, "--force"])
        #expect(forced.code == 0)
        // Replaced as a whole: the old folder's extra file is gone, and no staging folder is left behind.
        #expect(!FileManager.default.fileExists(atPath: marker))
        let siblings = try FileManager.default.contentsOfDirectory(atPath: workspace.path("results"))
        #expect(siblings == ["toy"])
        let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
        #expect(names == ["latency.svg", "report.md", "results.csv", "results.json"])
    }

    @Test func reportListsEveryCommandAndTables() throws {
        let workspace = Workspace()
        workspace.spec(extra: #", "baseline": {"cache": "none"}"#)
        #expect(workspace.sim(["run", "toy", "--out", workspace.path("r")]).code == 0)
        let report = try String(contentsOfFile: workspace.path("r/report.md"), encoding: .utf8)
        #expect(report.contains("## Toy table"))
        #expect(report.contains("| cache | hits | decode latency (ms) | hit rate (%) |"))
        #expect(report.contains("| LRU | 4 |"))
        #expect(report.contains("- run 1 (cache=LRU): `sim run --trace \(workspace.trace)"))
        #expect(report.contains("![Toy latency <&> \"quoted\"](latency.svg)"))
        let json = try JSONValue.parse(try String(contentsOfFile: workspace.path("r/results.json"), encoding: .utf8))
        guard case let .array(runs)? = json["runs"] else { Issue.record("no runs"); return }
        #expect(runs.count == 3)
        #expect(runs[1]["report"]?["cache"]?["hits"]?.numberValue == 4)
        #expect(runs[2]["metrics"]?["hits"]?.numberValue == 2)
    }

    // MARK: - SVG

    /// Collects the text content of an SVG; `parse()` fails on anything that is not well-formed XML.
    final class TextCollector: NSObject, XMLParserDelegate {
        var texts: [String] = []
        var current = ""
        var root: String?
        func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            if root == nil { root = elementName }
            current = ""
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) { current += string }
        func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
            if elementName == "text" { texts.append(current) }
            current = ""
        }
    }

    static func parseSVG(_ svg: String) -> TextCollector? {
        let parser = XMLParser(data: Data(svg.utf8))
        let collector = TextCollector()
        parser.delegate = collector
        return parser.parse() ? collector : nil
    }

    @Test func experimentSVGIsWellFormedWithTitleAndAxisLabels() throws {
        let workspace = Workspace()
        workspace.spec()
        #expect(workspace.sim(["run", "toy", "--out", workspace.path("r")]).code == 0)
        let svg = try String(contentsOfFile: workspace.path("r/latency.svg"), encoding: .utf8)
        let parsed = try #require(ExperimentTests.parseSVG(svg))
        #expect(parsed.root == "svg")
        #expect(parsed.texts.contains("Toy latency <&> \"quoted\""))
        #expect(parsed.texts.contains("cache policy") && parsed.texts.contains("decode latency (ms)"))
        #expect(parsed.texts.contains("LRU") && parsed.texts.contains("FIFO"))
        #expect(svg.contains("&lt;&amp;&gt;"))
    }

    @Test func lineChartHasTicksLegendAndGaps() throws {
        let chart = LineChart(title: "Hit rate", xLabel: "capacity (experts)", yLabel: "hit rate (%)", xLabels: ["1", "2", "4"],
                              series: [.init(name: "LRU", values: [10, nil, 60]), .init(name: "Belady", values: [30, 55, 80])])
        let svg = chart.svg()
        let parsed = try #require(ExperimentTests.parseSVG(svg))
        for label in ["Hit rate", "capacity (experts)", "hit rate (%)", "LRU", "Belady", "0", "20", "80", "1", "2", "4"] {
            #expect(parsed.texts.contains(label), "missing text '\(label)'")
        }
        // LRU's missing middle point leaves no line segment for it (one polyline: Belady's).
        #expect(svg.components(separatedBy: "<polyline").count - 1 == 1)
        #expect(chart.svg() == svg)
    }

    @Test func niceScalesUseRoundSteps() {
        let latency = NiceScale(minimum: 74.9, maximum: 186.9, includeZero: true)
        #expect(latency.lower == 0 && latency.upper == 200 && latency.step == 50)
        let fraction = NiceScale(minimum: 0.05, maximum: 0.93, includeZero: true)
        #expect(fraction.step == 0.2 && fraction.upper == 1 && fraction.tickLabel(0.4) == "0.4")
        let flat = NiceScale(minimum: 3, maximum: 3, includeZero: false)
        #expect(flat.lower < 3 && flat.upper > 3)
        #expect(SVGDocument.number(-0.001) == "0" && SVGDocument.number(12.5) == "12.5")
    }
}
