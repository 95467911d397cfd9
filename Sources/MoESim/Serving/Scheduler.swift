/// A waiting request as an admission policy sees it.
public struct SchedulerCandidate: Sendable, Equatable {
    /// The request's index (arrival order).
    public var id: Int
    /// W: prompt tokens.
    public var inputTokens: Int
    public var arrivalSeconds: Double
    /// When its first token is due (eMoE's SLO stringency).
    public var ttftDeadlineSeconds: Double
    /// End-to-end SLO, seconds after arrival.
    public var sloSeconds: Double
    /// G's initial value: the expected output tokens of the task the system believes it is.
    public var expectedOutputTokens: Double

    public init(id: Int, inputTokens: Int, arrivalSeconds: Double, ttftDeadlineSeconds: Double, sloSeconds: Double, expectedOutputTokens: Double) {
        self.id = id
        self.inputTokens = inputTokens
        self.arrivalSeconds = arrivalSeconds
        self.ttftDeadlineSeconds = ttftDeadlineSeconds
        self.sloSeconds = sloSeconds
        self.expectedOutputTokens = expectedOutputTokens
    }
}

/// A running request as eMoE's Eq. 3 sees it.
public struct SchedulerRunning: Sendable, Equatable {
    public var id: Int
    /// G_i: tokens still expected.
    public var remainingTokens: Double
    /// r_i: time since arrival.
    public var runtimeSeconds: Double
    public var sloSeconds: Double

    public init(id: Int, remainingTokens: Double, runtimeSeconds: Double, sloSeconds: Double) {
        self.id = id
        self.remainingTokens = remainingTokens
        self.runtimeSeconds = runtimeSeconds
        self.sloSeconds = sloSeconds
    }
}

/// What admission may look at besides the queues.
public struct SchedulingContext {
    public var now: Double
    /// Tmax: tokens one iteration may process.
    public var tokenBudget: Int
    /// c: profiled latency per token (eMoE Eq. 3).
    public var secondsPerToken: Double
    /// Device memory free for new KV-cache reservations.
    public var freeMemoryBytes: Double
    public var reservationBytes: (SchedulerCandidate) -> Double
    /// ΔE: expert-loading seconds that admitting the candidate would cause.
    public var loadingSeconds: (SchedulerCandidate) -> Double

    public init(now: Double, tokenBudget: Int, secondsPerToken: Double, freeMemoryBytes: Double,
                reservationBytes: @escaping (SchedulerCandidate) -> Double, loadingSeconds: @escaping (SchedulerCandidate) -> Double = { _ in 0 }) {
        self.now = now
        self.tokenBudget = tokenBudget
        self.secondsPerToken = secondsPerToken
        self.freeMemoryBytes = freeMemoryBytes
        self.reservationBytes = reservationBytes
        self.loadingSeconds = loadingSeconds
    }
}

/// Which waiting requests join the running batch. Both policies keep the token budget the way Algorithm 1 writes
/// it (every running request counts one token, an admitted one its prompt) and admit only what fits in memory.
/// If nothing runs and nothing was admitted, the first request in the policy's order that fits in memory is
/// admitted anyway, so a prompt longer than the budget is not starved (its prefill is chunked).
public protocol RequestScheduler: AnyObject {
    var name: String { get }
    /// True: run only when a request arrived or completed since the last run (Algorithm 1); false: every iteration.
    var runsOnEventsOnly: Bool { get }
    /// The ids admitted, in admission order.
    func admit(waiting: [SchedulerCandidate], running: [SchedulerRunning], context: SchedulingContext) -> [Int]
}

/// First come, first served (the vLLM / DeepSpeed-FastGen baseline): arrival order, stopping at the first request
/// that does not fit the token budget or memory.
public final class FCFSScheduler: RequestScheduler {
    public let name = "fcfs"
    public let runsOnEventsOnly = false
    public init() {}

    public func admit(waiting: [SchedulerCandidate], running: [SchedulerRunning], context: SchedulingContext) -> [Int] {
        var tokens = running.count
        var free = context.freeMemoryBytes
        var admitted: [Int] = []
        for r in waiting.sorted(by: { ($0.arrivalSeconds, $0.id) < ($1.arrivalSeconds, $1.id) }) {
            let bytes = context.reservationBytes(r)
            let starving = running.isEmpty && admitted.isEmpty
            guard bytes <= free, starving || r.inputTokens + tokens <= context.tokenBudget else { break }
            admitted.append(r.id)
            tokens += r.inputTokens
            free -= bytes
        }
        return admitted
    }
}

/// `--scheduler` of `sim serve`: how waiting requests are admitted.
public let servingSchedulers = NamedRegistry<@Sendable () -> RequestScheduler>(option: "--scheduler", [
    .init(name: "fcfs", summary: "first come first served") { FCFSScheduler() },
    .init(name: "emoe", summary: "eMoE's Algorithm 1: by SLO stringency, admitting only when Eq. 3 says no running request misses its SLO") { EMoEScheduler() },
    .init(name: "algorithm1", summary: "the same as emoe") { EMoEScheduler() },
])
