/// A timestamped happening in the simulation. Ties on time are broken by insertion order, so a run
/// is deterministic no matter how the heap arranges equal times.
public struct Event: Sendable {
    public enum Kind: UInt8, Sendable {
        /// A transfer finished on the channel `channel`.
        case transferDone
        /// A load buffer became free (the expert it held has been computed).
        case bufferReleased
    }

    public var time: Double
    public var sequence: UInt64
    public var kind: Kind
    /// The channel's preemption epoch when a transfer started (`TransferChannel.epoch`): a completion from an
    /// older epoch is stale. Kept in the padding after `kind`, so an event stays 24 bytes.
    public var epoch: UInt16 = 0
    public var channel: Int32

    @inline(__always) static func isBefore(_ a: Event, _ b: Event) -> Bool {
        a.time < b.time || (a.time == b.time && a.sequence < b.sequence)
    }
}

/// The future event list: a binary min-heap keyed by (time, insertion order). Specialised for `Event` rather
/// than generic, so the comparison inlines: it runs several times per simulated expert load.
public struct EventQueue {
    private var heap: [Event] = []
    private var nextSequence: UInt64 = 0

    public init() {}

    public var isEmpty: Bool { heap.isEmpty }
    public var count: Int { heap.count }
    public var nextTime: Double? { heap.first?.time }

    public mutating func schedule(at time: Double, kind: Event.Kind, channel: Int32, epoch: UInt16 = 0) {
        heap.append(Event(time: time, sequence: nextSequence, kind: kind, epoch: epoch, channel: channel))
        nextSequence += 1
        heap.withUnsafeMutableBufferPointer { h in
            var child = h.count - 1
            let item = h[child]
            while child > 0 {
                let parent = (child - 1) / 2
                guard Event.isBefore(item, h[parent]) else { break }
                h[child] = h[parent]
                child = parent
            }
            h[child] = item
        }
    }

    public mutating func pop() -> Event? {
        guard let last = heap.popLast() else { return nil }
        guard !heap.isEmpty else { return last }
        let top = heap[0]
        heap.withUnsafeMutableBufferPointer { h in
            let n = h.count
            var parent = 0
            while true {
                var child = 2 * parent + 1
                if child >= n { break }
                if child + 1 < n && Event.isBefore(h[child + 1], h[child]) { child += 1 }
                guard Event.isBefore(h[child], last) else { break }
                h[parent] = h[child]
                parent = child
            }
            h[parent] = last
        }
        return top
    }
}
