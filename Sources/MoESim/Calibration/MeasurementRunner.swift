import Foundation

/// What the simulator gives for one measured run.
public struct SimulatedRun: Sendable, Equatable {
    public var tokensPerSecond: Double
    public var ttftSeconds: Double?
    public var hitRate: Double?
    /// The hardware and runtime names the run used (from its report's configuration).
    public var hardware: String
    public var runtime: String
}

/// Simulates measurement rows through `sim run`'s own entry point (`RunCommand.run` with `--json`), so calibration
/// sees exactly what a user's `sim run` would, whatever the engine inside does. Candidate hardware and runtime
/// profiles are written to a private temporary folder and passed by path. Rows run in parallel; results are kept
/// by row and by profile text, so a repeated candidate is not simulated again and the output never depends on
/// timing.
public final class MeasurementRunner: @unchecked Sendable {
    public let rows: [Measurement]
    public let sharedDirectory: String
    public let traceOverride: String?
    public let jobs: Int
    private let folder: URL
    private let lock = NSLock()
    private var cache: [String: [SimulatedRun]] = [:]
    private var fileCounter = 0
    /// Simulations run so far (not counting cached answers).
    public private(set) var simulations = 0

    public init(rows: [Measurement], sharedDirectory: String, traceOverride: String?, jobs: Int) throws {
        self.rows = rows
        self.sharedDirectory = sharedDirectory
        self.traceOverride = traceOverride
        self.jobs = max(1, jobs)
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("moe-sim-calibrate-\(ProcessInfo.processInfo.processIdentifier)-\(UUID().uuidString)")
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw MoESimError(file: folder.path, "cannot create a temporary folder: \(error.localizedDescription)")
        }
        Interruption.registerTemporary(folder.path)
    }

    deinit {
        try? FileManager.default.removeItem(at: folder)
        Interruption.unregisterTemporary(folder.path)
    }

    /// Which profile each row takes from the candidate: hardware for every row given one, runtime for rows whose
    /// own runtime is the candidate's (by name).
    public struct Assignment: Sendable {
        public var hardware: ProfileDocument?
        public var runtime: ProfileDocument?
        public var rowsTakingRuntime: Set<Int>
        public init(hardware: ProfileDocument?, runtime: ProfileDocument?, rowsTakingRuntime: Set<Int>) {
            self.hardware = hardware
            self.runtime = runtime
            self.rowsTakingRuntime = rowsTakingRuntime
        }
    }

    /// Runs `indices` (all rows by default) with the given profiles; a row `sim` rejects is an error naming its line.
    public func simulate(_ assignment: Assignment, indices: [Int]? = nil) throws -> [Int: SimulatedRun] {
        let wanted = indices ?? Array(rows.indices)
        let key = (assignment.hardware?.json.serialized ?? "-") + "\n" + (assignment.runtime?.json.serialized ?? "-")
            + "\n" + assignment.rowsTakingRuntime.sorted().map(String.init).joined(separator: ",")
        lock.lock()
        let known = cache[key]
        lock.unlock()
        if let known, wanted.allSatisfy({ known.indices.contains($0) && known[$0].tokensPerSecond.isFinite }) {
            return Dictionary(uniqueKeysWithValues: wanted.map { ($0, known[$0]) })
        }
        let hardwarePath = try assignment.hardware.map { try write($0) }
        let runtimePath = try assignment.runtime.map { try write($0) }
        defer {
            for path in [hardwarePath, runtimePath].compactMap({ $0 }) { try? FileManager.default.removeItem(atPath: path) }
        }
        let results = ResultSlots(count: wanted.count)
        let workers = min(jobs, wanted.count)
        DispatchQueue.concurrentPerform(iterations: workers) { _ in
            while let position = results.claimNext() {
                let index = wanted[position]
                var words = rows[index].resolvedOptions(sharedDirectory: sharedDirectory, traceOverride: traceOverride)
                if let hardwarePath { Measurement.replace("hardware", with: hardwarePath, in: &words) }
                if let runtimePath, assignment.rowsTakingRuntime.contains(index) { Measurement.replace("runtime", with: runtimePath, in: &words) }
                results.store(Result { try self.run(words, row: rows[index]) }, at: position)
            }
        }
        var out: [Int: SimulatedRun] = [:]
        for (position, result) in results.all().enumerated() { out[wanted[position]] = try result.get() }
        lock.lock()
        simulations += wanted.count
        var entry = cache[key] ?? Array(repeating: SimulatedRun(tokensPerSecond: .nan, hardware: "", runtime: ""), count: rows.count)
        for (index, run) in out { entry[index] = run }
        cache[key] = entry
        lock.unlock()
        return out
    }

    /// One row through `sim run --json`.
    func run(_ words: [String], row: Measurement) throws -> SimulatedRun {
        var out = ""
        do {
            try RunCommand.run(words + ["--json"], out: &out)
        } catch let error as MoESimError {
            throw MoESimError(file: row.file, line: row.line, field: "options", "sim rejects this run: \(error)")
        }
        let report = try JSONValue.parse(out)
        guard let tokensPerSecond = report["decode"]?["tokensPerSecond"]?.numberValue, tokensPerSecond > 0 else {
            throw MoESimError(file: row.file, line: row.line, field: "options", "the simulated run has no decode tokens",
                              hint: "measurements are decode tokens per second: the trace needs decode tokens")
        }
        let ttft = report["timeToFirstToken"]?["meanSeconds"]?.numberValue
        if row.ttftSeconds != nil && ttft == nil {
            throw MoESimError(file: row.file, line: row.line, field: "measured_ttft_seconds", "the simulated run has no prefill, so no time to first token to compare",
                              hint: "replay a trace with prompt tokens, or leave the cell empty")
        }
        return SimulatedRun(tokensPerSecond: tokensPerSecond, ttftSeconds: ttft,
                            hitRate: report["cache"]?["hitRate"]?.numberValue,
                            hardware: report["configuration"]?["hardware"]?.stringValue ?? "?",
                            runtime: report["configuration"]?["runtime"]?.stringValue ?? "?")
    }

    private func write(_ document: ProfileDocument) throws -> String {
        lock.lock()
        fileCounter += 1
        let name = "\(document.kind.rawValue)-\(fileCounter).json"
        lock.unlock()
        let path = folder.appendingPathComponent(name).path
        do {
            try Data(document.text.utf8).write(to: URL(fileURLWithPath: path))
        } catch {
            throw MoESimError(file: path, "cannot write a candidate profile: \(error.localizedDescription)")
        }
        return path
    }
}

/// Work positions handed out to workers, results kept by position, under a lock.
private final class ResultSlots: @unchecked Sendable {
    private let lock = NSLock()
    private var next = 0
    private var slots: [Result<SimulatedRun, Error>?]

    init(count: Int) { slots = Array(repeating: nil, count: count) }

    func claimNext() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard next < slots.count else { return nil }
        next += 1
        return next - 1
    }

    func store(_ result: Result<SimulatedRun, Error>, at position: Int) {
        lock.lock()
        slots[position] = result
        lock.unlock()
    }

    func all() -> [Result<SimulatedRun, Error>] {
        lock.lock()
        defer { lock.unlock() }
        return slots.map { $0! }
    }
}
