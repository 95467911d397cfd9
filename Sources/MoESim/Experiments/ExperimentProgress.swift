import Dispatch

/// Progress lines on stderr for sweeps that take a while: "experiment x: 3/12 runs done (last: cache=LRU), 4.2 s".
/// Quiet for the first second, then at most one line per second, plus a last line when anything was printed.
public final class ExperimentProgress: @unchecked Sendable {
    /// Nothing is printed before this many seconds, so short sweeps stay silent.
    static let quietSeconds = 1.0
    /// At most one line per this many seconds.
    static let intervalSeconds = 1.0

    private let experiment: String
    private let total: Int
    private let write: @Sendable (String) -> Void
    private let start = DispatchTime.now()
    private var done = 0
    private var lastPrinted: Double?
    private let lock = DispatchSemaphore(value: 1)

    public init(experiment: String, total: Int, write: @escaping @Sendable (String) -> Void) {
        self.experiment = experiment
        self.total = total
        self.write = write
    }

    private var elapsedSeconds: Double { Double(DispatchTime.now().uptimeNanoseconds - start.uptimeNanoseconds) / 1e9 }

    /// Called by the runner as each run finishes (from any thread).
    public func runFinished(label: String, status: String) {
        lock.wait()
        defer { lock.signal() }
        done += 1
        let elapsed = elapsedSeconds
        let due = elapsed >= ExperimentProgress.quietSeconds && (lastPrinted.map { elapsed - $0 >= ExperimentProgress.intervalSeconds } ?? true)
        let last = done == total && lastPrinted != nil
        guard due || last else { return }
        lastPrinted = elapsed
        write("experiment \(experiment): run \(done)/\(total) done (last: \(label)\(status.isEmpty ? "" : ", " + status)), \(FixedDecimal.format(elapsed, decimals: 1)) s\n")
    }
}
