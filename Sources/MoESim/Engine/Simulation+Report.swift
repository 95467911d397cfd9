import Foundation

/// The report of a run, from its metrics and what its policies did.
extension Simulation {
    // MARK: Report

    func makeReport(source: PassSource) -> Report {
        metrics.report(simulation: self, source: source)
    }

    static func lookaheadWarning(_ window: Int) -> String {
        "the trace is longer than Belady's look-ahead of \(window) accesses: next uses farther ahead count as never, so Belady's hit rate may be understated"
    }

    /// Routed (token, layer) cells and the experts gating kept for them.
    var routedTokenLayers: Int { router.tokenLayers }
    var activatedExperts: Int { router.activatedExperts }
    var recordedExperts: Int { router.recordedExperts }

    /// What a dropping gating policy did; nil for exact replay.
    var gatingReport: Report.Gating? {
        router.statistics?.report(policy: config.gating, recordedExperts: router.recordedExperts, activatedExperts: router.activatedExperts,
                                  weightsRecorded: source.header.weights != .none)
    }
}
