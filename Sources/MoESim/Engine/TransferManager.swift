import Foundation

/// Told when a speculative load has landed whole (`admit=cache` prefetches enter the cache then).
protocol PrefetchArrivalHandler: AnyObject {
    func prefetchLanded(_ key: Int)
}

/// The transfer manager of a run: the link and its copy engines (`LinkModel`, `TransferChannel`), the clock and the
/// run's one event heap, the device buffers transfers need (load buffers, prefetch staging buffers), load
/// generations, and swaps (a write-back in the runtime's order; a refill waiting for its slot's write-back).
///
/// The executor asks it to load, write back, wait and advance, and reads `partArrival` to learn when weights are on
/// the device; it never touches a channel. A link whose directions share bandwidth re-divides it whenever a
/// transfer starts or ends (the H2D transfer in flight is re-rated from that instant). A second device, an NVLink
/// peer or a storage -> host -> device hierarchy is a change here (more channels, a route per key), not in the
/// executor.
final class TransferManager {
    // Clock and events.
    private(set) var now = 0.0
    private var events = EventQueue()

    let link: LinkModel
    let channels: [TransferChannel]
    let h2d: TransferChannel
    let d2h: TransferChannel
    /// The H2D engine's rate is re-divided whenever the D2H engine starts or finishes a transfer.
    let reratesH2D: Bool
    let costs: CostModel
    let experts: Int
    /// Transfer parts per expert (3 with sub-matrix pipelining, else 1).
    let parts: Int

    // What the runtime and policies asked of the copies, resolved once.
    let writeBack: Bool
    let swapOrder: SwapOrder
    let refillWaitsForWriteBack: Bool
    let speculates: Bool
    let preempts: Bool
    let insertsPrefetches: Bool
    let cancelsDroppedPrefetches: Bool
    let lowPrecisionForm: ExpertForm?
    let hasLowPrecision: Bool

    /// Watches the copies (`--timeline`, `--check`); the run sets it.
    var observer: SimulationObserver?
    /// Told of landed `admit=cache` prefetches (the run).
    unowned(unsafe) var arrivals: PrefetchArrivalHandler?

    /// When each transfer part of an expert's weights is on the device (`infinity` while in flight), by
    /// `key * parts + part`.
    let partArrival: FixedArray<Double>
    /// The latest load of each expert (see `Transfer.generation`).
    let loadGeneration: FixedArray<UInt32>
    /// The current on-demand load of each key is a low-precision copy (only with a low-precision miss policy).
    let lowPrecisionLoad: FixedArray<Bool>

    // Load buffers: an on-demand load holds one from issue until its expert has been computed; at most
    // `loadBufferSlots` at once (the runtime's buffer pool). Loads beyond that wait, in order.
    let loadBufferSlots: Int
    private var loadBuffersInUse = 0
    private var loadsWaitingForBuffer: [Int32] = []
    private var loadsWaitingHead = 0
    let holdsLoadBuffer: FixedArray<Bool>

    // Prefetch staging buffers: taken at issue, given back once the transfer has landed and the expert was used or
    // dropped. `stagingReleasePending[key]` is the generation whose arrival frees it.
    let stagingBufferSlots: Int
    private(set) var stagingBuffersInUse = 0
    private let stagingReleasePending: FixedArray<UInt32>
    private static let noPendingRelease = UInt32.max

    // Swaps.
    /// A load-first swap's evicted key, written back once its load is queued (-1: none pending).
    private var pendingWriteBack: Int32 = -1
    /// Write-backs of each key queued or in flight (a refill of its memory waits for them).
    private let writeBacksOutstanding: FixedArray<UInt16>
    /// For each key with an on-demand load not yet issued: the evicted key whose write-back that load waits for (-1: none).
    private let refillAfterWriteBackOf: FixedArray<Int32>

    // What the copies did that the report shows.
    private(set) var preemptions = 0
    /// Link time speculative transfers held on-demand loads back, and bytes of cancelled prefetches, per layer.
    private(set) var contentionSecondsByLayer: [Double]
    private(set) var cancelledPrefetchBytesByLayer: [Double]

    init(link: LinkModel, runtime: RuntimeProfile, costs: CostModel, layers: Int, experts: Int, prefetch: PrefetchEngineOptions?,
         stagingBuffers: Int, lowPrecisionForm: ExpertForm?) {
        self.link = link
        self.costs = costs
        self.experts = experts
        parts = costs.expertPartBytes.count
        let singleStream = runtime.streamLayout == .single
        speculates = prefetch != nil
        insertsPrefetches = prefetch?.admission == .cache
        cancelsDroppedPrefetches = speculates && prefetch?.link != .fifo && !insertsPrefetches
        preempts = prefetch?.link == .preempt
        swapOrder = runtime.swapCopyOrder
        writeBack = !link.isStorage && runtime.writeBackOnEvict.value
        h2d = TransferChannel(name: link.isStorage ? "storage read" : "H2D", discipline: prefetch?.link ?? .fifo)
        // One stream orders both directions' copies on one queue, whatever the copy engines could do.
        d2h = link.copyEngines >= 2 && !singleStream ? TransferChannel(name: "D2H") : h2d
        channels = d2h === h2d ? [h2d] : [h2d, d2h]
        reratesH2D = d2h !== h2d && link.h2dDependsOnD2H
        // On one queue a load cannot wait for a write-back queued behind it: the runtime must issue the write-back first.
        refillWaitsForWriteBack = writeBack && runtime.refillWaitsForWriteBack
        self.lowPrecisionForm = lowPrecisionForm
        hasLowPrecision = lowPrecisionForm != nil

        let keys = layers * experts
        partArrival = FixedArray(repeating: 0, count: keys * parts)
        loadGeneration = FixedArray(repeating: 0, count: keys)
        lowPrecisionLoad = FixedArray(repeating: false, count: lowPrecisionForm != nil ? keys : 0)
        loadBufferSlots = runtime.maxInFlightTransfers.value
        holdsLoadBuffer = FixedArray(repeating: false, count: keys)
        stagingBufferSlots = stagingBuffers
        stagingReleasePending = FixedArray(repeating: TransferManager.noPendingRelease, count: keys)
        writeBacksOutstanding = FixedArray(repeating: 0, count: refillWaitsForWriteBack ? keys : 0)
        refillAfterWriteBackOf = FixedArray(repeating: -1, count: refillWaitsForWriteBack ? keys : 0)
        contentionSecondsByLayer = Array(repeating: 0, count: layers)
        cancelledPrefetchBytesByLayer = Array(repeating: 0, count: layers)
    }

    var linkName: String { link.name }
    var hasEvents: Bool { !events.isEmpty }

    /// When the last part of `key`'s current load lands (`infinity` while in flight; a past time once there).
    @inline(__always) func lastPartArrival(_ key: Int) -> Double { partArrival[key * parts + parts - 1] }

    // MARK: Loads

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
        flushPendingWriteBack()
    }

    /// `key` has been computed at `time`: its load buffer, if it holds one, is free from then.
    func computed(_ key: Int, at time: Double) {
        guard holdsLoadBuffer[key] else { return }
        observer?.observe(.loadBufferReleased(key: key, time: time))
        holdsLoadBuffer[key] = false
        events.schedule(at: time, kind: .bufferReleased, channel: -1)
    }

    /// Queues `key`'s parts on the H2D engine under a new generation.
    private func load(_ key: Int, cause: TransferCause) {
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

    /// A staged expert is needed now: its load stops being speculative (and moves to the on-demand queue on a
    /// priority link, possibly preempting a speculative transfer in flight).
    func promote(_ key: Int) {
        accountContention(h2d)
        if h2d.promote(key: Int32(key), generation: loadGeneration[key]) { preemptIfNeeded(h2d, index: 0) }
    }

    // MARK: Swaps

    /// `evicted` left the cache. When the runtime swaps, its weights are written back; with `refill` (the key whose
    /// on-demand load follows and reuses that memory) the swap's two copies go in the runtime's order, and the refill
    /// waits for the write-back where the runtime says so.
    func evicted(_ evicted: Int, refill: Int?) {
        guard writeBack else { return }
        // On separate copy engines the order of a swap's two copies cannot change a result (the link re-divides its
        // bandwidth at every start and end; RuntimeSemanticsTests), so the write-back goes first there: the load then
        // starts at the shared rate instead of being re-rated an instant later (one event fewer).
        if refill != nil && swapOrder == .loadFirst && d2h === h2d {
            pendingWriteBack = Int32(evicted)
        } else {
            writeBackExpert(evicted)
        }
        if let refill, refillWaitsForWriteBack { refillAfterWriteBackOf[refill] = Int32(evicted) }
    }

    /// Queues the write-back of an evicted expert on the device-to-host engine.
    private func writeBackExpert(_ evicted: Int) {
        if refillWaitsForWriteBack { writeBacksOutstanding[evicted] += 1 }
        enqueue(Transfer(key: Int32(evicted), part: 0, bytes: costs.expertBytes(layer: evicted / experts), cause: .writeBack, toHost: true), on: d2h)
    }

    /// A load-first swap's write-back goes out once the load it belongs to has been queued.
    private func flushPendingWriteBack() {
        guard pendingWriteBack >= 0 else { return }
        let evicted = Int(pendingWriteBack)
        pendingWriteBack = -1
        writeBackExpert(evicted)
    }

    // MARK: Prefetch staging

    var freeStagingBuffers: Int { stagingBufferSlots - stagingBuffersInUse }

    /// Whether a speculative load of `key` may be issued: a staging buffer is free, and no earlier load of `key` is
    /// still arriving or still holds a staging buffer.
    func canStage(_ key: Int) -> Bool {
        stagingBuffersInUse < stagingBufferSlots && stagingReleasePending[key] == TransferManager.noPendingRelease
            && lastPartArrival(key) != .infinity
    }

    /// Takes a staging buffer and issues the speculative load of `key`; returns its generation.
    func prefetch(_ key: Int) -> UInt32 {
        stagingBuffersInUse += 1
        load(key, cause: .prefetch)
        return loadGeneration[key]
    }

    /// Gives a staging buffer back now if `key` has landed, else when it lands.
    func releaseStagingBuffer(_ key: Int) {
        observer?.observe(.stagingBufferReleased(key: key, time: now))
        if lastPartArrival(key) <= now {
            stagingBuffersInUse -= 1
        } else {
            stagingReleasePending[key] = loadGeneration[key]
        }
    }

    /// Gives back the staging buffer of `key`, which has landed already.
    func releaseLandedStagingBuffer(_ key: Int) {
        stagingBuffersInUse -= 1
        observer?.observe(.stagingBufferReleased(key: key, time: now))
    }

    /// A prefetch of `key` was dropped unused: its staging buffer goes back; on a priority link its transfers that
    /// have not started are cancelled first (the buffer is free at once when its last part never starts).
    func dropStaged(_ key: Int) {
        if cancelsDroppedPrefetches {
            let generation = loadGeneration[key]
            let removed = h2d.cancelQueued { $0.key == Int32(key) && $0.generation == generation && $0.cause == .prefetch && !$0.toHost }
            if let observer { for t in removed { observer.observe(.transferCancelled(transfer: t, time: now)) } }
            if !removed.isEmpty { cancelledPrefetchBytesByLayer[key / experts] += Double(removed.reduce(0) { $0 + $1.bytes }) }
            // Parts start in order, so when the last one was cancelled nothing more will land for this load.
            if removed.contains(where: { Int($0.part) == parts - 1 }) {
                releaseLandedStagingBuffer(key)
                loadGeneration[key] &+= 1
                for p in 0..<parts { partArrival[key * parts + p] = 0 }
                return
            }
        }
        releaseStagingBuffer(key)
    }

    // MARK: Time

    /// Processes every event up to time `t`, then moves the clock to `t`.
    @inline(__always) func advance(to t: Double) {
        while let next = events.nextTime, next <= t { processNextEvent() }
        if t > now { now = t }
    }

    /// Lets simulated time run to the next event; false when none is left (nothing will ever arrive).
    @discardableResult func processNextEvent() -> Bool {
        guard let event = events.pop() else { return false }
        observer?.observe(.eventProcessed(due: event.time, clock: now))
        if event.time > now { now = event.time }
        if event.kind == .bufferReleased {
            bufferReleased()
            return true
        }
        let index = Int(event.channel)
        let channel = channels[index]
        // A preempted or re-rated transfer's old completion is stale.
        if (preempts || reratesH2D) && !channel.isCurrent(epoch: event.epoch, time: event.time) { return true }
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
                stagingReleasePending[key] = TransferManager.noPendingRelease
                stagingBuffersInUse -= 1
            } else if insertsPrefetches && transfer.cause == .prefetch && transfer.generation == loadGeneration[key] {
                arrivals?.prefetchLanded(key)
            }
        }
        startNext(on: channel, index: index)
        if channel === d2h && reratesH2D { rerateH2D() }
        return true
    }

    /// A load buffer was given back: the oldest load waiting for one is issued.
    private func bufferReleased() {
        loadBuffersInUse -= 1
        guard loadsWaitingHead < loadsWaitingForBuffer.count else { return }
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

    /// Processes events until `key`'s part `part` has landed; returns when it did. Nothing left to deliver it is a
    /// simulator bug (`what` names the waiter).
    @inline(__always) func arrival(of key: Int, part: Int, for what: String) -> Double {
        let index = key * parts + part
        while partArrival[index] == .infinity {
            if !processNextEvent() { preconditionFailure("internal error: the \(what) waits for weights no transfer will deliver") }
        }
        return partArrival[index]
    }

    /// When every copy issued so far has finished (processing their events), or `time` if later. Loads still waiting
    /// for a buffer have not been issued and are not waited for.
    func copiesDone(after time: Double) -> Double {
        var tail = time
        while channels.contains(where: { !$0.isIdle || $0.waiting > 0 }) {
            guard processNextEvent() else { break }
            tail = max(tail, now)
        }
        return tail
    }

    /// Lets outstanding transfers finish.
    func drain() {
        while processNextEvent() {}
    }

    // MARK: Channels

    /// The D2H engine started or finished a transfer: the H2D transfer in flight drains at the rate the link now
    /// gives it, from this instant (links whose directions share bandwidth, nvbandwidth #53, peers.md §3.2).
    private func rerateH2D() {
        guard let end = h2d.rerate(at: now, bytesPerSecond: currentH2DRate) else { return }
        if let observer, let active = h2d.active { observer.observe(.transferRerated(channel: 0, transfer: active, time: now, end: end)) }
        events.schedule(at: end, kind: .transferDone, channel: 0, epoch: h2d.epoch)
    }

    /// The H2D rate now: slower while a D2H transfer runs on a link whose directions share bandwidth.
    private var currentH2DRate: Double { link.h2dRate(d2hBusy: reratesH2D && !d2h.isIdle) }

    private func enqueue(_ transfer: Transfer, on channel: TransferChannel) {
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
    private func preemptIfNeeded(_ channel: TransferChannel, index: Int) {
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
            preemptions += 1
            startNext(on: channel, index: index)
        }
    }

    private func startNext(on channel: TransferChannel, index: Int) {
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
    @inline(__always) private func accountContention(_ channel: TransferChannel) {
        if channel.onDemandWaiting > 0, let active = channel.active, active.speculative, now > channel.contentionMark {
            contentionSecondsByLayer[Int(active.key) / experts] += now - channel.contentionMark
        }
        channel.contentionMark = now
    }

    // MARK: What the miss policies see

    /// Seconds to move `bytes` one way over the link, alone.
    func seconds(bytes: Double, toHost: Bool) -> Double { link.seconds(bytes: bytes, toHost: toHost) }

    /// When an on-demand load issued now would start: after the on-demand work queued on the H2D engine and the
    /// loads waiting for a buffer.
    func onDemandFreeAt(loadSeconds: Double) -> Double {
        let free = h2d.freeForOnDemand(at: now) { self.link.seconds(bytes: Double($0.bytes), toHost: $0.toHost) }
        return free + Double(loadsWaitingForBuffer.count - loadsWaitingHead) * loadSeconds
    }
}
