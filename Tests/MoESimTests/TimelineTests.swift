import Foundation
import Testing
@testable import MoESim

/// The schedule timeline (`sim run --timeline`, `--timeline-svg`): slices worked out by hand on the toy fixtures, the
/// Chrome Trace Event structure Perfetto needs, and the real trace's schedule against its own report.
struct TimelineTests {
    static let load = Fixtures.loadSeconds
    static let compute = Fixtures.expertSeconds

    /// A toy simulation (Fixtures' model, hardware and runtime; empty initial cache), not yet run.
    static func toySimulation(_ tokens: [[[Int]]], cache: String, hardware: String = Fixtures.hardware(),
                              runtime: String = Fixtures.runtime()) throws -> Simulation {
        let files = Fixtures.toyFiles(hardware: hardware, runtime: runtime)
        var config = SimulationConfig(hardware: try HardwareCatalog.load(path: files.hardware), model: try ModelCatalog.load(path: files.model),
                                      quantization: try QuantizationCatalog.resolve("fp16"), runtime: try RuntimeCatalog.load(path: files.runtime),
                                      cache: try CacheSpec.parse(cache), initialFill: .empty, kvReserveTokens: 0)
        config.beladyReference = false
        return try Simulation(config: config, source: try TracePassSource(path: Fixtures.write(Fixtures.trace(tokens), name: "t.moetrace.jsonl")))
    }

    /// Runs `simulation` recording every pass, with the invariant checker on.
    static func record(_ simulation: Simulation, range: PassRange = PassRange(first: 0, last: 1_000_000)) throws -> (TimelineRecorder, Report) {
        let timeline = TimelineRecorder(simulation: simulation, range: range)
        let checker = InvariantChecker(simulation: simulation)
        simulation.observer = ObserverFanout([timeline, checker])
        let report = try simulation.run()
        try checker.verify(report: report)
        return (timeline, report)
    }

    static func close(_ x: Double, _ y: Double, relative: Double = 1e-12) -> Bool { abs(x - y) <= relative * max(1e-9, abs(x), abs(y)) }

    /// The header, request lines and first `tokens` token lines of a trace, as a new file.
    static func prefix(of path: String, tokens: Int) throws -> String {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        var kept: [Substring] = []
        var seen = 0
        for line in text.split(separator: "\n") {
            if line.contains("\"phase\"") {
                guard seen < tokens else { break }
                seen += 1
            }
            kept.append(line)
        }
        return Fixtures.write(kept.joined(separator: "\n") + "\n", name: "prefix.moetrace.jsonl")
    }

    // MARK: Hand-worked schedules

    /// No cache, one token: each layer's two experts load back to back on H2D; the GPU waits for the first in full,
    /// computes it under the second load, then waits for the rest of the second.
    @Test func noCacheScheduleHasTheHandWorkedSlices() throws {
        let (timeline, report) = try TimelineTests.record(TimelineTests.toySimulation([[[0, 1], [2, 3]]], cache: "none"))
        let gpu = timeline.slices(on: .gpu)
        #expect(gpu.map(\.name) == ["attention L0", "stall: waiting for L0/E0", "expert L0/E0", "stall: waiting for L0/E1", "expert L0/E1",
                                    "attention L1", "stall: waiting for L1/E2", "expert L1/E2", "stall: waiting for L1/E3", "expert L1/E3",
                                    "LM head + pass overhead"])
        let a = Fixtures.attentionSeconds(context: 1)
        #expect(TimelineTests.close(gpu[1].start, a) && TimelineTests.close(gpu[1].end, a + TimelineTests.load))
        #expect(TimelineTests.close(gpu[4].start, a + 2 * TimelineTests.load))
        #expect(TimelineTests.close(gpu[3].seconds, TimelineTests.load - TimelineTests.compute))
        let h2d = timeline.slices(on: .h2d)
        #expect(h2d.map(\.name) == ["load L0/E0", "load L0/E1", "load L1/E2", "load L1/E3"])
        #expect(h2d.allSatisfy { $0.kind == .transfer(.onDemand) && $0.bytes == Int(Fixtures.expertBytes) && !$0.speculative })
        #expect(TimelineTests.close(h2d[1].start, a + TimelineTests.load) && TimelineTests.close(h2d[1].end, a + 2 * TimelineTests.load))
        // Two copy engines: a D2H track, empty without write-back.
        #expect(timeline.trackNames.map(\.track) == [.passes, .gpu, .h2d, .d2h, .cpu])
        #expect(timeline.slices(on: .d2h).isEmpty)
        let pass = try #require(timeline.slices(on: .passes).first)
        #expect(pass.name == "pass 0 (decode, r0)")
        #expect(TimelineTests.close(pass.seconds, report.decode.seconds))
    }

    /// One copy engine carries write-backs too: they appear on the H2D track, whose name says so, and no D2H track exists.
    @Test func oneCopyEngineCarriesWriteBacksOnTheSharedTrack() throws {
        let simulation = try TimelineTests.toySimulation([[[0, 1], [0, 1]]], cache: "lru-per-layer:1",
                                                         hardware: Fixtures.hardware(copyEngines: 1),
                                                         runtime: Fixtures.runtime(writeBack: true, extra: ["swapOrder": Fixtures.field(#""write-back-first""#)]))
        let (timeline, report) = try TimelineTests.record(simulation)
        #expect(!timeline.trackNames.contains { $0.track == .d2h })
        let linkName = try #require(timeline.trackNames.first { $0.track == .h2d }?.name)
        #expect(linkName.contains("H2D + D2H") && linkName.contains("one copy engine"))
        let link = timeline.slices(on: .h2d)
        // The second miss evicts the first expert, whose write-back queues between the two loads (EngineTests).
        #expect(link.prefix(3).map(\.name) == ["load L0/E0", "write-back L0/E0", "load L0/E1"])
        let writeBacks = link.filter { $0.kind == .transfer(.writeBack) }
        #expect(Double(writeBacks.reduce(0) { $0 + $1.bytes! }) == report.link.writeBackBytes)
        #expect(report.link.writeBackBytes > 0)
    }

    /// Only the chosen passes are recorded; the truncation note says which of how many.
    @Test func passRangeLimitsWhatIsRecorded() throws {
        let tokens: [[[Int]]] = [[[0, 1], [2, 3]], [[1, 2], [0, 3]], [[0, 3], [1, 2]]]
        let (timeline, _) = try TimelineTests.record(TimelineTests.toySimulation(tokens, cache: "none"), range: PassRange(first: 1, last: 1))
        #expect(Set(timeline.slices.map(\.pass)) == [1])
        #expect(timeline.slices(on: .passes).count == 1)
        #expect(timeline.slices(on: .h2d).count == 4)
        #expect(timeline.passesSeen == 3)
        #expect(timeline.recordedPasses == PassRange(first: 1, last: 1))
        let note = try #require(RunCommand.truncationNote(timeline))
        #expect(note.contains("passes 1 of the run's 3"))
        let (all, _) = try TimelineTests.record(TimelineTests.toySimulation(tokens, cache: "none"))
        #expect(RunCommand.truncationNote(all) == nil)
    }

    @Test func passRangeParses() throws {
        #expect(try PassRange.parse("0..31") == PassRange(first: 0, last: 31))
        #expect(try PassRange.parse("7") == PassRange(first: 7, last: 7))
        for bad in ["5..2", "-1..3", "a..b", "1...3", ""] {
            #expect(throws: MoESimError.self) { try PassRange.parse(bad) }
        }
    }

    // MARK: Chrome Trace Event structure

    /// What Perfetto and chrome://tracing need: a `traceEvents` array; metadata naming each thread used; complete
    /// events with a name, non-negative `ts` and `dur` (microseconds), integer pid/tid; slices on one thread that do
    /// not partially overlap. Returns the complete events.
    @discardableResult
    static func validateChromeTrace(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) throws -> [JSONValue] {
        let root = try JSONValue.parse(text)
        guard case let .array(events)? = root["traceEvents"] else {
            Issue.record("no traceEvents array", sourceLocation: sourceLocation)
            return []
        }
        var threadNames: [Int: String] = [:]
        var complete: [JSONValue] = []
        for event in events {
            let phase = event["ph"]?.stringValue
            let tid = event["tid"]?.numberValue
            #expect(event["pid"]?.numberValue.map { $0 == $0.rounded() } == true, sourceLocation: sourceLocation)
            #expect(tid.map { $0 == $0.rounded() } == true, sourceLocation: sourceLocation)
            switch phase {
            case "M":
                if event["name"]?.stringValue == "thread_name" { threadNames[Int(tid!)] = event["args"]?["name"]?.stringValue }
            case "X":
                #expect(event["name"]?.stringValue?.isEmpty == false, sourceLocation: sourceLocation)
                #expect((event["ts"]?.numberValue ?? -1) >= 0, sourceLocation: sourceLocation)
                #expect((event["dur"]?.numberValue ?? -1) >= 0, sourceLocation: sourceLocation)
                complete.append(event)
            default:
                Issue.record("unexpected event phase \(phase ?? "none")", sourceLocation: sourceLocation)
            }
        }
        var byThread: [Int: [(ts: Double, end: Double)]] = [:]
        for event in complete {
            let tid = Int(event["tid"]!.numberValue!)
            #expect(threadNames[tid] != nil, "thread \(tid) has no thread_name", sourceLocation: sourceLocation)
            let ts = event["ts"]!.numberValue!
            byThread[tid, default: []].append((ts, ts + event["dur"]!.numberValue!))
        }
        for (tid, slices) in byThread {
            let sorted = slices.sorted { $0.ts < $1.ts }
            for (previous, next) in zip(sorted, sorted.dropFirst()) where next.ts < previous.end - 1e-6 {
                Issue.record("thread \(tid): a slice at \(next.ts) us starts inside the one ending at \(previous.end) us", sourceLocation: sourceLocation)
                break
            }
        }
        return complete
    }

    @Test func chromeTraceHasOneNamedThreadPerResourceAndDetailedSlices() throws {
        let simulation = try TimelineTests.toySimulation([[[0, 1], [0, 1]], [[2, 1], [3, 0]]], cache: "lru-per-layer:1",
                                                         runtime: Fixtures.runtime(writeBack: true))
        let (timeline, _) = try TimelineTests.record(simulation)
        let events = try TimelineTests.validateChromeTrace(ChromeTrace.render(timeline))
        #expect(events.count == timeline.slices.count)
        let writeBack = try #require(events.first { $0["cat"]?.stringValue == "write-back" })
        #expect(writeBack["tid"]?.numberValue == Double(TimelineSlice.Track.d2h.rawValue))
        #expect(writeBack["args"]?["cause"]?.stringValue == "write-back")
        #expect(writeBack["args"]?["bytes"]?.numberValue == Fixtures.expertBytes)
        let expert = try #require(events.first { $0["cat"]?.stringValue == "expert" })
        for key in ["layer", "expert", "pass", "request", "tokens"] { #expect(expert["args"]?[key] != nil, "expert slice lacks \(key)") }
        // 20 ms loads: microseconds in the file.
        let load = try #require(events.first { $0["cat"]?.stringValue == "on-demand" })
        #expect(load["dur"]?.numberValue == TimelineTests.load * 1e6)
    }

    // MARK: The real trace

    /// Three decode tokens of the recorded HumanEval trace on a link-bound setup with prefetch and write-back: each
    /// pass's GPU slices and stalls tile it exactly, the passes add up to the reported decode time, and the transfer
    /// slices' bytes add up to the report's bytes per cause.
    @Test(.enabled(if: Fixtures.sharedTracesAvailable, "needs ../shared/traces"))
    func realTraceSlicesTileEachPassAndMoveTheReportedBytes() throws {
        let path = try TimelineTests.prefix(of: Fixtures.sharedTrace("humaneval-decode.moetrace.jsonl"), tokens: 3)
        var config = SimulationConfig(hardware: try HardwareCatalog.resolve("rtx3060-12g"), model: try ModelCatalog.resolve("mixtral-8x7b"),
                                      quantization: try QuantizationCatalog.resolve("hqq4"), runtime: try RuntimeCatalog.resolve("hf-eager"),
                                      cache: try CacheSpec.parse("lru-per-layer:2"), prefetch: "next-layer-gate")
        config.beladyReference = false
        let (timeline, report) = try TimelineTests.record(try Simulation(config: config, source: TracePassSource(path: path)))
        #expect(report.decode.tokens == 3)
        let passes = timeline.slices(on: .passes)
        #expect(passes.count == 3)
        let gpu = timeline.slices(on: .gpu)
        for pass in passes {
            let slices = gpu.filter { $0.pass == pass.pass }.sorted { $0.start < $1.start }
            #expect(slices.first?.start == pass.start)
            #expect(slices.last?.end == pass.end)
            for (previous, next) in zip(slices, slices.dropFirst()) where next.start != previous.end {
                Issue.record("pass \(pass.pass): '\(next.name)' starts at \(next.start) s, '\(previous.name)' ended at \(previous.end) s")
                break
            }
            #expect(TimelineTests.close(slices.reduce(0) { $0 + $1.seconds }, pass.seconds, relative: 1e-9))
        }
        #expect(TimelineTests.close(passes.reduce(0) { $0 + $1.seconds }, report.decode.seconds, relative: 1e-9))
        let stalls = gpu.filter { if case let .stall(cause) = $0.kind { return cause != .host } else { return false } }
        let hostWaits = gpu.filter { if case .stall(.host) = $0.kind { return true } else { return false } }
        #expect(TimelineTests.close(stalls.reduce(0) { $0 + $1.seconds }, report.gpu.stallSeconds, relative: 1e-9))
        #expect(TimelineTests.close(hostWaits.reduce(0) { $0 + $1.seconds }, report.gpu.hostWaitSeconds, relative: 1e-9))
        #expect(stalls.contains { $0.name.hasPrefix("stall: waiting for L") })
        // Every cause is present, and its slices carry exactly the reported bytes.
        let transfers = timeline.slices(on: .h2d) + timeline.slices(on: .d2h)
        for (cause, reported) in [(TransferCause.onDemand, report.link.onDemandLoadBytes), (.prefetch, report.link.prefetchBytes),
                                  (.writeBack, report.link.writeBackBytes)] {
            let moved = transfers.filter { $0.kind == .transfer(cause) }.reduce(0) { $0 + $1.bytes! }
            #expect(reported > 0, "no \(cause.name) bytes: the setup does not exercise this cause")
            #expect(Double(moved) == reported, "\(cause.name): slices move \(moved) bytes, the report says \(reported)")
        }
        try TimelineTests.validateChromeTrace(ChromeTrace.render(timeline))
    }

    // MARK: Command line

    @Test func commandWritesBothFilesAndRefusesToOverwriteWithoutForce() throws {
        let files = Fixtures.toyFiles()
        let trace = Fixtures.write(Fixtures.trace([[[0, 1], [2, 3]], [[1, 2], [0, 3]]]), name: "toy.moetrace.jsonl")
        let folder = Fixtures.temporaryDirectory()
        let json = folder.appendingPathComponent("run.json").path, svg = folder.appendingPathComponent("run.svg").path
        let arguments = ["--trace", trace, "--hardware", files.hardware, "--model", files.model, "--runtime", files.runtime,
                         "--cache", "lru-per-layer:1", "--timeline", json, "--timeline-svg", svg, "--check"]
        let first = Fixtures.sim(arguments)
        #expect(first.code == 0, "\(first.err)")
        #expect(first.out.contains("invariant checks: all \(InvariantViolation.Invariant.allCases.count) hold"))
        try TimelineTests.validateChromeTrace(try String(contentsOfFile: json, encoding: .utf8))
        let picture = try String(contentsOfFile: svg, encoding: .utf8)
        for text in [">GPU<", ">H2D<", ">D2H<", "simulated time (ms)", ">on-demand load<", ">GPU stall<", "pass 0 (decode, r0)"] {
            #expect(picture.contains(text), "the SVG lacks \(text)")
        }
        let again = Fixtures.sim(arguments)
        #expect(again.code == 1)
        #expect(again.err.contains("already exists") && again.err.contains("--force"))
        #expect(Fixtures.sim(arguments + ["--force"]).code == 0)
    }

    @Test func passRangeNeedsATimelineAndAPassTheRunHas() throws {
        let files = Fixtures.toyFiles()
        let trace = Fixtures.write(Fixtures.trace([[[0, 1], [2, 3]]]), name: "toy.moetrace.jsonl")
        let base = ["--trace", trace, "--hardware", files.hardware, "--model", files.model, "--runtime", files.runtime, "--cache", "none"]
        let alone = Fixtures.sim(base + ["--timeline-passes", "0..3"])
        #expect(alone.code == 1 && alone.err.contains("--timeline-passes"))
        let bad = Fixtures.sim(base + ["--timeline", "/nonexistent/x.json", "--timeline-passes", "3..1"])
        #expect(bad.code == 1 && bad.err.contains("--timeline-passes"))
        let beyond = Fixtures.sim(base + ["--timeline", Fixtures.temporaryDirectory().appendingPathComponent("t.json").path, "--timeline-passes", "5..9"])
        #expect(beyond.code == 1 && beyond.err.contains("none is in 5..9"))
        let tooMany = Fixtures.sim(base + ["--timeline-svg", Fixtures.temporaryDirectory().appendingPathComponent("t.svg").path, "--timeline-passes", "0..99"])
        #expect(tooMany.code == 1 && tooMany.err.contains("too many for a readable SVG"))
    }
}
