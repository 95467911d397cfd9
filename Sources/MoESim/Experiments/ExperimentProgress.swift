/// Progress lines on stderr for sweeps that take a while:
/// "experiment x: 3/12 runs, 0.8 runs/s, 4.2 s, ETA 12 s (last: cache=LRU)". Quiet for the first second, then at
/// most one line per second, plus a last line when anything was printed (`ProgressLine`).
public final class ExperimentProgress: @unchecked Sendable {
    private let line: ProgressLine
    private let total: Int
    private var done = 0
    private let lock = DispatchSemaphore(value: 1)

    public init(experiment: String, total: Int, write: @escaping @Sendable (String) -> Void) {
        self.total = total
        line = ProgressLine(label: "experiment \(experiment)", unit: "runs", total: total, write: write)
    }

    /// Called by the runner as each run finishes (from any thread).
    public func runFinished(label: String, status: String) {
        lock.wait()
        done += 1
        let count = done
        lock.signal()
        line.update(done: count, detail: "last: \(label)\(status.isEmpty ? "" : ", " + status)", final: count == total)
    }
}

import Dispatch
