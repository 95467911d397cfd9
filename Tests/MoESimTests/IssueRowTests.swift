import Foundation
import Testing
@testable import MoESim

/// Issue 19's table, one regression test per row (rows 1-3, 6 and 7: `FigureBoundsTests` and `StrictPresetTests`;
/// row 10: `ExperimentTests.aSweepWhereNoRunSucceededFails`). Each uses the row's input and checks the error text.
struct IssueRowTests {
    static let header = #"{"moe_trace":1,"model":"toy","layers":2,"experts":4,"top_k":2,"weights":"topk"}"#

    static func trace(_ tokenLines: [String]) -> String {
        ([header, #"{"request":"r0"}"#] + tokenLines).joined(separator: "\n") + "\n"
    }

    /// Row 4: weights 0.562 + 0.437 sum to 0.999 as decimals (accepted) but to 0.99899998 as the float32 the binary
    /// form holds; convert wrote a file its own reader rejected. Both readers now apply one rule to the stored weights.
    @Test func convertWritesOnlyWhatTheReaderAccepts() throws {
        let input = Fixtures.write(Self.trace([#"{"request":"r0","phase":"decode","pos":0,"experts":[[0,1],[2,3]],"weights":[[0.562,0.437],[0.5,0.5]]}"#]),
                                   name: "w.moetrace.jsonl")
        let output = URL(fileURLWithPath: input).deletingLastPathComponent().appendingPathComponent("w.moetrace").path
        let convert = Fixtures.sim(["trace", "convert", input, output])
        #expect(convert.code == 0, "\(convert.err)")
        let back = Fixtures.sim(["trace", "stats", output])
        #expect(back.code == 0, "the converted file does not read back: \(back.err)")
        // Just outside the rule, both readers refuse it alike.
        let outside = Fixtures.write(Self.trace([#"{"request":"r0","phase":"decode","pos":0,"experts":[[0,1],[2,3]],"weights":[[0.56,0.4389],[0.5,0.5]]}"#]),
                                     name: "o.moetrace.jsonl")
        let refused = Fixtures.sim(["trace", "stats", outside])
        #expect(refused.code == 1 && refused.err.contains("field 'weights[0]': weights sum to 0.9989"), "\(refused.err)")
    }

    /// Row 5: a 2.2 GB line without a newline was held whole (4.2 GB resident). Lines are bounded; the bound is
    /// small here so the test stays fast.
    @Test func aLineLongerThanTheLimitIsAnErrorWithoutReadingItAll() throws {
        let path = Fixtures.write("short\n" + String(repeating: "x", count: 50_000) + "\nnot reached\n", name: "long.jsonl")
        let lines = try LineReader(path: path, maxLineBytes: 4096)
        #expect(try lines.nextLine()?.count == 5)
        let error = #expect(throws: MoESimError.self) { _ = try lines.nextLine() }
        #expect(error?.description == "\(path):2: line is longer than 4.0 KiB, more than moe-sim reads (hint: is this a JSONL file? every line ends with a newline)")
        #expect(LineReader.defaultMaxLineBytes == 1 << 28)
        // No newline at all, beyond the first buffer: refused after reading at most twice the limit.
        let endless = Fixtures.write(String(repeating: "y", count: 6 << 20), name: "endless.jsonl")
        let reader = try LineReader(path: endless, maxLineBytes: 1 << 20)
        #expect(throws: MoESimError.self) { _ = try reader.nextLine() }
        #expect(reader.bytesRead <= 2 << 20 + 1, "read \(reader.bytesRead) bytes")
    }

    /// Row 9: `[]` with weights `[]` was accepted as a token that ran no expert, silently.
    @Test func anEmptySelectionIsAnError() {
        let path = Fixtures.write(Self.trace([#"{"request":"r0","phase":"decode","pos":0,"experts":[[],[2,3]],"weights":[[],[0.5,0.5]]}"#]),
                                  name: "empty.moetrace.jsonl")
        let r = Fixtures.sim(["trace", "stats", path])
        #expect(r.code == 1)
        #expect(r.err == "error: \(path):3: field 'experts[0]': an empty selection is not a top-k selection (hint: write null (and null weights) for a layer where no routed expert ran: it is replayed with none, and counted)\n")
    }

    /// Row 9 in the binary form: a record with a count of 0 (valid checksum) is refused too.
    @Test func anEmptySelectionInABinaryTraceIsAnError() {
        let path = FuzzRegressionTests.writeBinary(FuzzRegressionTests.binaryTrace(blocks: [[
            FuzzRegressionTests.requestRecord(#"{"request":"a"}"#),
            FuzzRegressionTests.tokenRecord(position: 0, cells: [[], [(2, 0.5), (3, 0.5)]])]]))
        let error = #expect(throws: MoESimError.self) { _ = try FuzzRegressionTests.readAll(path) }
        #expect(error?.description.contains("layer 0: an empty selection is not a top-k selection") == true, "\(String(describing: error))")
    }

    // MARK: Outputs (rows 11-15)

    /// The id of a process that has exited (its leftovers are stale).
    static func deadPID() throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/bin/true")
        try p.run()
        p.waitUntilExit()
        return p.processIdentifier
    }

    static func entries(_ folder: URL) -> [String] { ((try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []).sorted() }

    /// Row 11: killed between moving the old results aside and moving the new ones in, `res/qs` was gone. The next
    /// writer puts the old folder back (then replaces it, with --force, in one atomic exchange) and removes the rest.
    @Test func aResultsFolderSetAsideByAKilledRunComesBack() throws {
        let parent = Fixtures.temporaryDirectory()
        let pid = try Self.deadPID()
        let old = parent.appendingPathComponent(".qs.old-\(pid)-1A2B3C4D"), partial = parent.appendingPathComponent(".qs.partial-\(pid)-5E6F7A8B")
        for (folder, text) in [(old, "old"), (partial, "new")] {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            try text.write(to: folder.appendingPathComponent("results.csv"), atomically: true, encoding: .utf8)
        }
        let destination = parent.appendingPathComponent("qs").path
        // Without --force the recovered old results are not overwritten.
        let refused = #expect(throws: MoESimError.self) { try AtomicOutput.checkDestination(destination, force: false) }
        #expect(refused?.message == "already exists; not overwriting it")
        #expect(try String(contentsOfFile: destination + "/results.csv", encoding: .utf8) == "old")
        #expect(Self.entries(parent) == ["qs"])
        try AtomicOutput.writeDirectory(destination, files: [("results.csv", "newer")], force: true)
        #expect(try String(contentsOfFile: destination + "/results.csv", encoding: .utf8) == "newer")
        #expect(Self.entries(parent) == ["qs"], "nothing is left beside the results")
        #expect(OutputPath.exchange(parent.appendingPathComponent("none").path, destination) == false)
    }

    /// Row 12: `kill -9` during `trace convert` left `.OUT.partial-PID-*` forever; the next writer removes it. A live
    /// process's temporary file (another moe-sim writing now) is left alone.
    @Test func stalePartialFilesOfDeadProcessesAreRemoved() throws {
        let input = Fixtures.write(Fixtures.trace([[[0, 1], [2, 3]]]).replacingOccurrences(of: #""model":"toy""#, with: #""model":"toy""#), name: "in.moetrace.jsonl")
        let folder = URL(fileURLWithPath: input).deletingLastPathComponent()
        let stale = folder.appendingPathComponent(".out.moetrace.partial-\(try Self.deadPID())-0badf00d")
        let live = folder.appendingPathComponent(".other.moetrace.partial-1-0badf00d")
        for file in [stale, live] { try Data(repeating: 7, count: 1000).write(to: file) }
        let r = Fixtures.sim(["trace", "convert", input, folder.appendingPathComponent("out.moetrace").path])
        #expect(r.code == 0, "\(r.err)")
        #expect(Self.entries(folder) == [".other.moetrace.partial-1-0badf00d", "in.moetrace.jsonl", "out.moetrace"])
    }

    /// Row 13: `--force` onto a FIFO replaced it by a regular file (as root, `/dev/null` too).
    @Test func forceNeverReplacesAnythingButARegularFile() throws {
        let input = Fixtures.write(Fixtures.trace([[[0, 1], [2, 3]]]), name: "small.jsonl")
        let folder = URL(fileURLWithPath: input).deletingLastPathComponent()
        let fifo = folder.appendingPathComponent("mynull").path
        #expect(mkfifo(fifo, 0o644) == 0)
        let r = Fixtures.sim(["trace", "convert", input, fifo, "--force"])
        #expect(r.code == 1)
        #expect(r.err == "error: \(fifo): is a FIFO (named pipe), not a regular file; moe-sim never replaces it, even with --force (hint: write to a regular file and copy it there yourself)\n")
        #expect(OutputPath.kind(fifo) == .other("a FIFO (named pipe)"))
        let link = folder.appendingPathComponent("link.moetrace").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: folder.appendingPathComponent("elsewhere").path)
        #expect(Fixtures.sim(["trace", "convert", input, link, "--force"]).err.contains("is a symbolic link"))
        #expect(OutputPath.kind("/dev/null") == .other("a character device"))
        let device = #expect(throws: MoESimError.self) { try AtomicOutput.checkDestination("/dev/null", force: true) }
        #expect(device?.message.contains("is a character device, not a regular folder") == true)
    }

    /// Row 14: `--timeline f.json --timeline-svg f.json` exited 0 with the SVG over the Chrome trace.
    @Test func twoOutputsOfOneRunMayNotShareAPath() {
        let files = Fixtures.toyFiles()
        let trace = Fixtures.write(Fixtures.trace([[[0, 1], [2, 3]]]), name: "t.moetrace.jsonl")
        let same = URL(fileURLWithPath: trace).deletingLastPathComponent().appendingPathComponent("f.json").path
        let r = Fixtures.sim(["--trace", trace, "--hardware", files.hardware, "--model", files.model, "--runtime", files.runtime,
                              "--cache", "lru-per-layer:2", "--timeline", same, "--timeline-svg", same])
        #expect(r.code == 1)
        #expect(r.err == "error: field '--timeline-svg': writes to '\(same)', the same file as --timeline (hint: give each output its own path)\n")
        #expect(!FileManager.default.fileExists(atPath: same))
    }

    /// Row 15: `trace synth --tokens 99999999999` wrote 25 GB before it was stopped; now the bound is the error.
    @Test func aSynthesizedTraceIsBounded() {
        let out = Fixtures.temporaryDirectory().appendingPathComponent("x.jsonl").path
        let huge = Fixtures.sim(["trace", "synth", "--tokens", "99999999999", "--out", out])
        #expect(huge.err == "error: field '--tokens': expected an integer in 0 ... 16777216, found '99999999999'\n")
        let total = Fixtures.sim(["trace", "synth", "--profile", "zipf", "--tokens", "100000", "--requests", "1000", "--out", out])
        #expect(total.err.contains("field '--tokens': 1000 requests x 100000 tokens = 100000000 tokens, more than one trace holds (at most 16777216"), "\(total.err)")
        let requests = Fixtures.sim(["trace", "synth", "--requests", "99999999", "--out", out])
        #expect(requests.err.contains("field '--requests': expected an integer in 1 ... 1048576"), "\(requests.err)")
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}
