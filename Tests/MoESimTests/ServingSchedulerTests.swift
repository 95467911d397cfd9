import Testing
@testable import MoESim

/// eMoE's Algorithm 1 and Eq. 3 on cases worked by hand, and FCFS against them.
struct ServingSchedulerTests {
    /// Eq. 3: t = ΔE + (W + n G) c + r = 0.5 + (100 + 3 x 20) x 0.01 + 2 = 4.1.
    @Test func eq3ByHand() {
        let t = EMoEScheduler.expectedLatency(loadingSeconds: 0.5, inputTokens: 100, finishingAfter: 3, remainingTokens: 20, secondsPerToken: 0.01, runtimeSeconds: 2)
        #expect(abs(t - 4.1) < 1e-12)
        // n_i counts the request itself and everything expected to finish no earlier.
        #expect(EMoEScheduler.finishingAfter(10, sortedRemaining: [5, 10, 50]) == 2)
        #expect(EMoEScheduler.finishingAfter(5, sortedRemaining: [5, 10, 50]) == 3)
        #expect(EMoEScheduler.finishingAfter(51, sortedRemaining: [5, 10, 50]) == 0)
    }

    /// Tmax 100, c 0.05 s/token, now 10 s. Running: S1 (G 10, r 1 s, SLO 5 s) is on track: n = 2 (itself and S2),
    /// t = 2 x 10 x 0.05 + 1 = 2.0 < 5. S2 (G 50, r 0, SLO 2 s): t = 50 x 0.05 = 2.5 >= 2, already late, so it
    /// never blocks. T starts at 2 (one token per running request).
    static let running = [SchedulerRunning(id: 100, remainingTokens: 10, runtimeSeconds: 1, sloSeconds: 5),
                          SchedulerRunning(id: 101, remainingTokens: 50, runtimeSeconds: 0, sloSeconds: 2)]
    /// Waiting, listed in arrival order; Algorithm 1 visits them by first-token deadline: B, C, A, D, E.
    static let waiting = [
        // A: 40 tokens, G0 20, deadline 13.
        SchedulerCandidate(id: 1, inputTokens: 40, arrivalSeconds: 9.0, ttftDeadlineSeconds: 13, sloSeconds: 10, expectedOutputTokens: 20),
        // B: most stringent; 97 + 2 < 100 fits the budget, but S1 would reach (97 + 2 x 10) x 0.05 + 1 = 6.85 >= 5.
        SchedulerCandidate(id: 2, inputTokens: 97, arrivalSeconds: 9.1, ttftDeadlineSeconds: 11, sloSeconds: 10, expectedOutputTokens: 5),
        // C: S1 at (10 + 20) x 0.05 + 1 = 2.5 < 5: admitted, T = 12.
        SchedulerCandidate(id: 3, inputTokens: 10, arrivalSeconds: 9.5, ttftDeadlineSeconds: 12, sloSeconds: 4, expectedOutputTokens: 5),
        // D: 60 + 52 >= 100 once A is in: no budget.
        SchedulerCandidate(id: 4, inputTokens: 60, arrivalSeconds: 9.6, ttftDeadlineSeconds: 14, sloSeconds: 10, expectedOutputTokens: 5),
        // E: 48 + 52 = 100 is not < 100 (the strict test as written).
        SchedulerCandidate(id: 5, inputTokens: 48, arrivalSeconds: 9.7, ttftDeadlineSeconds: 15, sloSeconds: 10, expectedOutputTokens: 5),
    ]

    static func context(loading: @escaping (SchedulerCandidate) -> Double = { _ in 0 }, free: Double = 1e12) -> SchedulingContext {
        SchedulingContext(now: 10, tokenBudget: 100, secondsPerToken: 0.05, freeMemoryBytes: free, reservationBytes: { Double($0.inputTokens) }, loadingSeconds: loading)
    }

    /// After C, A is checked against S1 (G [5, 10, 50] plus A's 20 >= 10: n = 3, t = (40 + 3 x 10) x 0.05 + 1 = 4.5 < 5)
    /// and C (r 0.5, G 5: n = 3 + 1 = 4, t = (40 + 4 x 5) x 0.05 + 0.5 = 3.5 < 4): admitted, T = 52.
    @Test func algorithm1AdmitsAndDelaysAsWorkedByHand() {
        let admitted = EMoEScheduler().admit(waiting: ServingSchedulerTests.waiting, running: ServingSchedulerTests.running, context: ServingSchedulerTests.context())
        #expect(admitted == [3, 1])
    }

    /// With ΔE = 1 s for A, S1 would reach 1 + 4.5 = 5.5 >= 5: A waits. T stays 12, so D (60 + 12 < 100) is
    /// checked: S1 at (60 + 2 x 10) x 0.05 + 1 = 5.0, not < 5: D waits. E (48): S1 at (48 + 20) x 0.05 + 1 = 4.4 < 5,
    /// C (G 5, n 3 + 1) at (48 + 4 x 5) x 0.05 + 0.5 = 3.9 < 4: E, the least stringent, gets in.
    @Test func loadingCostDelaysARequest() {
        let admitted = EMoEScheduler().admit(waiting: ServingSchedulerTests.waiting, running: ServingSchedulerTests.running,
                                             context: ServingSchedulerTests.context(loading: { $0.id == 1 ? 1.0 : 0 }))
        #expect(admitted == [3, 5])
    }

    /// Memory: with room for 45 bytes (reservation = input tokens), C (10) fits and A (40) no longer does.
    @Test func memoryBoundsAdmission() {
        let admitted = EMoEScheduler().admit(waiting: ServingSchedulerTests.waiting, running: ServingSchedulerTests.running,
                                             context: ServingSchedulerTests.context(free: 45))
        #expect(admitted == [3])
    }

    /// FCFS takes arrival order and stops at the first request that does not fit: A (40 + 2 <= 100), then B (97 + 42 > 100).
    @Test func fcfsStopsAtTheFirstMisfit() {
        let admitted = FCFSScheduler().admit(waiting: ServingSchedulerTests.waiting, running: ServingSchedulerTests.running, context: ServingSchedulerTests.context())
        #expect(admitted == [1])
    }

    /// With nothing running, a prompt longer than the budget is still admitted (its prefill is chunked).
    @Test func longPromptIsNotStarved() {
        let long = [SchedulerCandidate(id: 7, inputTokens: 500, arrivalSeconds: 0, ttftDeadlineSeconds: 1, sloSeconds: 10, expectedOutputTokens: 5)]
        #expect(EMoEScheduler().admit(waiting: long, running: [], context: ServingSchedulerTests.context()) == [7])
        #expect(FCFSScheduler().admit(waiting: long, running: [], context: ServingSchedulerTests.context()) == [7])
        #expect(EMoEScheduler().admit(waiting: long, running: ServingSchedulerTests.running, context: ServingSchedulerTests.context()).isEmpty)
    }
}
