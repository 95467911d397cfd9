import Foundation
import Testing
@testable import MoESim

/// Every command that writes files refuses to replace an existing one without --force, and writes through a
/// temporary file renamed into place, so a failed or interrupted run leaves no half-written output; an interrupted
/// experiment sweep keeps its finished runs.
struct SafeOutputTests {
    static let goodTrace = Fixtures.trace([[[0, 1], [2, 3]], [[1, 2], [3, 0]], [[0, 3], [1, 2]]])

    /// The toy trace with its last line broken: a reader fails only after writing most of the output.
    static let traceBrokenAtTheEnd = goodTrace + #"{"request":"r0","phase":"decode","pos":9,"experts":[[0,1],[2,"#  + "\n"

    /// Files in `folder` other than `except`, hidden ones included (a leftover `.NAME.partial-*` shows up here).
    static func otherFiles(_ folder: URL, except: Set<String>) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).filter { !except.contains($0) }.sorted()
    }

    func expectRefusal(_ result: (code: Int32, out: String, err: String), path: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(result.code != 0, sourceLocation: sourceLocation)
        #expect(result.err.contains(path), "path missing from: \(result.err)", sourceLocation: sourceLocation)
        #expect(result.err.contains("--force"), "--force missing from: \(result.err)", sourceLocation: sourceLocation)
        #expect(result.err.contains("not overwriting"), sourceLocation: sourceLocation)
    }

    // MARK: Refusing to overwrite

    @Test(arguments: ["out.moetrace.jsonl", "out.moetrace"])
    func convertRefusesAnExistingOutputAndKeepsIt(name: String) throws {
        let folder = Fixtures.temporaryDirectory()
        let input = Fixtures.write(Self.goodTrace, name: "in.moetrace.jsonl")
        let output = folder.appendingPathComponent(name).path
        try "precious".write(toFile: output, atomically: true, encoding: .utf8)
        expectRefusal(Fixtures.sim(["trace", "convert", input, output]), path: output)
        #expect(try String(contentsOfFile: output, encoding: .utf8) == "precious")
        let forced = Fixtures.sim(["trace", "convert", input, output, "--force"])
        #expect(forced.code == 0, "\(forced.err)")
        #expect(try Self.readTokens(output) == 3)
        #expect(Self.otherFiles(folder, except: [name]).isEmpty)
    }

    @Test func synthRefusesAnExistingOutput() throws {
        let output = Fixtures.write("precious", name: "synth.moetrace.jsonl")
        expectRefusal(Fixtures.sim(["trace", "synth", "--profile", "zipf", "--tokens", "3", "--out", output]), path: output)
        #expect(try String(contentsOfFile: output, encoding: .utf8) == "precious")
        #expect(Fixtures.sim(["trace", "synth", "--profile", "zipf", "--tokens", "3", "--out", output, "--force"]).code == 0)
        #expect(try Self.readTokens(output) == 3)
    }

    @Test func importRefusesAnExistingOutput() throws {
        let rows = #"{"req":"r","phase":"decode","layer":0,"tok":0,"topk":[1,0],"gate_w":[0.6,0.4]}"# + "\n"
        let input = Fixtures.write(rows, name: "rows.jsonl")
        let output = Fixtures.write("precious", name: "imported.moetrace.jsonl")
        let files = Fixtures.toyFiles()
        expectRefusal(Fixtures.sim(["trace", "import", input, output, "--model", files.model]), path: output)
        #expect(try String(contentsOfFile: output, encoding: .utf8) == "precious")
        #expect(Fixtures.sim(["trace", "import", input, output, "--model", files.model, "--force"]).code == 0)
    }

    @Test func experimentRunRefusesAnExistingFolderBeforeRunningAnything() throws {
        let workspace = ExperimentTests.Workspace()
        // Every run of this spec fails: a refusal that came after the sweep would report the failure instead.
        workspace.spec(axes: #"[{"option": "cache", "values": ["no-such-policy-per-layer:2"]}]"#)
        let out = workspace.path("results")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try "keep".write(toFile: out + "/mine.txt", atomically: true, encoding: .utf8)
        let result = workspace.sim(["run", "toy", "--out", out])
        expectRefusal(result, path: out)
        #expect(!result.err.contains("no-such-policy"))
        #expect(try String(contentsOfFile: out + "/mine.txt", encoding: .utf8) == "keep")
    }

    @Test func experimentMergeRefusesAnExistingFolder() throws {
        let workspace = ExperimentTests.Workspace()
        workspace.spec()
        let shard = workspace.path("shard-0")
        #expect(workspace.sim(["run", "toy", "--shard", "0/1", "--out", shard]).code == 0)
        let out = workspace.path("merged")
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        expectRefusal(workspace.sim(["merge", out, shard]), path: out)
        #expect(workspace.sim(["merge", out, shard, "--force"]).code == 0)
        #expect(FileManager.default.fileExists(atPath: out + "/report.md"))
    }

    // MARK: Atomic writes

    /// A conversion that fails on the input's last line leaves no output and no temporary file: before, the tokens
    /// read so far were left in OUT, a valid-looking truncated trace.
    @Test(arguments: ["out.moetrace.jsonl", "out.moetrace"])
    func aFailedConversionLeavesNoOutput(name: String) {
        let folder = Fixtures.temporaryDirectory()
        let input = Fixtures.write(Self.traceBrokenAtTheEnd, name: "in.moetrace.jsonl")
        let output = folder.appendingPathComponent(name).path
        let result = Fixtures.sim(["trace", "convert", input, output])
        #expect(result.code != 0)
        #expect(result.err.contains(":6:"), "\(result.err)")
        #expect(!FileManager.default.fileExists(atPath: output))
        #expect(Self.otherFiles(folder, except: []).isEmpty)
    }

    /// With --force, a failed conversion leaves the old OUT as it was.
    @Test func aFailedForcedConversionKeepsTheOldOutput() throws {
        let folder = Fixtures.temporaryDirectory()
        let input = Fixtures.write(Self.traceBrokenAtTheEnd, name: "in.moetrace.jsonl")
        let output = folder.appendingPathComponent("out.moetrace.jsonl").path
        try Self.goodTrace.write(toFile: output, atomically: true, encoding: .utf8)
        #expect(Fixtures.sim(["trace", "convert", input, output, "--force"]).code != 0)
        #expect(try String(contentsOfFile: output, encoding: .utf8) == Self.goodTrace)
        #expect(Self.otherFiles(folder, except: ["out.moetrace.jsonl"]).isEmpty)
    }

    /// The file is not there while it is being written, and appears whole on commit; dropping the writer without a
    /// commit (an error thrown on the way) deletes the temporary file.
    @Test func anOutputFileAppearsOnlyWhenCommitted() throws {
        let folder = Fixtures.temporaryDirectory()
        let path = folder.appendingPathComponent("a.json").path
        let file = try AtomicOutputFile(path: path, overwrite: false)
        file.write(Data("{\"half\":".utf8))
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(FileManager.default.fileExists(atPath: file.temporaryPath))
        #expect(URL(fileURLWithPath: file.temporaryPath).deletingLastPathComponent().path == folder.path)
        file.write(Data("1}".utf8))
        try file.commit()
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "{\"half\":1}")
        #expect(Self.otherFiles(folder, except: ["a.json"]).isEmpty)

        var dropped: AtomicOutputFile? = try AtomicOutputFile(path: folder.appendingPathComponent("b.json").path, overwrite: false)
        dropped?.write(Data("{".utf8))
        dropped = nil
        #expect(Self.otherFiles(folder, except: ["a.json"]).isEmpty)
    }

    /// Without --force, a file that appears at the destination while the output is written is not replaced.
    @Test func aFileThatAppearsMeanwhileIsNotReplaced() throws {
        let folder = Fixtures.temporaryDirectory()
        let path = folder.appendingPathComponent("race.json").path
        let file = try AtomicOutputFile(path: path, overwrite: false)
        file.write(Data("mine".utf8))
        try "theirs".write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: MoESimError.self) { try file.commit() }
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "theirs")
        #expect(Self.otherFiles(folder, except: ["race.json"]).isEmpty)
    }

    // MARK: Interrupted sweeps

    /// Once `stop` says so, no run starts; finished runs are kept, the others come back as not run, and the results
    /// folder written from them says which.
    @Test func anInterruptedSweepKeepsTheFinishedRuns() throws {
        let workspace = ExperimentTests.Workspace()
        let spec = try ExperimentSpec.load(path: workspace.spec())
        let plan = ExperimentPlan(spec: spec, sharedDirectory: "/nonexistent")
        var asked = 0
        // Asked before each run with one worker: the first run starts, then the sweep is "interrupted".
        let outcomes = try ExperimentRunner.run(plan: plan, indices: Array(plan.runs.indices), jobs: 1, stop: {
            asked += 1
            return asked > 1
        })
        #expect(outcomes.count == plan.runs.count)
        #expect(outcomes[0].report != nil)
        for outcome in outcomes.dropFirst() { #expect(outcome.status == .skipped(ExperimentRunner.interruptedReason)) }
        let files = try ExperimentResults(plan: plan, outcomes: outcomes).files()
        let report = try #require(files.first { $0.name == ExperimentResults.reportFile }?.contents)
        #expect(report.contains("run 1 (cache=LRU): not run: the sweep was interrupted (Ctrl-C)"))
        #expect(report.contains("run 2 (cache=FIFO): not run"))
        #expect(throws: MoESimError.self) { try ExperimentCommands.failIfInterrupted(outcomes, listedIn: "results/toy/report.md") }
        #expect(throws: Never.self) { try ExperimentCommands.failIfInterrupted([outcomes[0]], listedIn: "results/toy/report.md") }
    }

    /// The real thing: `sim experiment run` in a child process, SIGINT once the first runs are done. It exits
    /// non-zero saying what it kept, and the results folder holds the finished runs and lists the rest as not run.
    @Test func ctrlCDuringASweepWritesTheFinishedRuns() throws {
        let sim = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("sim")
        guard FileManager.default.isExecutableFile(atPath: sim.path) else {
            print("skipped: no sim binary beside the test runner (\(sim.path)); build it with swift build --build-tests")
            return
        }
        let workspace = ExperimentTests.Workspace()
        // 400 toy runs, one at a time: several seconds in all, so the signal arrives mid-sweep.
        let seeds = (1...400).map(String.init).joined(separator: ", ")
        try FileManager.default.createDirectory(atPath: workspace.experiments, withIntermediateDirectories: true)
        try """
            {"name": "toy", "description": "toy sweep", "command": ["run"], "base": {\(workspace.baseMembers), "cache": "lru-per-layer:2"},
             "axes": [{"option": "seed", "values": [\(seeds)]}], "metrics": [{"name": "hits", "path": "cache.hits", "kind": "count"}]}
            """.write(toFile: workspace.specPath, atomically: true, encoding: .utf8)
        let out = workspace.path("results")
        let process = Process()
        process.executableURL = sim
        process.arguments = ["experiment", "run", "toy", "--experiments", workspace.experiments, "--out", out, "--jobs", "1", "--progress"]
        let errors = Pipe()
        process.standardError = errors
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        // The first progress line comes after a second of runs.
        var stderr = Data()
        while process.isRunning, !String(decoding: stderr, as: UTF8.self).contains("runs/s") {
            stderr += errors.fileHandleForReading.availableData
        }
        guard process.isRunning else {
            Issue.record("the sweep ended before the first progress line; it needs more runs: \(String(decoding: stderr, as: UTF8.self))")
            return
        }
        process.interrupt()
        stderr += errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let text = String(decoding: stderr, as: UTF8.self)
        #expect(process.terminationStatus == 1, "\(text)")
        #expect(text.contains("interrupted: finishing the runs in progress"), "\(text)")
        #expect(text.contains("error: interrupted:"), "\(text)")
        let report = try String(contentsOfFile: out + "/report.md", encoding: .utf8)
        let notRun = report.components(separatedBy: "not run: the sweep was interrupted").count - 1
        #expect(notRun > 0 && notRun < 400, "\(notRun) runs listed as not run")
        #expect(report.contains("(\(400 - notRun) ran, \(notRun) skipped, 0 failed)"))
    }

    static func readTokens(_ path: String) throws -> Int {
        let reader = try openTrace(path: path)
        var tokens = 0
        while let item = try reader.next() { if case .token = item { tokens += 1 } }
        return tokens
    }
}
