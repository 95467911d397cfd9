import Foundation
import Testing
@testable import MoESim

/// Every figure of a hardware or runtime profile has a physical range (`HardwareBounds`, `RuntimeBounds`), checked
/// when the file is read; the rules between figures and between a run's settings hold before the run starts.
/// Issue 19 rows 1, 2, 3, 6 and 7.
struct FigureBoundsTests {
    /// The toy hardware with every optional figure present (storage, pageable and contended rates, CPU fractions).
    static let fullHardware: JSONValue = {
        var hw = try! JSONValue.parse(Fixtures.hardware(contention: true, h2dDuringD2H: 5e7))
        let figure = { (v: Double) in JSONValue.object([("value", .number(v)), ("source", .string("test"))]) }
        hw = set(hw, ["hostLink", "pageableH2DBytesPerSecond"], figure(3e7))
        hw = set(hw, ["host", "dispatchSpeedRelative"], figure(1))
        hw = set(hw, ["host", "cpuAchievedMemoryBandwidthFraction"], figure(0.75))
        hw = set(hw, ["host", "cpuAchievedComputeFraction"], figure(0.5))
        hw = set(hw, ["storage"], .object([("name", .string("ssd")), ("readBytesPerSecond", figure(3e9)), ("setupLatencySeconds", figure(1e-4))]))
        return hw
    }()

    /// `value` with the member at `path` replaced (or added).
    static func set(_ value: JSONValue, _ path: [String], _ new: JSONValue) -> JSONValue {
        guard let key = path.first else { return new }
        guard case var .object(members) = value else { return value }
        if let i = members.firstIndex(where: { $0.0 == key }) {
            members[i].1 = set(members[i].1, Array(path.dropFirst()), new)
        } else {
            members.append((key, set(.object([]), Array(path.dropFirst()), new)))
        }
        return .object(members)
    }

    static func with(_ base: JSONValue, figure path: String, _ value: Double) -> String {
        set(base, path.split(separator: ".").map(String.init) + ["value"], .number(value)).serialized
    }

    /// A toy replay with the given hardware and runtime text.
    static func run(hardware: String = Fixtures.hardware(), runtime: String = Fixtures.runtime(), _ extra: [String] = [])
        -> (code: Int32, out: String, err: String) {
        let files = Fixtures.toyFiles(hardware: hardware, runtime: runtime)
        let trace = Fixtures.write(Fixtures.trace([[[0, 1], [2, 3]], [[1, 2], [0, 3]], [[0, 3], [1, 2]]]), name: "t.moetrace.jsonl")
        return Fixtures.sim(["--trace", trace, "--hardware", files.hardware, "--model", files.model, "--runtime", files.runtime,
                             "--cache", "lru-per-layer:2", "--json"] + extra)
    }

    static func expectError(_ r: (code: Int32, out: String, err: String), _ needles: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(r.code == 1 && r.out.isEmpty, "code \(r.code)", sourceLocation: sourceLocation)
        #expect(r.err.hasPrefix("error: ") && r.err.filter { $0 == "\n" }.count == 1, "not one error line: \(r.err)", sourceLocation: sourceLocation)
        for needle in needles { #expect(r.err.contains(needle), "'\(needle)' missing from: \(r.err)", sourceLocation: sourceLocation) }
    }

    @Test func theFullToyHardwareRuns() {
        let r = Self.run(hardware: Self.fullHardware.serialized)
        #expect(r.code == 0, "\(r.err)")
    }

    /// Row 1: the values that crashed the engine (1e300 latencies and overheads, 1e-300 bandwidths) are errors naming
    /// the field and its range.
    @Test(arguments: [("hostLink.setupLatencySeconds", 1e300), ("hostLink.setupLatencySeconds", 1e308), ("hostLink.h2dBytesPerSecond", 1e-300),
                      ("device.memoryBandwidthBytesPerSecond", 1e-300), ("device.fp16FlopsPerSecond", 1e-300), ("storage.readBytesPerSecond", 1e308),
                      ("storage.setupLatencySeconds", 1e300), ("hostLink.d2hBytesPerSecond", 1e-300), ("host.memoryBytes", 1)])
    func anUnphysicalHardwareFigureIsAnErrorNamingItsRange(path: String, value: Double) {
        let r = Self.run(hardware: Self.with(Self.fullHardware, figure: path, value))
        Self.expectError(r, ["field '\(path).value': \(JSONValue.format(value)) is outside the physical range"])
    }

    @Test(arguments: ["perLayerOverheadSeconds", "perExpertOverheadSeconds", "perPassOverheadSeconds"])
    func anUnphysicalRuntimeOverheadIsAnError(field: String) {
        let runtime = Self.with(try! JSONValue.parse(Fixtures.runtime()), figure: field, 1e300)
        Self.expectError(Self.run(runtime: runtime), ["field '\(field).value': 1e+300 is outside the physical range 0 ... 10 s"])
    }

    /// Row 6: a transfer count far beyond any buffer pool is an error naming the field (2.5 and 1e30: StrictPresetTests).
    @Test func tooManyInFlightTransfersIsAnError() {
        let runtime = Fixtures.runtime().replacingOccurrences(of: #""maxInFlightTransfers":{"value":4,"#, with: #""maxInFlightTransfers":{"value":5000,"#)
        Self.expectError(Self.run(runtime: runtime), ["field 'maxInFlightTransfers.value': 5000 is outside the physical range 1 ... 1024"])
    }

    /// Every edge of every declared range (and 1e-300 and 1e308) ends in a report or a one-line error, never a trap.
    @Test func everyRangeEdgeEndsInAReportOrAnError() {
        for bound in HardwareBounds.figures {
            for value in [bound.range.lowerBound, bound.range.upperBound, 1e-300, 1e308] {
                let r = Self.run(hardware: Self.with(Self.fullHardware, figure: bound.path, value))
                let inRange = bound.range.contains(value)
                if r.code != 0 { Self.expectError(r, []) }
                if !inRange { #expect(r.code == 1 && r.err.contains(bound.path), "\(bound.path) = \(value): \(r.err)") }
                if r.code == 0 { #expect(!r.out.contains("inf") && !r.out.contains("nan"), "\(bound.path) = \(value)") }
            }
        }
        let runtime = try! JSONValue.parse(Fixtures.runtime())
        for bound in RuntimeBounds.figures {
            for value in [bound.range.lowerBound, bound.range.upperBound, 1e-300, 1e308] {
                let r = Self.run(runtime: Self.with(runtime, figure: bound.path, value))
                if r.code != 0 { Self.expectError(r, []) }
                if !bound.range.contains(value) { #expect(r.code == 1 && r.err.contains(bound.path), "\(bound.path) = \(value): \(r.err)") }
            }
        }
    }

    /// Every numeric figure in every shipped hardware and runtime preset, and in the full toy profile, has a range.
    @Test func everyFigureHasADeclaredRange() throws {
        let declared = Set(HardwareBounds.figures.map(\.path) + RuntimeBounds.figures.map(\.path))
        func figures(_ value: JSONValue, _ path: String) -> [String] {
            guard case let .object(members) = value else { return [] }
            if case .number? = value["value"] { return [path] }
            return members.flatMap { figures($0.1, path.isEmpty ? $0.0 : path + "." + $0.0) }
        }
        var files = [Self.fullHardware]
        for kind in ["hardware", "runtimes"] {
            for url in ResourceLocator.presetFiles(kind: kind) { files.append(try JSONValue.parse(String(contentsOf: url, encoding: .utf8))) }
        }
        let missing = Set(files.flatMap { figures($0, "") }).subtracting(declared)
        #expect(missing.isEmpty, "figures without a declared range: \(missing.sorted())")
        #expect(Set(HardwareBounds.figures.map(\.path)).count == HardwareBounds.figures.count)
    }

    /// Row 7: contention cannot make H2D faster; pageable copies cannot beat pinned ones.
    @Test func aContendedRateAboveTheUncontendedOneIsAnError() {
        let hw = Fixtures.hardware(contention: true, h2dDuringD2H: 2e8)
        Self.expectError(Self.run(hardware: hw), ["field 'hostLink.h2dBytesPerSecondDuringD2H.value': 200000000 B/s is above hostLink.h2dBytesPerSecond (100000000 B/s)"])
        let pageable = Self.with(Self.fullHardware, figure: "hostLink.pageableH2DBytesPerSecond", 5e8)
        Self.expectError(Self.run(hardware: pageable), ["field 'hostLink.pageableH2DBytesPerSecond.value'", "is above hostLink.h2dBytesPerSecond"])
    }

    /// Row 7: a host that cannot hold the experts offloaded to it (the toy model's 8 experts of 2 MB, 4 cached).
    @Test func aHostTooSmallForTheOffloadedExpertsIsAnError() {
        let hw = Self.with(try! JSONValue.parse(Fixtures.hardware()), figure: "host.memoryBytes", 5e6)
        Self.expectError(Self.run(hardware: hw), ["field '--hardware'", "host memory (host.memoryBytes", "cannot hold the 7.6 MiB of toy experts"])
        let enough = Self.with(try! JSONValue.parse(Fixtures.hardware()), figure: "host.memoryBytes", 8e6)
        #expect(Self.run(hardware: enough).code == 0)
    }

    /// Row 3: a KV reserve beyond any context overflowed an Int product; one that leaves no room was silent.
    @Test func theKVReserveIsBoundedAndMustFit() {
        Self.expectError(Self.run(["--kv-reserve-tokens", "99999999999999"]), ["field '--kv-reserve-tokens': expected an integer in 0 ... 16777216"])
        Self.expectError(Self.run(["--kv-reserve-tokens", "1e10"]), ["field '--kv-reserve-tokens'"])
        // 2e7 B of device: 4 MB attention + 8 MB load buffers leave 8 MB; 16,777,216 tokens x 8 B do not fit.
        let small = Self.with(try! JSONValue.parse(Fixtures.hardware()), figure: "device.memoryBytes", 2e7)
        let files = Fixtures.toyFiles(hardware: small)
        let trace = Fixtures.write(Fixtures.trace([[[0, 1], [2, 3]]]), name: "t.moetrace.jsonl")
        let r = Fixtures.sim(["--trace", trace, "--hardware", files.hardware, "--model", files.model, "--runtime", files.runtime,
                              "--cache", "lru-per-layer:fit", "--kv-reserve-tokens", "16777216"])
        Self.expectError(r, ["field '--kv-reserve-tokens': 16777216 tokens of KV cache", "do not fit"])
    }

    /// Row 2: no non-finite number reaches the JSON encoder as a trap; the encoder's refusal names the field.
    @Test func aNonFiniteReportNumberIsAnErrorNotATrap() {
        struct Sample: Encodable { var decode = ["tokensPerSecond": Double.infinity] }
        let error = #expect(throws: MoESimError.self) { _ = try ReportEncoding.json(Sample()) }
        #expect(error?.field == "report.decode.tokensPerSecond", "\(String(describing: error))")
        #expect(throws: MoESimError.self) { try ReportEncoding.checkFinite(makespanSeconds: .infinity) }
        #expect(LatencyHistogram.bucket(.infinity) == LatencyHistogram.bucketCount - 1)
    }

    /// Row 2 as reported: d2h at 1e-300 with --json.
    @Test func theReportedD2HCaseIsAnErrorBeforeTheRun() {
        let hw = Self.with(try! JSONValue.parse(Fixtures.hardware()), figure: "hostLink.d2hBytesPerSecond", 1e-300)
        Self.expectError(Self.run(hardware: hw, runtime: Fixtures.runtime(writeBack: true)), ["field 'hostLink.d2hBytesPerSecond.value': 1e-300 is outside"])
    }
}
