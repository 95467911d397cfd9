/// Why bytes crossed the link.
public enum TransferCause: UInt8, Sendable, CaseIterable {
    case onDemand
    case prefetch
    case writeBack

    public var name: String {
        switch self {
        case .onDemand: return "on-demand"
        case .prefetch: return "prefetch"
        case .writeBack: return "write-back"
        }
    }
}

/// How a copy engine orders its queue (`--prefetch ...,link=`).
public enum LinkDiscipline: String, Sendable, CaseIterable {
    /// One FIFO queue for everything: a single CUDA copy stream (AdapMoE's and mixtral-offloading's code).
    case fifo
    /// Two queues: a waiting on-demand load (or write-back) always starts before a waiting speculative transfer, so a
    /// queued speculative transfer yields to any on-demand load issued before it starts. A transfer in flight runs to
    /// its end. Speculative transfers whose prefetch was dropped before starting are cancelled (a software queue, as
    /// ProMoE's transfer worker; a CUDA stream cannot do that).
    case lowPriority = "low-priority"
    /// As `lowPriority`, and an on-demand load issued while a speculative transfer is in flight suspends it: the bytes
    /// already moved stay moved, the rest goes back to the head of the speculative queue and resumes (paying the setup
    /// latency again) when no on-demand load waits. The continuous limit of ProMoE's chunked preemption (peers.md §1.8).
    case preempt
}

/// One copy of (part of) an expert.
public struct Transfer: Sendable {
    public var key: Int32
    /// Which sub-matrix of the expert (0 when whole experts travel as one transfer).
    public var part: Int8
    public var bytes: Int
    public var cause: TransferCause
    /// True for device-to-host.
    public var toHost: Bool
    /// A prefetch nobody has asked for yet: it queues behind on-demand loads on a priority link, may be preempted,
    /// and its time on the link counts as contention when on-demand loads wait. Cleared when the expert is used.
    public var speculative: Bool = false
    /// Which load of this expert it belongs to: a completion of an older load (a dropped prefetch still in
    /// flight when the expert was loaded again) must not mark the new one arrived.
    public var generation: UInt32 = 0
    /// The key of an evicted expert whose write-back must leave the device before this load may start (the load
    /// reuses that expert's memory: `RuntimeProfile.slotReuseWaitsForWriteBack`); -1 when it waits for none.
    public var afterWriteBackOf: Int32 = -1
}

/// A queue of transfers: a ring buffer that grows when full, with the rare operations a priority link needs
/// (put back at the head, remove or update by predicate).
struct TransferRing {
    private var ring: [Transfer] = []
    private var head = 0
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    /// Capacities are powers of two (8, 16, ...), so an index wraps with a mask instead of a division.
    private mutating func grow() {
        // Unroll the ring so the oldest is first; fill the spare slots with a copy (never read).
        var grown: [Transfer] = []
        let capacity = max(8, ring.count * 2)
        grown.reserveCapacity(capacity)
        for i in 0..<count { grown.append(ring[(head + i) & (ring.count - 1)]) }
        let filler = count > 0 ? grown[0] : Transfer(key: 0, part: 0, bytes: 0, cause: .onDemand, toHost: false)
        while grown.count < capacity { grown.append(filler) }
        ring = grown
        head = 0
    }

    mutating func append(_ transfer: Transfer) {
        if count == ring.count { grow() }
        ring[(head + count) & (ring.count - 1)] = transfer
        count += 1
    }

    /// Puts a transfer back at the head (a preempted one resumes first).
    mutating func prepend(_ transfer: Transfer) {
        if count == ring.count { grow() }
        head = (head + ring.count - 1) & (ring.count - 1)
        ring[head] = transfer
        count += 1
    }

    var first: Transfer? { count > 0 ? ring[head] : nil }

    mutating func popFirst() -> Transfer? {
        guard count > 0 else { return nil }
        let t = ring[head]
        head = (head + 1) & (ring.count - 1)
        count -= 1
        return t
    }

    /// Removes every transfer matching `predicate`, keeping the order of the rest; returns the removed ones.
    mutating func removeAll(where predicate: (Transfer) -> Bool) -> [Transfer] {
        var removed: [Transfer] = []
        var kept: [Transfer] = []
        for i in 0..<count {
            let t = ring[(head + i) & (ring.count - 1)]
            if predicate(t) { removed.append(t) } else { kept.append(t) }
        }
        guard !removed.isEmpty else { return [] }
        for i in 0..<kept.count { ring[(head + i) & (ring.count - 1)] = kept[i] }
        count = kept.count
        return removed
    }

    /// Calls `body` with each queued transfer, oldest first.
    func forEach(_ body: (Transfer) -> Void) {
        for i in 0..<count { body(ring[(head + i) & (ring.count - 1)]) }
    }

    /// Applies `change` to every queued transfer matching `predicate`.
    mutating func update(where predicate: (Transfer) -> Bool, _ change: (inout Transfer) -> Void) {
        for i in 0..<count where predicate(ring[(head + i) & (ring.count - 1)]) { change(&ring[(head + i) & (ring.count - 1)]) }
    }
}

/// One DMA engine (a link direction's copy engine): a server that moves one transfer at a time, paying a fixed setup
/// latency and then draining the transfer's bytes at the rate the link gives this direction. That rate can change
/// while the transfer runs (`rerate`: traffic starting or ending in the other direction of a link whose directions
/// share bandwidth), so the engine keeps the bytes left rather than a fixed end. FIFO by default; with a priority
/// discipline, speculative transfers wait in a second queue behind on-demand ones. Completion is signalled through
/// the event queue; every change of the end time bumps `epoch`, so a completion scheduled before it is stale.
public final class TransferChannel {
    public let name: String
    public let discipline: LinkDiscipline
    /// On-demand loads and write-backs (everything, under FIFO).
    private var urgent = TransferRing()
    /// Speculative transfers (priority disciplines only).
    private var speculativeQueue = TransferRing()
    public private(set) var active: Transfer?
    /// When the active transfer started and ends, and the setup latency it pays (for preemption).
    private(set) var activeStart = 0.0
    private(set) var activeEnd = 0.0
    private var activeSetup = 0.0
    /// Bytes still to drain as of `activeSince`, at `activeRate` bytes/s from max(`activeSince`, setup end).
    private var activeRemainingBytes = 0.0
    private var activeSince = 0.0
    public private(set) var activeRate = 0.0
    /// Bumped when an active transfer is preempted, so its completion event is recognised as stale.
    private(set) var epoch: UInt16 = 0
    public private(set) var busySeconds = 0.0
    private let bytes = FixedArray<Double>(repeating: 0, count: TransferCause.allCases.count)
    /// On-demand loads waiting in the queue (for the contention metric).
    private(set) var onDemandWaiting = 0
    /// When the contention metric last looked at this channel.
    var contentionMark = 0.0

    public init(name: String, discipline: LinkDiscipline = .fifo) {
        self.name = name
        self.discipline = discipline
    }

    public var isIdle: Bool { active == nil }
    public var bytesByCause: [Double] { bytes.array }
    @inline(__always) public func bytes(_ cause: TransferCause) -> Double { bytes[Int(cause.rawValue)] }
    /// Transfers waiting (not started).
    public var waiting: Int { urgent.count + speculativeQueue.count }

    func append(_ transfer: Transfer) {
        if transfer.cause == .onDemand { onDemandWaiting += 1 }
        if transfer.speculative && discipline != .fifo {
            speculativeQueue.append(transfer)
        } else {
            urgent.append(transfer)
        }
    }

    /// Takes the next queued transfer, if any: on-demand ones first under a priority discipline.
    func dequeue() -> Transfer? {
        if let t = urgent.popFirst() {
            if t.cause == .onDemand { onDemandWaiting -= 1 }
            return t
        }
        guard let t = speculativeQueue.popFirst() else { return nil }
        if t.cause == .onDemand { onDemandWaiting -= 1 }
        return t
    }

    /// The transfer `dequeue` would take next, without taking it.
    func peek() -> Transfer? {
        if let t = urgent.first { return t }
        return speculativeQueue.first
    }

    /// Starts `transfer` at `time`: `setup` seconds of latency, then its bytes at `bytesPerSecond`. Returns its end.
    func begin(_ transfer: Transfer, at time: Double, setup: Double, bytesPerSecond: Double) -> Double {
        active = transfer
        activeStart = time
        activeSetup = setup
        activeRate = bytesPerSecond
        activeRemainingBytes = Double(transfer.bytes)
        activeSince = time
        activeEnd = time + setup + activeRemainingBytes / bytesPerSecond
        busySeconds += activeEnd - time
        bytes[Int(transfer.cause.rawValue)] += Double(transfer.bytes)
        return activeEnd
    }

    /// Bytes of the active transfer not yet moved at `time`.
    private func remainingBytes(at time: Double) -> Double {
        let drainingFrom = max(activeSince, activeStart + activeSetup)
        return max(0, activeRemainingBytes - max(0, time - drainingFrom) * activeRate)
    }

    /// The link's rate for this direction changed at `time`: the active transfer's remaining bytes drain at
    /// `bytesPerSecond` from now on (the fluid model). Returns the new end, or nil when nothing changes.
    func rerate(at time: Double, bytesPerSecond: Double) -> Double? {
        guard active != nil, bytesPerSecond != activeRate, time < activeEnd else { return nil }
        activeRemainingBytes = remainingBytes(at: time)
        activeSince = max(time, activeStart + activeSetup)
        activeRate = bytesPerSecond
        let end = activeSince + activeRemainingBytes / bytesPerSecond
        busySeconds += end - activeEnd
        activeEnd = end
        epoch &+= 1
        return end
    }

    func finish() -> Transfer {
        let t = active!
        active = nil
        return t
    }

    /// Whether a completion event at `time` from `epoch` is for the transfer in flight (not for a preempted one).
    @inline(__always) func isCurrent(epoch e: UInt16, time: Double) -> Bool {
        active != nil && e == epoch && time == activeEnd
    }

    /// Whether an on-demand transfer should suspend the active one now.
    var shouldPreempt: Bool {
        discipline == .preempt && active?.speculative == true && urgent.count > 0
    }

    /// Suspends the active (speculative) transfer at `time`: the bytes not yet moved go back to the head of the
    /// speculative queue. Returns false (and changes nothing) when nothing would be left to move.
    func preempt(at time: Double) -> Bool {
        guard var t = active else { return false }
        let remaining = Int(remainingBytes(at: time).rounded(.up))
        guard remaining > 0, time < activeEnd else { return false }
        busySeconds -= activeEnd - time
        bytes[Int(t.cause.rawValue)] -= Double(remaining)
        t.bytes = remaining
        speculativeQueue.prepend(t)
        if t.cause == .onDemand { onDemandWaiting += 1 }
        active = nil
        epoch &+= 1
        return true
    }

    /// When an on-demand transfer queued at `time` would start: after the transfer in flight (unless a `preempt` link
    /// would suspend it, being speculative) and every transfer queued ahead of it (`seconds` each). Speculative
    /// transfers on a priority link wait behind it.
    func freeForOnDemand(at time: Double, seconds: (Transfer) -> Double) -> Double {
        var free = time
        if let active, !(discipline == .preempt && active.speculative) { free = max(time, activeEnd) }
        urgent.forEach { free += seconds($0) }
        return free
    }

    /// Removes queued transfers matching `predicate` (cancelled before they started) and returns them.
    func cancelQueued(where predicate: (Transfer) -> Bool) -> [Transfer] {
        let removed = speculativeQueue.removeAll(where: predicate) + urgent.removeAll(where: predicate)
        for t in removed where t.cause == .onDemand { onDemandWaiting -= 1 }
        return removed
    }

    /// A speculative load became needed: its transfers stop being speculative (in flight and queued); under a priority
    /// discipline the queued ones move to the on-demand queue. Returns whether any queued transfer moved.
    @discardableResult func promote(key: Int32, generation: UInt32) -> Bool {
        let matches = { (t: Transfer) in t.key == key && t.generation == generation && t.speculative && !t.toHost }
        if let a = active, matches(a) { active!.speculative = false }
        if discipline == .fifo {
            urgent.update(where: matches) { $0.speculative = false }
            return false
        }
        var moved = speculativeQueue.removeAll(where: matches)
        for i in moved.indices { moved[i].speculative = false; urgent.append(moved[i]) }
        return !moved.isEmpty
    }
}
