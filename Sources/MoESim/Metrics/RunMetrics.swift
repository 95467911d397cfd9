/// Counters a run accumulates, in constant memory (per-layer arrays, histograms), and the report built from them.
struct RunMetrics {
    var accesses = 0
    var hits = 0
    var layerAccesses = FixedArray<Int>(repeating: 0, count: 0)
    var layerHits = FixedArray<Int>(repeating: 0, count: 0)
    var onDemandLoads = 0
    // Prefetch counters per layer of the prefetched expert (issue 5 metrics).
    var prefetchIssued = FixedArray<Int>(repeating: 0, count: 0)
    /// Prefetched experts used: from the staging buffer, or (admit=cache) as a hit after insertion.
    var prefetchUseful = FixedArray<Int>(repeating: 0, count: 0)
    /// Misses served from a staging buffer (a subset of the useful ones).
    var prefetchStagedHits = FixedArray<Int>(repeating: 0, count: 0)
    /// Used before they had landed.
    var prefetchLate = FixedArray<Int>(repeating: 0, count: 0)
    /// Bytes of dropped prefetches cancelled before they moved (priority links).
    var prefetchCancelledBytes = FixedArray<Double>(repeating: 0, count: 0)
    /// Seconds on-demand loads waited while the link moved speculative transfers of that layer.
    var linkContentionSeconds = FixedArray<Double>(repeating: 0, count: 0)
    var prefetchWaitSeconds = 0.0
    var preemptions = 0
    var gpuStallSeconds = 0.0
    /// The GPU idle, waiting for the host to issue work.
    var hostWaitSeconds = 0.0
    var hostWaitAtPassStart = 0.0
    var decodeHostWaitSeconds = 0.0
    var decodeStallSeconds = 0.0
    var gpuBusySeconds = 0.0
    var peakKVCacheBytes = 0.0
    var makespanSeconds = 0.0

    var decodeTokens = 0
    var decodeSeconds = 0.0
    var decodeLatency = LatencyHistogram()
    var prefillPasses = 0
    var prefillTokens = 0
    var prefillSeconds = 0.0
    var prefillLatency = LatencyHistogram()
    var timeToFirstToken = LatencyHistogram()
    /// Stall total when the current pass began, to attribute stalls to decode passes.
    var stallAtPassStart = 0.0
    var loadsAtPassStart = 0
    var h2dBytesAtPassStart = 0.0
    var decodeOnDemandLoads = 0
    var decodeH2DBytes = 0.0

    mutating func prepare(layers: Int) {
        layerAccesses = FixedArray(repeating: 0, count: layers)
        layerHits = FixedArray(repeating: 0, count: layers)
        prefetchIssued = FixedArray(repeating: 0, count: layers)
        prefetchUseful = FixedArray(repeating: 0, count: layers)
        prefetchStagedHits = FixedArray(repeating: 0, count: layers)
        prefetchLate = FixedArray(repeating: 0, count: layers)
        prefetchCancelledBytes = FixedArray(repeating: 0, count: layers)
        linkContentionSeconds = FixedArray(repeating: 0, count: layers)
    }

    mutating func recordPrefetchIssued(layer: Int) { prefetchIssued[layer] += 1 }

    mutating func recordPrefetchUse(layer: Int, staged: Bool, late: Bool) {
        prefetchUseful[layer] += 1
        if staged { prefetchStagedHits[layer] += 1 }
        if late { prefetchLate[layer] += 1 }
    }


    /// Takes what the copies did (preemptions, contention and cancelled prefetch bytes per layer) from the transfer manager.
    mutating func recordCopies(_ transfers: TransferManager) {
        preemptions = transfers.preemptions
        for (l, seconds) in transfers.contentionSecondsByLayer.enumerated() { linkContentionSeconds[l] = seconds }
        for (l, bytes) in transfers.cancelledPrefetchBytesByLayer.enumerated() { prefetchCancelledBytes[l] = bytes }
    }

    /// The prefetch part of the report; per-layer detail only when the policy speculates.
    func prefetchReport(policy: PrefetchPolicy, expertBytes: Int) -> Report.Prefetch {
        let bytes = Double(expertBytes)
        let layers = prefetchIssued.count
        var perLayer: [Report.Prefetch.Layer] = []
        for l in 0..<layers {
            let issued = prefetchIssued[l], useful = prefetchUseful[l]
            let onDemand = layerAccesses[l] - layerHits[l] - prefetchStagedHits[l]
            perLayer.append(.init(layer: l, issued: issued, useful: useful, late: prefetchLate[l], issuedBytes: Double(issued) * bytes,
                                  usefulBytes: Double(useful) * bytes,
                                  wastedBytes: Double(issued - useful) * bytes - prefetchCancelledBytes[l],
                                  cancelledBytes: prefetchCancelledBytes[l],
                                  accuracy: RunMetrics.ratio(Double(useful), Double(issued)),
                                  coverage: RunMetrics.ratio(Double(useful), Double(useful + onDemand)),
                                  linkContentionSeconds: linkContentionSeconds[l]))
        }
        let issued = prefetchIssued.array.reduce(0, +), useful = prefetchUseful.array.reduce(0, +)
        let cancelled = prefetchCancelledBytes.array.reduce(0, +)
        let engine = policy.engine
        return Report.Prefetch(
            issued: issued, useful: useful, late: prefetchLate.array.reduce(0, +),
            wastedBytes: Double(issued - useful) * bytes - cancelled,
            issuedBytes: Double(issued) * bytes, usefulBytes: Double(useful) * bytes, cancelledBytes: cancelled,
            accuracy: RunMetrics.ratio(Double(useful), Double(issued)),
            coverage: RunMetrics.ratio(Double(useful), Double(useful + onDemandLoads)),
            linkContentionSeconds: linkContentionSeconds.array.reduce(0, +), waitSeconds: prefetchWaitSeconds, preemptions: preemptions,
            link: policy.speculates ? engine.link.rawValue : nil, admission: policy.speculates ? engine.admission.rawValue : nil,
            perLayer: policy.speculates ? perLayer : nil, notes: policy.notes.isEmpty ? nil : policy.notes)
    }

    @inline(__always) mutating func recordAccess(layer: Int, hit: Bool) {
        accesses += 1
        layerAccesses[layer] += 1
        if hit {
            hits += 1
            layerHits[layer] += 1
        }
    }

    /// Per request: when its first pass started, when its latest prefill pass ended (-1: none yet), and whether its
    /// first token has been recorded. A request's first token comes out of its last prefill pass, which is known
    /// only when its first decode pass begins (prefill may come in chunks, interleaved with other requests).
    var requestStart: [Double] = []
    var lastPrefillEnd: [Double] = []
    var firstTokenRecorded: [Bool] = []

    mutating func recordPassStart(request r: Int, at start: Double, phase: Phase) {
        while requestStart.count <= r {
            requestStart.append(-1)
            lastPrefillEnd.append(-1)
            firstTokenRecorded.append(false)
        }
        if requestStart[r] < 0 { requestStart[r] = start }
        if phase == .decode { recordFirstToken(request: r) }
    }

    mutating func recordFirstToken(request r: Int) {
        guard !firstTokenRecorded[r], lastPrefillEnd[r] >= 0 else { return }
        firstTokenRecorded[r] = true
        timeToFirstToken.record(lastPrefillEnd[r] - requestStart[r])
    }

    /// Requests whose trace ends after prefill still produced their first token.
    mutating func finishRequests() {
        for r in 0..<requestStart.count { recordFirstToken(request: r) }
    }

    mutating func recordPass(_ pass: Pass, start: Double, end: Double, h2dBytesTotal: Double) {
        let seconds = end - start
        let loads = onDemandLoads - loadsAtPassStart
        let bytes = h2dBytesTotal - h2dBytesAtPassStart
        loadsAtPassStart = onDemandLoads
        h2dBytesAtPassStart = h2dBytesTotal
        gpuBusySeconds += seconds
        let stall = gpuStallSeconds - stallAtPassStart
        stallAtPassStart = gpuStallSeconds
        gpuBusySeconds -= stall
        let hostWait = hostWaitSeconds - hostWaitAtPassStart
        hostWaitAtPassStart = hostWaitSeconds
        gpuBusySeconds -= hostWait
        switch pass.phase {
        case .decode:
            decodeTokens += pass.tokenCount
            decodeSeconds += seconds
            decodeStallSeconds += stall
            decodeHostWaitSeconds += hostWait
            decodeOnDemandLoads += loads
            decodeH2DBytes += bytes
            for _ in 0..<pass.tokenCount { decodeLatency.record(seconds) }
        case .prefill:
            prefillPasses += 1
            prefillTokens += pass.tokenCount
            prefillSeconds += seconds
            prefillLatency.record(seconds)
            lastPrefillEnd[pass.request] = end
        }
    }

    static func ratio(_ a: Double, _ b: Double) -> Double? { b > 0 ? a / b : nil }

    func report(simulation sim: Simulation, source: PassSource) -> Report {
        let config = sim.config
        let decode = Double(decodeTokens)
        let h2d = sim.transfers.h2d
        let d2h = sim.transfers.d2h
        let onDemandBytes = h2d.bytes(.onDemand)
        let prefetchBytes = h2d.bytes(.prefetch)
        let writeBackBytes = d2h.bytes(.writeBack)
        let h2dBytes = onDemandBytes + prefetchBytes
        let separateD2H = d2h !== h2d
        var warnings: [String] = []
        if source.missingCellCount > 0 {
            warnings.append("\(source.missingCellCount) null routing cells (rows the recorder lost) were replayed with no routed expert (--missing skip)")
        }
        let timedRequests = source.requests.filter { $0.arrivalSeconds != nil }.count
        if timedRequests > 0 {
            warnings.append("\(timedRequests) of \(source.requests.count) requests carry arrival_s: this replay ignores arrivals and runs the requests back to back at batch 1; `sim serve --trace FILE` replays them as they arrive, with batching")
        }
        let memoryPlan = sim.memory
        return Report(
            configuration: .init(trace: source.sourceName, hardware: config.hardware.name, model: config.model.name,
                                 quantization: config.quantization.name, runtime: config.runtime.name, cache: config.cache.text,
                                 gating: config.gating, prefetch: config.prefetch, missingCells: config.missingCells.rawValue,
                                 initialFill: config.initialFill.rawValue, offloadTier: config.hardware.offloadTier.rawValue,
                                 miss: sim.asksOnMiss ? config.miss : nil),
            sizes: .init(expertBytes: sim.costs.expertBytes,
                         expertBytesPerLayer: Set(sim.costs.expertBytesByLayer).count > 1 ? sim.costs.expertBytesByLayer : nil,
                         residentWeightBytes: sim.costs.residentWeightBytes,
                         kvCacheBytesPerToken: sim.costs.kvCacheBytesPerToken, cacheCapacityExperts: sim.cache.capacities,
                         cacheCapacityTotalExperts: sim.cache.totalCapacity),
            makespanSeconds: makespanSeconds,
            decode: .init(tokens: decodeTokens, seconds: decodeSeconds, tokensPerSecond: RunMetrics.ratio(decode, decodeSeconds),
                          latency: decodeLatency.summary),
            prefill: .init(passes: prefillPasses, tokens: prefillTokens, seconds: prefillSeconds, passLatency: prefillLatency.summary),
            timeToFirstToken: timeToFirstToken.summary,
            cache: .init(accesses: accesses, hits: hits, hitRate: RunMetrics.ratio(Double(hits), Double(accesses)),
                         perLayerHitRate: zip(layerHits.array, layerAccesses.array).map { RunMetrics.ratio(Double($0), Double($1)) },
                         prefetchHits: prefetchStagedHits.array.reduce(0, +), onDemandLoads: onDemandLoads,
                         optimum: config.beladyReference ? .computed : .skipped),
            prefetch: prefetchReport(policy: sim.prefetcher, expertBytes: sim.costs.expertBytes),
            link: .init(name: sim.linkName, h2dBytes: h2dBytes, d2hBytes: writeBackBytes, onDemandLoadBytes: onDemandBytes,
                        prefetchBytes: prefetchBytes, writeBackBytes: writeBackBytes,
                        onDemandLoadsPerDecodeToken: RunMetrics.ratio(Double(decodeOnDemandLoads), decode),
                        h2dBytesPerDecodeToken: RunMetrics.ratio(decodeH2DBytes, decode),
                        h2dBusyFraction: RunMetrics.ratio(h2d.busySeconds, makespanSeconds),
                        d2hBusyFraction: separateD2H ? RunMetrics.ratio(d2h.busySeconds, makespanSeconds) : nil),
            gpu: .init(stallSeconds: gpuStallSeconds, stallSecondsPerDecodeToken: RunMetrics.ratio(decodeStallSeconds, decode),
                       hostWaitSeconds: hostWaitSeconds, hostWaitSecondsPerDecodeToken: RunMetrics.ratio(decodeHostWaitSeconds, decode),
                       busyFraction: RunMetrics.ratio(gpuBusySeconds, makespanSeconds)),
            memory: .init(deviceCapacityBytes: memoryPlan.deviceCapacityBytes,
                          peakDeviceBytes: memoryPlan.residentWeightBytes + memoryPlan.expertCacheBytes + memoryPlan.transferBufferBytes
                              + memoryPlan.runtimeReservedBytes + peakKVCacheBytes,
                          residentWeightBytes: memoryPlan.residentWeightBytes, expertCacheBytes: memoryPlan.expertCacheBytes,
                          transferBufferBytes: memoryPlan.transferBufferBytes, peakKVCacheBytes: peakKVCacheBytes,
                          runtimeReservedBytes: memoryPlan.runtimeReservedBytes),
            routing: .init(tokenLayers: sim.routedTokenLayers,
                           activatedExpertsPerTokenLayer: RunMetrics.ratio(Double(sim.activatedExperts), Double(sim.routedTokenLayers)),
                           recordedExpertsPerTokenLayer: RunMetrics.ratio(Double(sim.recordedExperts), Double(sim.routedTokenLayers)),
                           missingCells: source.missingCellCount),
            gating: sim.gatingReport,
            miss: sim.missReport,
            warnings: warnings)
    }
}
