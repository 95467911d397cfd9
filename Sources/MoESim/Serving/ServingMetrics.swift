/// Running tallies of a serving run (constant memory per request class, not per request).
public struct ServingMetrics {
    public var endToEnd = LatencyHistogram()
    public var ttft = LatencyHistogram()
    public var tpot = LatencyHistogram()
    public var queueing = LatencyHistogram()
    public var completed = 0
    public var rejected = 0
    /// The largest KV reservation a rejected request needed, and the memory there was for it (weights, resident
    /// experts and activations taken out) when it was turned away: why requests were rejected.
    public var largestRejectedReservationBytes = 0.0
    public var memoryFreeAtRejectionBytes = 0.0
    public var ttftMet = 0
    public var endToEndMet = 0
    public var bothMet = 0
    public var promptTokens = 0
    public var outputTokens = 0
    public var firstArrival = Double.infinity
    public var lastCompletion = 0.0

    public var iterations = 0
    public var batchRequestsSum = 0
    public var batchTokensSum = 0
    public var maxBatchRequests = 0
    public var maxBatchTokens = 0
    public var busySeconds = 0.0
    public var stallSeconds = 0.0

    public var peakBytes = 0.0
    public var peakBreakdown = MemoryBreakdown()
    public var steadyPeakBytes = 0.0
    public var transientPeakExperts = 0

    /// Per true task.
    public var perTask: [TaskTally]

    public struct MemoryBreakdown: Codable, Sendable, Equatable {
        public var nonExpertWeightBytes = 0.0
        public var expertBytes = 0.0
        public var predictorBytes = 0.0
        public var kvCacheBytes = 0.0
        public var activationBytes = 0.0
        public var total: Double { nonExpertWeightBytes + expertBytes + predictorBytes + kvCacheBytes + activationBytes }
    }

    public struct TaskTally {
        public var requests = 0
        public var endToEndSum = 0.0
        public var ttftSum = 0.0
        public var sloMet = 0
        /// Expert slots the router chose (token, layer, slot).
        public var selections = 0
        public var rerouted = 0
        /// The same on the layers where this task is sensitive.
        public var sensitiveSelections = 0
        public var reroutedSensitive = 0
    }

    public init(tasks: Int) { perTask = Array(repeating: TaskTally(), count: tasks) }

    mutating func complete(_ r: ServingRequest, firstTokenAt: Double, admittedAt: Double, now: Double) {
        let e2e = now - r.arrivalSeconds, first = firstTokenAt - r.arrivalSeconds
        endToEnd.record(e2e)
        ttft.record(first)
        queueing.record(admittedAt - r.arrivalSeconds)
        if r.outputTokens > 1 { tpot.record((now - firstTokenAt) / Double(r.outputTokens - 1)) }
        completed += 1
        let ttftOK = first <= r.sloTTFTSeconds, e2eOK = e2e <= r.sloE2ESeconds
        if ttftOK { ttftMet += 1 }
        if e2eOK { endToEndMet += 1 }
        if ttftOK && e2eOK { bothMet += 1 }
        promptTokens += r.promptTokens
        outputTokens += r.outputTokens
        lastCompletion = max(lastCompletion, now)
        perTask[r.task].requests += 1
        perTask[r.task].endToEndSum += e2e
        perTask[r.task].ttftSum += first
        if ttftOK && e2eOK { perTask[r.task].sloMet += 1 }
    }
}
