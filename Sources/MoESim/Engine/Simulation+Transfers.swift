import Foundation

/// The transfer manager of a run: swaps (admission, write-back in the runtime's order, a refill waiting for its
/// slot's write-back), loads and their buffers, and the copy engines driven by the event queue, with the link's rate
/// re-divided whenever a transfer starts or ends (`LinkModel`, `TransferChannel`). State lives in the run
/// (`Simulation`); the per-layer executor calls in here and learns of arrivals through `partArrival`.
extension Simulation {
    /// Starts an on-demand load of `key` into a load buffer, or queues it until one is free.
    func loadOnDemand(_ key: Int) {
        for p in 0..<parts { partArrival[key * parts + p] = .infinity }
        if loadBuffersInUse < loadBufferSlots {
            loadBuffersInUse += 1
            holdsLoadBuffer[key] = true
            load(key, cause: .onDemand)
        } else {
            loadsWaitingForBuffer.append(Int32(key))
        }
    }

    /// Inserts `key` into its cache group; an eviction writes the evicted expert back when the runtime swaps. With
    /// `forLoad` (an on-demand load of `key` follows) the swap's two copies go in the runtime's order, and a refill
    /// that reuses the evicted expert's memory waits for its write-back.
    @discardableResult func admit(_ key: Int, group: EvictionPolicy, context: AccessContext, forLoad: Bool = false) -> Admission {
        let admission = group.insert(key, context: context)
        if let observer {
            if case let .admitted(evicted) = admission {
                observer.observe(.cacheInserted(key: key, evicted: evicted, time: now))
            } else {
                observer.observe(.cacheBypassed(key: key, time: now))
            }
        }
        if case let .admitted(evicted?) = admission {
            // An expert a prefetch inserted and nobody used counts as wasted once issued minus used (no flag left behind).
            if insertsPrefetches { prefetchedUnused[evicted] = false }
            if writeBack {
                // On separate copy engines the order of a swap's two copies cannot change a result (the link re-divides
                // its bandwidth at every start and end; RuntimeSemanticsTests), so the write-back goes first there: the
                // load then starts at the shared rate instead of being re-rated an instant later (one event fewer).
                if forLoad && swapOrder == .loadFirst && d2h === h2d {
                    pendingWriteBack = Int32(evicted)
                } else {
                    writeBackExpert(evicted)
                }
                if forLoad && refillWaitsForWriteBack { refillAfterWriteBackOf[key] = Int32(evicted) }
            }
        }
        return admission
    }

    /// Queues the write-back of an evicted expert on the device-to-host engine.
    func writeBackExpert(_ evicted: Int) {
        if refillWaitsForWriteBack { writeBacksOutstanding[evicted] += 1 }
        enqueue(Transfer(key: Int32(evicted), part: 0, bytes: costs.expertBytes(layer: evicted / experts), cause: .writeBack, toHost: true), on: d2h)
    }

    /// A load-first swap's write-back goes out once the load it belongs to has been queued (or right away when the
    /// admission was not for an on-demand load).
    func flushPendingWriteBack() {
        guard pendingWriteBack >= 0 else { return }
        let evicted = Int(pendingWriteBack)
        pendingWriteBack = -1
        writeBackExpert(evicted)
    }

    func load(_ key: Int, cause: TransferCause) {
        loadGeneration[key] &+= 1
        observer?.observe(.loadIssued(key: key, cause: cause, generation: loadGeneration[key], time: now))
        if hasLowPrecision && cause == .onDemand && lowPrecisionLoad[key], let form = lowPrecisionForm {
            for p in 0..<parts {
                partArrival[key * parts + p] = .infinity
                enqueue(Transfer(key: Int32(key), part: Int8(p), bytes: form.partBytes[p], cause: cause, toHost: false,
                                 generation: loadGeneration[key]), on: h2d)
            }
            return
        }
        var afterWriteBackOf: Int32 = -1
        if refillWaitsForWriteBack && cause == .onDemand {
            afterWriteBackOf = refillAfterWriteBackOf[key]
            refillAfterWriteBackOf[key] = -1
        }
        let partBytes = costs.expertPartBytes(layer: key / experts)
        for p in 0..<parts {
            partArrival[key * parts + p] = .infinity
            enqueue(Transfer(key: Int32(key), part: Int8(p), bytes: partBytes[p], cause: cause, toHost: false,
                             speculative: cause == .prefetch, generation: loadGeneration[key], afterWriteBackOf: afterWriteBackOf), on: h2d)
        }
    }

    // MARK: Events and channels

    /// Processes every event up to time `t`, then moves the clock to `t`.
    func advance(to t: Double) {
        while let next = events.nextTime, next <= t { processNextEvent() }
        if t > now { now = t }
    }

    func processNextEvent() {
        guard let event = events.pop() else { return }
        observer?.observe(.eventProcessed(due: event.time, clock: now))
        if event.time > now { now = event.time }
        if event.kind == .bufferReleased {
            loadBuffersInUse -= 1
            if loadsWaitingHead < loadsWaitingForBuffer.count {
                let key = Int(loadsWaitingForBuffer[loadsWaitingHead])
                loadsWaitingHead += 1
                if loadsWaitingHead == loadsWaitingForBuffer.count {
                    loadsWaitingForBuffer.removeAll(keepingCapacity: true)
                    loadsWaitingHead = 0
                }
                loadBuffersInUse += 1
                holdsLoadBuffer[key] = true
                load(key, cause: .onDemand)
            }
            return
        }
        let index = Int(event.channel)
        let channel = channels[index]
        // A preempted or re-rated transfer's old completion is stale.
        if (preempts || reratesH2D) && !channel.isCurrent(epoch: event.epoch, time: event.time) { return }
        if speculates { accountContention(channel) }
        let transfer = channel.finish()
        observer?.observe(.transferEnded(channel: index, transfer: transfer, time: event.time, bytesMoved: transfer.bytes, preempted: false))
        if transfer.toHost && refillWaitsForWriteBack {
            writeBacksOutstanding[Int(transfer.key)] -= 1
            if h2d !== channel && h2d.isIdle { startNext(on: h2d, index: 0) }
        }
        let key = Int(transfer.key)
        if !transfer.toHost && transfer.generation == loadGeneration[key] {
            partArrival[key * parts + Int(transfer.part)] = event.time
        }
        if !transfer.toHost && Int(transfer.part) == parts - 1 {
            if stagingReleasePending[key] == transfer.generation {
                stagingReleasePending[key] = Simulation.noPendingRelease
                stagingBuffersInUse -= 1
            } else if insertsPrefetches && transfer.cause == .prefetch && transfer.generation == loadGeneration[key] && inPrefetchBuffer[key] {
                insertArrivedPrefetch(key)
            }
        }
        startNext(on: channel, index: index)
        if channel === d2h && reratesH2D { rerateH2D() }
    }

    /// The D2H engine started or finished a transfer: the H2D transfer in flight drains at the rate the link now
    /// gives it, from this instant (links whose directions share bandwidth, nvbandwidth #53, peers.md §3.2).
    func rerateH2D() {
        guard let end = h2d.rerate(at: now, bytesPerSecond: currentH2DRate) else { return }
        if let observer, let active = h2d.active { observer.observe(.transferRerated(channel: 0, transfer: active, time: now, end: end)) }
        events.schedule(at: end, kind: .transferDone, channel: 0, epoch: h2d.epoch)
    }

    /// The H2D rate now: slower while a D2H transfer runs on a link whose directions share bandwidth.
    var currentH2DRate: Double { link.h2dRate(d2hBusy: reratesH2D && !d2h.isIdle) }

    func enqueue(_ transfer: Transfer, on channel: TransferChannel) {
        let index = channel === h2d ? 0 : 1
        if speculates { accountContention(channel) }
        channel.append(transfer)
        if channel.isIdle {
            startNext(on: channel, index: index)
        } else if preempts && !transfer.speculative {
            preemptIfNeeded(channel, index: index)
        }
    }

    /// On a `preempt` link, an on-demand transfer waiting behind a speculative one in flight suspends it.
    func preemptIfNeeded(_ channel: TransferChannel, index: Int) {
        guard preempts, channel.shouldPreempt else { return }
        accountContention(channel)
        let suspended = channel.active!
        let bytesBefore = channel.bytes(suspended.cause)
        if channel.preempt(at: now) {
            if let observer {
                // The channel takes back the bytes it will move again when the rest resumes.
                let remaining = Int((bytesBefore - channel.bytes(suspended.cause)).rounded())
                observer.observe(.transferEnded(channel: index, transfer: suspended, time: now, bytesMoved: suspended.bytes - remaining, preempted: true))
            }
            metrics.preemptions += 1
            startNext(on: channel, index: index)
        }
    }

    func startNext(on channel: TransferChannel, index: Int) {
        guard channel.isIdle else { return }
        if speculates { accountContention(channel) }
        // A refill of an evicted expert's memory waits, at the head of its queue, for that memory's write-back.
        if refillWaitsForWriteBack, let head = channel.peek(), head.afterWriteBackOf >= 0, writeBacksOutstanding[Int(head.afterWriteBackOf)] > 0 { return }
        guard let transfer = channel.dequeue() else { return }
        // Simultaneous traffic the other way slows H2D on links that contend; the rate is re-divided whenever the other
        // direction starts or finishes (`rerateH2D`), so no rate is fixed for a transfer's whole length.
        let rate = transfer.toHost ? link.d2hBytesPerSecond : currentH2DRate
        let end = channel.begin(transfer, at: now, setup: link.setupSeconds, bytesPerSecond: rate)
        observer?.observe(.transferStarted(channel: index, transfer: transfer, start: now, end: end))
        events.schedule(at: end, kind: .transferDone, channel: Int32(index), epoch: channel.epoch)
        if channel === d2h && reratesH2D { rerateH2D() }
    }

    /// Link contention caused by speculation: time during which an on-demand load waited in a channel's queue while
    /// that channel moved a speculative transfer, charged to the layer of the speculative expert. Called before every
    /// change of a channel's queue or transfer in flight.
    @inline(__always) func accountContention(_ channel: TransferChannel) {
        if channel.onDemandWaiting > 0, let active = channel.active, active.speculative, now > channel.contentionMark {
            metrics.recordContention(layer: Int(active.key) / experts, seconds: now - channel.contentionMark)
        }
        channel.contentionMark = now
    }

    /// Lets outstanding transfers finish (their time counts in the makespan).
    func finish() {
        metrics.finishRequests()
        while !events.isEmpty { processNextEvent() }
        metrics.makespanSeconds = max(lastPassEnd, now)
    }
}
