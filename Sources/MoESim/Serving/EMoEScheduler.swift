/// eMoE's task-aware request scheduler (papers.md §2.4.5, Algorithm 1): a greedy pass over the waiting requests in
/// order of SLO stringency (first-token deadline) that admits a request when the token budget allows it and no
/// running request that is on track for its SLO would miss it. A running request's expected latency is
///
///     t_i = ΔE + (W + n_i * G_i) * c + r_i                           (Eq. 3)
///
/// with W the new request's input tokens, ΔE the expert loading it causes, G_i request i's remaining tokens, n_i the
/// running requests that will finish after it, c the profiled seconds per token and r_i its time so far.
///
/// Readings where the paper is loose (each a documented choice):
/// - the token count starts at the number of running requests (Algorithm 1's `T <- Qs.length`: one decode token each)
///   and grows by each admitted prompt; the budget test is strict (`W + T < Tmax`), as written;
/// - "for all S: S.NewExpectedLatency < S.SLO (given S.ExpectedLatency < S.SLO)": a request already expected to miss
///   its SLO does not block admissions; its current expectation is Eq. 3 with W = 0 and ΔE = 0;
/// - n_i counts request i itself and every request expected to finish no earlier (remaining G_j >= G_i), the new
///   request included in the new expectation: read literally ("finish after i"), the last request to finish would
///   be charged no decode time at all;
/// - r_i runs from arrival, so t_i is an end-to-end latency comparable with an end-to-end SLO (the paper's r_i = 0
///   for a new request counts from admission);
/// - a request skipped for budget, memory or SLO reasons stays waiting and the pass goes on (it "may delay a
///   relaxed-SLO request when the running requests will finish soon").
public final class EMoEScheduler: RequestScheduler {
    public let name = "emoe"
    public let runsOnEventsOnly = true
    public init() {}

    /// Eq. 3.
    @inline(__always)
    public static func expectedLatency(loadingSeconds: Double, inputTokens: Int, finishingAfter: Int, remainingTokens: Double,
                                       secondsPerToken: Double, runtimeSeconds: Double) -> Double {
        loadingSeconds + (Double(inputTokens) + Double(finishingAfter) * remainingTokens) * secondsPerToken + runtimeSeconds
    }

    /// n_i for a request with `remaining` tokens left among requests with `sortedRemaining` (ascending, itself included).
    static func finishingAfter(_ remaining: Double, sortedRemaining: [Double]) -> Int {
        var lo = 0, hi = sortedRemaining.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if sortedRemaining[mid] < remaining { lo = mid + 1 } else { hi = mid }
        }
        return sortedRemaining.count - lo
    }

    public func admit(waiting: [SchedulerCandidate], running: [SchedulerRunning], context: SchedulingContext) -> [Int] {
        let c = context.secondsPerToken
        var current = running
        var tokens = running.count
        var free = context.freeMemoryBytes
        var admitted: [Int] = []
        var sorted = current.map(\.remainingTokens).sorted()
        var onTrack = current.map { s in
            EMoEScheduler.expectedLatency(loadingSeconds: 0, inputTokens: 0, finishingAfter: EMoEScheduler.finishingAfter(s.remainingTokens, sortedRemaining: sorted),
                                          remainingTokens: s.remainingTokens, secondsPerToken: c, runtimeSeconds: s.runtimeSeconds) < s.sloSeconds
        }
        let order = waiting.sorted { ($0.ttftDeadlineSeconds, $0.arrivalSeconds, $0.id) < ($1.ttftDeadlineSeconds, $1.arrivalSeconds, $1.id) }
        for r in order {
            let starving = running.isEmpty && admitted.isEmpty
            guard starving || r.inputTokens + tokens < context.tokenBudget else { continue }
            let bytes = context.reservationBytes(r)
            guard bytes <= free else { continue }
            let deltaE = context.loadingSeconds(r)
            var keepsSLOs = true
            for (i, s) in current.enumerated() where onTrack[i] {
                let n = EMoEScheduler.finishingAfter(s.remainingTokens, sortedRemaining: sorted) + (r.expectedOutputTokens >= s.remainingTokens ? 1 : 0)
                let t = EMoEScheduler.expectedLatency(loadingSeconds: deltaE, inputTokens: r.inputTokens, finishingAfter: n, remainingTokens: s.remainingTokens,
                                                      secondsPerToken: c, runtimeSeconds: s.runtimeSeconds)
                if !(t < s.sloSeconds) { keepsSLOs = false; break }
            }
            guard keepsSLOs else { continue }
            admitted.append(r.id)
            tokens += r.inputTokens
            free -= bytes
            current.append(SchedulerRunning(id: r.id, remainingTokens: r.expectedOutputTokens, runtimeSeconds: context.now - r.arrivalSeconds, sloSeconds: r.sloSeconds))
            sorted = current.map(\.remainingTokens).sorted()
            onTrack = current.map { s in
                EMoEScheduler.expectedLatency(loadingSeconds: 0, inputTokens: 0, finishingAfter: EMoEScheduler.finishingAfter(s.remainingTokens, sortedRemaining: sorted),
                                              remainingTokens: s.remainingTokens, secondsPerToken: c, runtimeSeconds: s.runtimeSeconds) < s.sloSeconds
            }
        }
        return admitted
    }
}
