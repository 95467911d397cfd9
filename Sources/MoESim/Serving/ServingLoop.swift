import Foundation

/// Request-level serving simulation with continuous batching (DeepSpeed-FastGen / Orca style): at every iteration
/// boundary the scheduler admits waiting requests, then one forward pass runs every running request's next token
/// (decode) and as much of the admitted prompts as the token budget allows (chunked prefill). The pass is timed
/// layer by layer: attention (tensor-parallel), then each layer's experts on their devices, where an expert that is
/// not resident is rerouted or loaded according to the loading policy, and loads queue on per-device host links.
/// Time is continuous; a run ends when every request has completed or been rejected.
///
/// A request's first output token comes from the pass that finishes its prompt (TTFT is measured there); each
/// later pass gives one more. KV cache is reserved at admission for the prompt plus `kvReserveOutputTokens`, so a
/// running request never runs out of memory; a request that cannot fit even on idle devices is rejected.
public final class ServingLoop {
    public let config: ServingConfig
    public let requests: [ServingRequest]
    public let routing: RequestRoutingModel
    public let cost: ServingCostModel
    public let memory: ServingMemoryModel
    public let policy: ExpertLoadingPolicy
    public let scheduler: RequestScheduler
    public let state: ServingState
    public private(set) var metrics: ServingMetrics

    let layers: Int
    let experts: Int
    let slots: Int
    let width: Int
    let trueSensitivity: [[Bool]]
    let activationReserveBytes: Double
    let kvBytesPerToken: Double
    let slidingWindow: Int
    let slidingEvery: Int
    var rng: SeededGenerator

    final class Running {
        let request: ServingRequest
        let stream: RequestRoutingStream
        var promptDone = 0
        var generated = 0
        let admittedAt: Double
        var firstTokenAt = -1.0
        /// eMoE's G_i.
        var remaining: Double
        let initialRemaining: Double
        let reservedBytes: Double
        /// Router selections so far, `layer * experts + expert`.
        var counts: [Int32]
        var tokensThisIteration = 0

        init(request: ServingRequest, stream: RequestRoutingStream, admittedAt: Double, expectedOutput: Double, reservedBytes: Double, cells: Int) {
            self.request = request
            self.stream = stream
            self.admittedAt = admittedAt
            remaining = expectedOutput
            initialRemaining = expectedOutput
            self.reservedBytes = reservedBytes
            counts = Array(repeating: 0, count: cells)
        }

        var inPrefill: Bool { promptDone < request.promptTokens }
        var context: Int { promptDone + max(0, generated - 1) }
        func countsAsDouble() -> [Double] { counts.map(Double.init) }
    }

    var running: [Running] = []
    var waiting: [Int] = []
    var nextArrival = 0
    var now = 0.0
    var reservedKVBytes = 0.0
    var processedTokens = 0
    var eventSinceSchedule = true
    var initialSecondsPerToken = 0.0

    // Per-iteration scratch.
    var buffer: [Int32] = []
    var tokenTask: [Int32] = []
    var tokensPerExpert: [Int32]
    var readyAt: [Double]
    var seconds: [Double]
    var deviceOf: [Int32]
    var deviceFree: [Double]
    var nextLayerArrival: [Double]
    var currentLayerArrival: [Double]

    /// The most candidates one Algorithm 1 pass looks at (in stringency order), which bounds a pass under overload.
    static let maxCandidatesPerPass = 512

    public init(config: ServingConfig, requests: [ServingRequest], routing: RequestRoutingModel) throws {
        self.config = config
        self.requests = requests
        self.routing = routing
        let model = config.model
        guard routing.layers == model.moeLayers, routing.experts == model.experts else {
            throw MoESimError(field: "--model", "routing has \(routing.layers) layers x \(routing.experts) experts, model \(model.name) has \(model.moeLayers) x \(model.experts)")
        }
        guard config.tokenBudget >= 1 else { throw MoESimError(field: "--token-budget", "expected at least 1 token, found \(config.tokenBudget)") }
        guard config.kvReserveOutputTokens >= 0 else { throw MoESimError(field: "--kv-reserve-output", "expected >= 0 tokens") }
        for (i, r) in requests.enumerated() where r.index != i {
            throw MoESimError("request \(r.id) has index \(r.index), expected \(i) (requests must be in arrival order)")
        }
        for (a, b) in zip(requests, requests.dropFirst()) where b.arrivalSeconds < a.arrivalSeconds {
            throw MoESimError("request \(b.id) arrives before \(a.id): requests must be in arrival order")
        }
        let single = CostModel(hardware: config.hardware, model: model, quantization: config.quantization, runtime: config.runtime)
        cost = try ServingCostModel(cost: single, gpus: config.gpus, parallelism: config.parallelism)
        policy = try servingPolicies.resolve(config.policy, kind: "policy").make(config)
        let predictorBytes = policy.predictorParams * CostModel.fp16Bytes
        let capacity = config.memoryCapBytes
            ?? Double(config.gpus) * (config.hardware.device.memoryBytes.value - config.runtime.reservedDeviceBytes.value)
        memory = ServingMemoryModel(cost: single, capacityBytes: capacity, predictorBytes: predictorBytes, attention: config.attentionMemory)
        scheduler = try servingSchedulers.resolve(config.scheduler, kind: "scheduler").make()
        layers = model.moeLayers
        experts = model.experts
        slots = routing.slots
        width = layers * slots
        trueSensitivity = config.tasks.tasks.map { $0.sensitivity(layers: model.moeLayers) }
        let residency = ExpertResidency(layers: layers, experts: experts, gpus: config.gpus, links: config.parallelism == .expert ? config.gpus : 1)
        state = ServingState(layers: layers, experts: experts, tasks: config.tasks,
                             sensitivity: config.taskAware ? trueSensitivity : trueSensitivity.map { $0.map { _ in true } },
                             residency: residency, cost: cost, routing: routing)
        metrics = ServingMetrics(tasks: config.tasks.tasks.count)
        activationReserveBytes = memory.activationBytes(queryTokens: config.tokenBudget, sampling: config.tokenBudget, scorePositions: 0)
        kvBytesPerToken = Double(single.kvCacheBytesPerToken)
        slidingWindow = model.attention.slidingWindow?.window ?? 0
        slidingEvery = model.attention.slidingWindow?.layersEveryN ?? 0
        rng = SeededGenerator(seed: config.seed ^ 0x5345_5256)
        tokensPerExpert = Array(repeating: 0, count: experts)
        readyAt = Array(repeating: 0, count: experts)
        seconds = Array(repeating: 0, count: experts)
        deviceOf = Array(repeating: 0, count: experts)
        deviceFree = Array(repeating: 0, count: config.gpus)
        nextLayerArrival = Array(repeating: -1, count: experts)
        currentLayerArrival = Array(repeating: -1, count: experts)
        // c before anything has run: one decode token on its own, at the mean prompt length.
        let meanPrompt = requests.isEmpty ? 1 : max(1, requests.map(\.promptTokens).reduce(0, +) / requests.count)
        initialSecondsPerToken = Double(layers) * (cost.attentionSeconds(queryTokens: 1, attendedPositions: meanPrompt, kvTokensRead: meanPrompt)
                                                   + cost.expertSeconds(tokens: 1) * Double(model.topK)) + cost.passSeconds(logitTokens: 1)
        state.partialCounts = { [unowned self] in
            self.running.max { ($0.promptDone + $0.generated, -$0.request.index) < ($1.promptDone + $1.generated, -$1.request.index) }
                .flatMap { $0.promptDone + $0.generated > 0 ? $0.countsAsDouble() : nil }
        }
    }

    /// Turns `r` away: its KV reservation does not fit in `free` bytes.
    func reject(_ r: ServingRequest, free: Double) {
        metrics.rejected += 1
        let needed = reservation(r)
        if needed > metrics.largestRejectedReservationBytes {
            metrics.largestRejectedReservationBytes = needed
            metrics.memoryFreeAtRejectionBytes = free
        }
    }

    var secondsPerToken: Double {
        if let c = config.secondsPerToken { return c }
        return processedTokens > 0 ? metrics.busySeconds / Double(processedTokens) : initialSecondsPerToken
    }

    func reservation(_ r: ServingRequest) -> Double { Double(r.promptTokens + config.kvReserveOutputTokens) * kvBytesPerToken }

    func freeMemoryBytes() -> Double {
        memory.capacityBytes - memory.weightBytes(residentExperts: state.residency.count) - reservedKVBytes - activationReserveBytes
    }

    public func run() throws -> ServingMetrics {
        policy.start(state)
        // A request that could not fit even on idle devices at the policy's steady state is rejected on arrival.
        let steadyFree = memory.capacityBytes - memory.weightBytes(residentExperts: policy.steadyResidentExperts) - activationReserveBytes
        while metrics.completed + metrics.rejected < requests.count {
            while nextArrival < requests.count && requests[nextArrival].arrivalSeconds <= now {
                let r = requests[nextArrival]
                metrics.firstArrival = min(metrics.firstArrival, r.arrivalSeconds)
                if reservation(r) > steadyFree { reject(r, free: steadyFree) } else { waiting.append(nextArrival) }
                nextArrival += 1
                eventSinceSchedule = true
            }
            var stall = 0.0
            if !waiting.isEmpty && (!scheduler.runsOnEventsOnly || eventSinceSchedule || running.isEmpty) {
                stall = admit()
            }
            if running.isEmpty {
                if !waiting.isEmpty {
                    // Nothing runs and nothing fit: with idle devices nothing will change, so reject what does not fit now.
                    let free = freeMemoryBytes()
                    let before = waiting.count
                    waiting.removeAll { index in
                        guard reservation(requests[index]) > free else { return false }
                        reject(requests[index], free: free)
                        return true
                    }
                    eventSinceSchedule = true
                    if before != waiting.count { continue }
                }
                if nextArrival < requests.count {
                    now = max(now, requests[nextArrival].arrivalSeconds)
                    continue
                }
                // Nothing runs, nothing will arrive and the scheduler admitted nothing that fits: those requests can
                // never be served (a safeguard; admitting when nothing runs normally prevents it).
                for index in waiting { reject(requests[index], free: freeMemoryBytes()) }
                waiting.removeAll()
                continue
            }
            now += stall
            metrics.stallSeconds += stall
            state.now = now
            iterate()
        }
        return metrics
    }

    /// One scheduling pass; returns the stall the policy asks for (predictor calls).
    func admit() -> Double {
        eventSinceSchedule = false
        let c = secondsPerToken
        var deltaE: [Int: Double] = [:]
        let meanPrompt = config.tasks.tasks.map { Int($0.meanPromptTokens.rounded()) }
        let candidates: [SchedulerCandidate]
        if scheduler.runsOnEventsOnly {
            let byStringency = waiting.sorted { (requests[$0].ttftDeadlineSeconds, $0) < (requests[$1].ttftDeadlineSeconds, $1) }
            candidates = byStringency.prefix(ServingLoop.maxCandidatesPerPass).map(candidate)
        } else {
            // FCFS admits at most one request per free budget token (plus one when starving), all from the front.
            let limit = max(1, config.tokenBudget - running.count + 1)
            candidates = waiting.prefix(limit).map(candidate)
        }
        let context = SchedulingContext(now: now, tokenBudget: config.tokenBudget, secondsPerToken: c, freeMemoryBytes: freeMemoryBytes(),
                                        reservationBytes: { [unowned self] in self.reservation(self.requests[$0.id]) },
                                        loadingSeconds: { [unowned self] candidate in
                                            let label = self.requests[candidate.id].label
                                            if let known = deltaE[label] { return known }
                                            // ΔE is profiled per task type (at the task's mean prompt).
                                            let value = self.policy.loadingSecondsIfAdmitted(label: label, inputTokens: meanPrompt[label], state: self.state)
                                            deltaE[label] = value
                                            return value
                                        })
        let admitted = scheduler.admit(waiting: candidates, running: running.map {
            SchedulerRunning(id: $0.request.index, remainingTokens: $0.remaining, runtimeSeconds: now - $0.request.arrivalSeconds, sloSeconds: $0.request.sloE2ESeconds)
        }, context: context)
        guard !admitted.isEmpty else { return 0 }
        let chosen = Set(admitted)
        waiting.removeAll { chosen.contains($0) }
        var stall = 0.0
        state.now = now
        for id in admitted {
            let r = requests[id]
            let bytes = reservation(r)
            reservedKVBytes += bytes
            running.append(Running(request: r, stream: routing.stream(for: r), admittedAt: now, expectedOutput: state.expectedOutputTokens[r.label],
                                   reservedBytes: bytes, cells: layers * experts))
            state.running.append(r)
            stall += policy.admitted(r, state: state)
        }
        return stall
    }

    func candidate(_ index: Int) -> SchedulerCandidate {
        let r = requests[index]
        return SchedulerCandidate(id: index, inputTokens: r.promptTokens, arrivalSeconds: r.arrivalSeconds, ttftDeadlineSeconds: r.ttftDeadlineSeconds,
                                  sloSeconds: r.sloE2ESeconds, expectedOutputTokens: state.expectedOutputTokens[r.label])
    }

    /// Σ over k = 1...q of min(c0 + k, window) (window 0: no cap): the positions q new tokens attend to.
    @inline(__always) static func attended(before c0: Int, new q: Int, window: Int) -> Int {
        let full = q * c0 + q * (q + 1) / 2
        guard window > 0, c0 + q > window else { return full }
        // Tokens at positions <= window attend to all before them; later ones to exactly `window`.
        let uncapped = max(0, window - c0)
        return uncapped * c0 + uncapped * (uncapped + 1) / 2 + (q - uncapped) * window
    }

    func iterate() {
        let iterationStart = now
        policy.beforeIteration(state: state)
        // Batch: every decoding request's next token, then prompt chunks in admission order within the budget.
        var budget = config.tokenBudget
        var tokens = 0, sampling = 0
        var attendedFull = 0, attendedWindowed = 0, kvRead = 0
        var scorePositions = 0.0
        for r in running where !r.inPrefill {
            r.tokensThisIteration = 1
            budget -= 1
        }
        for r in running where r.inPrefill {
            let chunk = min(r.request.promptTokens - r.promptDone, max(0, budget))
            r.tokensThisIteration = chunk
            budget -= chunk
        }
        if running.allSatisfy({ $0.tokensThisIteration == 0 }), let first = running.first {
            first.tokensThisIteration = min(first.request.promptTokens - first.promptDone, config.tokenBudget)
        }
        for r in running where r.tokensThisIteration > 0 {
            let q = r.tokensThisIteration, c0 = r.context
            tokens += q
            kvRead += c0
            attendedFull += ServingLoop.attended(before: c0, new: q, window: 0)
            if slidingEvery > 0 { attendedWindowed += ServingLoop.attended(before: c0, new: q, window: slidingWindow) }
            scorePositions += Double(q) * Double(c0 + q)
            if !r.inPrefill || r.promptDone + q == r.request.promptTokens { sampling += 1 }
        }
        if buffer.count < tokens * width { buffer = Array(repeating: -1, count: tokens * width) }
        if tokenTask.count < tokens { tokenTask = Array(repeating: 0, count: tokens) }

        // Routing: each token's router choices (counted for history before any reroute).
        let observe = policy.observesTokens
        var t = 0
        buffer.withUnsafeMutableBufferPointer { buf in
            let base = buf.baseAddress!
            for r in running where r.tokensThisIteration > 0 {
                for _ in 0..<r.tokensThisIteration {
                    let p = base + t * width
                    r.stream.next(into: p)
                    r.counts.withUnsafeMutableBufferPointer { counts in
                        for l in 0..<layers {
                            for s in 0..<slots {
                                let e = p[l * slots + s]
                                if e >= 0 { counts[l * experts + Int(e)] += 1 }
                            }
                        }
                    }
                    if observe { policy.observeToken(UnsafePointer(p), slots: slots) }
                    tokenTask[t] = Int32(r.request.task)
                    t += 1
                }
            }
        }

        let fullAttention = cost.attentionSeconds(queryTokens: tokens, attendedPositions: attendedFull, kvTokensRead: kvRead)
        let windowedAttention = slidingEvery > 0 ? cost.attentionSeconds(queryTokens: tokens, attendedPositions: attendedWindowed, kvTokensRead: kvRead) : 0
        let end = runLayers(start: iterationStart, tokens: tokens, fullAttention: fullAttention, windowedAttention: windowedAttention)
        let iterationEnd = end + cost.passSeconds(logitTokens: sampling)

        // Memory at this iteration (transient loads included).
        let residentExperts = state.residency.count + transientExperts
        var kvTokens = 0
        for r in running { kvTokens += r.context + r.tokensThisIteration }
        var breakdown = ServingMetrics.MemoryBreakdown()
        breakdown.nonExpertWeightBytes = memory.nonExpertWeightBytes
        breakdown.expertBytes = Double(residentExperts) * memory.expertBytes
        breakdown.predictorBytes = memory.predictorBytes
        breakdown.kvCacheBytes = Double(kvTokens) * kvBytesPerToken
        breakdown.activationBytes = memory.activationBytes(queryTokens: tokens, sampling: sampling, scorePositions: scorePositions)
        let total = breakdown.total
        if total > metrics.peakBytes { metrics.peakBytes = total; metrics.peakBreakdown = breakdown }
        if policy.warmedUp { metrics.steadyPeakBytes = max(metrics.steadyPeakBytes, total) }
        metrics.transientPeakExperts = max(metrics.transientPeakExperts, transientExperts)

        metrics.iterations += 1
        metrics.batchTokensSum += tokens
        metrics.maxBatchTokens = max(metrics.maxBatchTokens, tokens)
        let batchRequests = running.reduce(0) { $0 + ($1.tokensThisIteration > 0 ? 1 : 0) }
        metrics.batchRequestsSum += batchRequests
        metrics.maxBatchRequests = max(metrics.maxBatchRequests, batchRequests)
        metrics.busySeconds += iterationEnd - iterationStart
        processedTokens += tokens
        now = iterationEnd
        state.now = now

        // Progress: tokens out, completions.
        let resetFraction = EMoEConstants.remainingResetFraction.value
        var finished: [Running] = []
        for r in running where r.tokensThisIteration > 0 {
            var emitted = false
            if r.inPrefill {
                r.promptDone += r.tokensThisIteration
                if !r.inPrefill {
                    r.generated = 1
                    r.firstTokenAt = now
                    emitted = true
                    policy.prefilled(r.request, counts: r.countsAsDouble(), state: state)
                }
            } else {
                r.generated += 1
                emitted = true
            }
            if emitted {
                r.remaining -= 1
                if r.remaining <= 0 && r.generated < r.request.outputTokens { r.remaining = max(1, (resetFraction * r.initialRemaining).rounded(.up)) }
            }
            if r.generated >= r.request.outputTokens { finished.append(r) }
        }
        for r in finished {
            metrics.complete(r.request, firstTokenAt: r.firstTokenAt, admittedAt: r.admittedAt, now: now)
            reservedKVBytes -= r.reservedBytes
            let counts = r.countsAsDouble()
            state.lastCompletedCounts = counts
            running.removeAll { $0 === r }
            state.running.removeAll { $0.index == r.request.index }
            policy.completed(r.request, counts: counts, state: state)
            eventSinceSchedule = true
        }
    }

    var transientExperts = 0

    /// Times the layers of one pass from `start`; returns when the last layer ends. Applies the policy's miss
    /// handling to the routing in `buffer` (rerouting rewrites it) and tallies rerouting per task.
    func runLayers(start: Double, tokens: Int, fullAttention: Double, windowedAttention: Double) -> Double {
        let residency = state.residency
        let handling = policy.missHandling
        let caches = policy.cachesLoads
        let fetchesAhead = policy.fetchesNextLayer
        let ranking = policy.rerouteRanking
        let randomLists = policy.rerouteCandidates
        var time = start
        var maxTransient = 0
        for i in 0..<experts { currentLayerArrival[i] = -1 }
        buffer.withUnsafeMutableBufferPointer { buf in
            let base = buf.baseAddress!
            for l in 0..<layers {
                let attention = slidingEvery > 0 && l % slidingEvery == 0 ? windowedAttention : fullAttention
                let layerStart = time
                let attentionEnd = layerStart + attention
                let keyBase = l * experts
                for e in 0..<experts { tokensPerExpert[e] = 0 }
                let isResident: (Int) -> Bool = { residency.isResident(keyBase + $0) }
                for tok in 0..<tokens {
                    let p = base + tok * width + l * slots
                    if handling == .rerouteRanked || handling == .rerouteRandom {
                        var valid = 0
                        for s in 0..<slots where p[s] >= 0 { valid += 1 }
                        let moved: Int
                        if handling == .rerouteRanked {
                            moved = Rerouting.reroute(p, count: slots, resident: isResident, ranking: UnsafePointer(ranking!.base + keyBase), experts: experts)
                        } else {
                            moved = Rerouting.rerouteRandomly(p, count: slots, residentExperts: randomLists![l], rng: &rng, resident: isResident)
                        }
                        let task = Int(tokenTask[tok])
                        metrics.perTask[task].selections += valid
                        metrics.perTask[task].rerouted += moved
                        if trueSensitivity[task][l] {
                            metrics.perTask[task].sensitiveSelections += valid
                            metrics.perTask[task].reroutedSensitive += moved
                        }
                    } else {
                        let task = Int(tokenTask[tok])
                        for s in 0..<slots where p[s] >= 0 {
                            metrics.perTask[task].selections += 1
                            if trueSensitivity[task][l] { metrics.perTask[task].sensitiveSelections += 1 }
                        }
                    }
                    for s in 0..<slots {
                        let e = p[s]
                        if e >= 0 { tokensPerExpert[Int(e)] += 1 }
                    }
                }
                // When each needed expert can start, and for how long it runs.
                var late = false
                var loadedHere = 0
                var routed = 0
                for e in 0..<experts where tokensPerExpert[e] > 0 {
                    let key = keyBase + e
                    let n = Int(tokensPerExpert[e])
                    routed += n
                    var ready: Double
                    if residency.isResident(key) {
                        ready = residency.available(key)
                    } else if currentLayerArrival[e] >= 0 {
                        ready = currentLayerArrival[e]
                        loadedHere += 1
                    } else if caches {
                        if residency.count >= policy.cacheCapacity,
                           let v = policy.victim(state: state, protected: { $0 / self.experts == l && self.tokensPerExpert[$0 % self.experts] > 0 }) {
                            residency.evict(v)
                        }
                        ready = residency.load(key, at: attentionEnd, cost: cost, rebalance: false)
                    } else {
                        ready = residency.transfer(key, at: attentionEnd, cost: cost)
                        loadedHere += 1
                    }
                    if caches { policy.used(key) }
                    readyAt[e] = ready
                    seconds[e] = cost.expertSeconds(tokens: n)
                    deviceOf[e] = Int32(cost.parallelism == .expert ? residency.deviceOf(key) : 0)
                    if ready > attentionEnd { late = true }
                }
                // Pre-gated: the next layer's experts are known now and fetched while this layer runs, queued behind this
                // layer's own loads on the link.
                var fetchedAhead = 0
                if fetchesAhead {
                    for e in 0..<experts { nextLayerArrival[e] = -1 }
                    if l + 1 < layers {
                        for tok in 0..<tokens {
                            let p = base + tok * width + (l + 1) * slots
                            for s in 0..<slots {
                                let e = Int(p[s])
                                if e >= 0 && nextLayerArrival[e] < 0 && !residency.isResident((l + 1) * experts + e) {
                                    nextLayerArrival[e] = residency.transfer((l + 1) * experts + e, at: layerStart, cost: cost)
                                    fetchedAhead += 1
                                }
                            }
                        }
                    }
                }
                maxTransient = max(maxTransient, loadedHere + fetchedAhead)
                let devices = cost.parallelism == .expert ? config.gpus : 1
                for d in 0..<devices { deviceFree[d] = attentionEnd }
                if !late {
                    for e in 0..<experts where tokensPerExpert[e] > 0 { deviceFree[Int(deviceOf[e])] += seconds[e] }
                } else {
                    // Each device runs its experts as they arrive: earliest-ready first.
                    for e in 0..<experts { if tokensPerExpert[e] == 0 { readyAt[e] = .infinity } }
                    while true {
                        var pick = -1
                        for e in 0..<experts where readyAt[e] < .infinity && (pick < 0 || readyAt[e] < readyAt[pick]) { pick = e }
                        guard pick >= 0 else { break }
                        let d = Int(deviceOf[pick])
                        deviceFree[d] = max(deviceFree[d], readyAt[pick]) + seconds[pick]
                        readyAt[pick] = .infinity
                    }
                }
                var layerEnd = attentionEnd
                for d in 0..<devices { layerEnd = max(layerEnd, deviceFree[d]) }
                time = layerEnd + cost.allToAllSeconds(routedTokens: routed)
                if fetchesAhead { swap(&currentLayerArrival, &nextLayerArrival) }
            }
        }
        transientExperts = maxTransient
        return time
    }
}
