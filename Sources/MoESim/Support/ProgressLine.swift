import Dispatch
import Foundation

/// Progress of a long command on stderr: "replay: 41200/100000 tokens, 13.7k tokens/s, ETA 4 s".
/// Silent for the first second (short runs print nothing), then at most one line per second; it goes to stderr only,
/// so standard output (reports, JSON, CSV) is the same with or without it. Thread-safe.
public final class ProgressLine: @unchecked Sendable {
    static let quietSeconds = 1.0
    static let intervalSeconds = 1.0

    private let label: String
    private let unit: String
    private let total: Int?
    private let write: @Sendable (String) -> Void
    private let start = DispatchTime.now()
    private var lastPrinted: Double?
    private let lock = NSLock()

    public init(label: String, unit: String, total: Int?, write: @escaping @Sendable (String) -> Void) {
        self.label = label
        self.unit = unit
        self.total = total.flatMap { $0 > 0 ? $0 : nil }
        self.write = write
    }

    /// Whether progress lines are wanted: asked for with `--progress`, or stderr is a terminal (and not `--quiet`).
    public static func wanted(explicit: Bool, quiet: Bool = false) -> Bool {
        explicit || (!quiet && isatty(STDERR_FILENO) != 0)
    }

    /// Writes to the process's stderr.
    public static func standardError(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }

    var elapsedSeconds: Double { Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9 }

    /// Reports `done` units finished; prints when a line is due. `detail` is appended ("last: cache=LRU").
    public func update(done: Int, detail: String = "", final: Bool = false) {
        lock.lock()
        defer { lock.unlock() }
        let elapsed = elapsedSeconds
        let due = elapsed >= ProgressLine.quietSeconds && (lastPrinted.map { elapsed - $0 >= ProgressLine.intervalSeconds } ?? true)
        guard due || (final && lastPrinted != nil) else { return }
        lastPrinted = elapsed
        write(ProgressLine.text(label: label, unit: unit, done: done, total: total, elapsed: elapsed, detail: detail) + "\n")
    }

    /// One progress line (pure, for tests).
    static func text(label: String, unit: String, done: Int, total: Int?, elapsed: Double, detail: String) -> String {
        let rate = elapsed > 0 ? Double(done) / elapsed : 0
        var line = "\(label): \(done)\(total.map { "/\($0)" } ?? "") \(unit), \(compact(rate)) \(unit)/s, \(FixedDecimal.format(elapsed, decimals: 1)) s"
        if let total, rate > 0, done < total {
            line += ", ETA \(duration(Double(total - done) / rate))"
        }
        if !detail.isEmpty { line += " (\(detail))" }
        return line
    }

    static func compact(_ x: Double) -> String {
        if x >= 1e6 { return FixedDecimal.format(x / 1e6, decimals: 2) + "M" }
        if x >= 1e4 { return FixedDecimal.format(x / 1e3, decimals: 1) + "k" }
        return FixedDecimal.format(x, decimals: x >= 100 ? 0 : 1)
    }

    static func duration(_ s: Double) -> String {
        if s < 60 { return "\(Int(s.rounded(.up))) s" }
        if s < 3600 { return "\(Int(s / 60)) min \(Int(s.truncatingRemainder(dividingBy: 60))) s" }
        return "\(Int(s / 3600)) h \(Int(s.truncatingRemainder(dividingBy: 3600) / 60)) min"
    }
}
