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

/// One copy of (part of) an expert.
public struct Transfer: Sendable {
    public var key: Int32
    /// Which sub-matrix of the expert (0 when whole experts travel as one transfer).
    public var part: Int8
    public var bytes: Int
    public var cause: TransferCause
    /// True for device-to-host.
    public var toHost: Bool
    /// Which load of this expert it belongs to: a completion of an older load (a dropped prefetch still in
    /// flight when the expert was loaded again) must not mark the new one arrived.
    public var generation: UInt32 = 0
}

/// One DMA engine: a FIFO server that moves one transfer at a time at a fixed rate plus a fixed setup latency
/// per transfer. Completion is signalled through the event queue.
public final class TransferChannel {
    public let name: String
    /// Waiting transfers, a ring buffer that grows when full.
    private var ring: [Transfer] = []
    private var head = 0
    private var waiting = 0
    public private(set) var active: Transfer?
    public private(set) var busySeconds = 0.0
    private let bytes = FixedArray<Double>(repeating: 0, count: TransferCause.allCases.count)

    public init(name: String) { self.name = name }

    public var isIdle: Bool { active == nil }
    public var bytesByCause: [Double] { bytes.array }
    @inline(__always) public func bytes(_ cause: TransferCause) -> Double { bytes[Int(cause.rawValue)] }

    func append(_ transfer: Transfer) {
        if waiting == ring.count {
            // Grow, unrolling the ring so the oldest is first.
            var grown: [Transfer] = []
            grown.reserveCapacity(max(8, ring.count * 2))
            for i in 0..<waiting { grown.append(ring[(head + i) % ring.count]) }
            grown.append(transfer)
            while grown.count < max(8, ring.count * 2) { grown.append(transfer) }
            ring = grown
            head = 0
            waiting += 1
            return
        }
        ring[(head + waiting) % ring.count] = transfer
        waiting += 1
    }

    /// Takes the next queued transfer, if any.
    func dequeue() -> Transfer? {
        guard waiting > 0 else { return nil }
        let t = ring[head]
        head = (head + 1) % ring.count
        waiting -= 1
        return t
    }

    func begin(_ transfer: Transfer, at time: Double, seconds: Double) {
        active = transfer
        busySeconds += seconds
        bytes[Int(transfer.cause.rawValue)] += Double(transfer.bytes)
    }

    func finish() -> Transfer {
        let t = active!
        active = nil
        return t
    }

}
