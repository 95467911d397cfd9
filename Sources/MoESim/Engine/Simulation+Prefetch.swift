import Foundation

/// Speculative loads of a run, on the executor's side: which experts are staged and for which step, staged experts
/// that keep their buffer until a slot's old occupant has run, the wait for the previous layer's prefetches, and the
/// `PrefetchContext` the prefetch policies see. The buffers and copies themselves are the transfer manager's.
extension Simulation: PrefetchArrivalHandler {
    /// Whether `key`'s admission evicted an expert the current layer has still to run from its slot; if so, `key`
    /// keeps its staging buffer until that expert has run (then `releaseDeferredStaging`). An evicted expert that
    /// came by an on-demand load is still in its load buffer and needs nothing kept.
    func defersStagingRelease(of key: Int, after admission: Admission, arrived: Bool) -> Bool {
        guard case let .admitted(evicted?) = admission, jobs.awaitingCompute[evicted], !transfers.holdsLoadBuffer[evicted] else { return false }
        deferredStagingReleases.append((Int32(evicted), Int32(key), arrived))
        return true
    }

    /// `victim` has run: staging buffers kept for its slot are given back.
    func releaseDeferredStaging(after victim: Int) {
        deferredStagingReleases.removeAll { entry in
            guard Int(entry.victim) == victim else { return false }
            if entry.arrived {
                transfers.releaseLandedStagingBuffer(Int(entry.key))
            } else {
                transfers.releaseStagingBuffer(Int(entry.key))
            }
            return true
        }
    }

    /// Drops staged prefetches whose step is over, unused (`admit=buffer`, AdapMoE's `release()`).
    func discardUnusedPrefetches() {
        guard !prefetchBufferKeys.isEmpty else { return }
        prefetchBufferKeys.removeAll { k in
            let key = Int(k)
            guard prefetchTargetStep[key] <= currentStep else { return false }
            inPrefetchBuffer[key] = false
            observer?.observe(.prefetchDropped(key: key, time: now))
            transfers.dropStaged(key)
            return true
        }
    }

    /// The GPU waits for the prefetches issued at the previous layer to land (AdapMoE's cudaEvent wait).
    func waitForPreviousPrefetches(from start: Double) -> Double {
        var ready = start
        for (k, generation) in issuedPreviousLayer {
            let key = Int(k)
            while transfers.loadGeneration[key] == generation && transfers.lastPartArrival(key) == .infinity && transfers.processNextEvent() {}
            if transfers.loadGeneration[key] == generation && transfers.lastPartArrival(key) != .infinity { ready = max(ready, transfers.lastPartArrival(key)) }
        }
        metrics.gpuStallSeconds += ready - start
        metrics.prefetchWaitSeconds += ready - start
        if let observer, ready > start {
            observer.observe(.stall(start: start, end: ready, layer: currentStep - passIndex * layers, expert: -1, cause: .previousPrefetches))
        }
        return ready
    }

    /// A prefetched expert landed with `admit=cache`: it enters the cache now, evicting by the cache policy.
    func prefetchLanded(_ key: Int) {
        guard inPrefetchBuffer[key] else { return }
        inPrefetchBuffer[key] = false
        if let i = prefetchBufferKeys.firstIndex(of: Int32(key)) { prefetchBufferKeys.remove(at: i) }
        let admission = admit(key, group: cache.group(ofLayer: key / experts), context: AccessContext(time: accessTime))
        if case .admitted = admission { prefetchedUnused[key] = true }
        if !defersStagingRelease(of: key, after: admission, arrived: true) { transfers.releaseLandedStagingBuffer(key) }
    }

    // MARK: PrefetchContext

    public var passTokens: ArraySlice<TokenRecord> { currentPass.validTokens }
    public var passPhase: Phase { currentPass.phase }

    public func isAvailable(layer: Int, expert: Int) -> Bool {
        let key = layer * experts + expert
        return cache.contains(key) || inPrefetchBuffer[key]
    }

    public var freeStagingBuffers: Int { transfers.freeStagingBuffers }

    public func routedExperts(layer: Int) -> [Int32] {
        guard let router = lookaheadRouter, layer >= 0, layer < layers else { return [] }
        let n = router.route(currentPass, layer: layer, observer: nil)
        let experts = (0..<n).map { router.distinct[$0] }
        router.clear(n)
        return experts
    }

    @discardableResult public func prefetch(layer: Int, expert: Int, passesAhead: Int) -> Bool {
        let key = layer * experts + expert
        let step = (passIndex + passesAhead) * layers + layer
        // Not for a step already running or over; not for an expert cached, staged or still arriving.
        guard speculates, layer >= 0, layer < layers, expert >= 0, expert < experts, step > currentStep,
              !cache.contains(key), !inPrefetchBuffer[key], transfers.canStage(key) else { return false }
        inPrefetchBuffer[key] = true
        prefetchTargetStep[key] = step
        prefetchBufferKeys.append(Int32(key))
        metrics.recordPrefetchIssued(layer: layer)
        let generation = transfers.prefetch(key)
        if waitsForPreviousPrefetch { issuedThisLayer.append((Int32(key), generation)) }
        return true
    }
}
