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
    public var channel: Int32
}

/// The future event list: a binary heap keyed by (time, insertion order).
public struct EventQueue {
    private var heap = BinaryHeap<Event> { a, b in a.time < b.time || (a.time == b.time && a.sequence < b.sequence) }
    private var nextSequence: UInt64 = 0

    public init() {}

    public var isEmpty: Bool { heap.isEmpty }
    public var count: Int { heap.count }
    public var nextTime: Double? { heap.first?.time }

    public mutating func schedule(at time: Double, kind: Event.Kind, channel: Int32) {
        heap.push(Event(time: time, sequence: nextSequence, kind: kind, channel: channel))
        nextSequence += 1
    }

    public mutating func pop() -> Event? { heap.pop() }
}
