import Foundation

/// Speculative loads of a run: staging buffers, dropped and arrived prefetches, the wait for the previous layer's
/// prefetches, and the `PrefetchContext` the prefetch policies see.
extension Simulation {
    /// Whether `key`'s admission evicted an expert the current layer has still to run from its slot; if so, `key`
    /// keeps its staging buffer until that expert has run (then `releaseDeferredStaging`). An evicted expert that
    /// came by an on-demand load is still in its load buffer and needs nothing kept.
    func defersStagingRelease(of key: Int, after admission: Admission, arrived: Bool) -> Bool {
        guard case let .admitted(evicted?) = admission, awaitingCompute[evicted], !holdsLoadBuffer[evicted] else { return false }
        deferredStagingReleases.append((Int32(evicted), Int32(key), arrived))
        return true
    }

    /// `victim` has run: staging buffers kept for its slot are given back.
    func releaseDeferredStaging(after victim: Int) {
        deferredStagingReleases.removeAll { entry in
            guard Int(entry.victim) == victim else { return false }
            if entry.arrived {
                stagingBuffersInUse -= 1
                observer?.observe(.stagingBufferReleased(key: Int(entry.key), time: now))
            } else {
                releaseStagingBuffer(Int(entry.key))
            }
            return true
        }
    }

    /// Gives a prefetch staging buffer back now if its expert has landed, else when it lands.
    func releaseStagingBuffer(_ key: Int) {
        observer?.observe(.stagingBufferReleased(key: key, time: now))
        if partArrival[key * parts + parts - 1] <= now {
            stagingBuffersInUse -= 1
        } else {
            stagingReleasePending[key] = loadGeneration[key]
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
            dropStaged(key)
            return true
        }
    }

    /// Gives back a dropped prefetch's staging buffer; on a priority link its transfers that have not started are
    /// cancelled first (the buffer is free at once when its last part never starts).
    func dropStaged(_ key: Int) {
        if cancelsDroppedPrefetches {
            let generation = loadGeneration[key]
            let removed = h2d.cancelQueued { $0.key == Int32(key) && $0.generation == generation && $0.cause == .prefetch && !$0.toHost }
            if let observer { for t in removed { observer.observe(.transferCancelled(transfer: t, time: now)) } }
            if !removed.isEmpty {
                metrics.recordPrefetchCancelled(layer: key / experts, bytes: Double(removed.reduce(0) { $0 + $1.bytes }))
            }
            // Parts start in order, so when the last one was cancelled nothing more will land for this load.
            if removed.contains(where: { Int($0.part) == parts - 1 }) {
                stagingBuffersInUse -= 1
                observer?.observe(.stagingBufferReleased(key: key, time: now))
                loadGeneration[key] &+= 1
                for p in 0..<parts { partArrival[key * parts + p] = 0 }
                return
            }
        }
        releaseStagingBuffer(key)
    }

    /// The GPU waits for the prefetches issued at the previous layer to land (AdapMoE's cudaEvent wait).
    func waitForPreviousPrefetches(from start: Double) -> Double {
        var ready = start
        for (k, generation) in issuedPreviousLayer {
            let key = Int(k)
            let last = key * parts + parts - 1
            while loadGeneration[key] == generation && partArrival[last] == .infinity && !events.isEmpty { processNextEvent() }
            if loadGeneration[key] == generation && partArrival[last] != .infinity { ready = max(ready, partArrival[last]) }
        }
        metrics.gpuStallSeconds += ready - start
        metrics.prefetchWaitSeconds += ready - start
        if let observer, ready > start {
            observer.observe(.stall(start: start, end: ready, layer: currentStep - passIndex * layers, expert: -1, cause: .previousPrefetches))
        }
        return ready
    }

    /// A prefetched expert landed with `admit=cache`: it enters the cache now, evicting by the cache policy.
    func insertArrivedPrefetch(_ key: Int) {
        inPrefetchBuffer[key] = false
        if let i = prefetchBufferKeys.firstIndex(of: Int32(key)) { prefetchBufferKeys.remove(at: i) }
        let admission = admit(key, group: cache.group(ofLayer: key / experts), context: AccessContext(time: accessTime))
        if case .admitted = admission { prefetchedUnused[key] = true }
        if !defersStagingRelease(of: key, after: admission, arrived: true) {
            stagingBuffersInUse -= 1
            observer?.observe(.stagingBufferReleased(key: key, time: now))
        }
    }

    // MARK: PrefetchContext

    public var passTokens: ArraySlice<TokenRecord> { currentPass.validTokens }
    public var passPhase: Phase { currentPass.phase }

    public func isAvailable(layer: Int, expert: Int) -> Bool {
        let key = layer * experts + expert
        return cache.contains(key) || inPrefetchBuffer[key]
    }

    public var freeStagingBuffers: Int { prefetchBufferSlots - stagingBuffersInUse }

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
              stagingBuffersInUse < prefetchBufferSlots, !cache.contains(key), !inPrefetchBuffer[key],
              stagingReleasePending[key] == Simulation.noPendingRelease, partArrival[key * parts + parts - 1] != .infinity else { return false }
        stagingBuffersInUse += 1
        inPrefetchBuffer[key] = true
        prefetchTargetStep[key] = step
        prefetchBufferKeys.append(Int32(key))
        metrics.recordPrefetchIssued(layer: layer)
        load(key, cause: .prefetch)
        if waitsForPreviousPrefetch { issuedThisLayer.append((Int32(key), loadGeneration[key])) }
        return true
    }
}
