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
}

/// One DMA engine: a FIFO server that moves one transfer at a time at a fixed rate plus a fixed setup latency
/// per transfer. Completion is signalled through the event queue.
public final class TransferChannel {
    public let name: String
    public private(set) var queue: [Transfer] = []
    private var queueHead = 0
    public private(set) var active: Transfer?
    public private(set) var activeEnd = 0.0
    public private(set) var busySeconds = 0.0
    public private(set) var bytesByCause: [Double] = Array(repeating: 0, count: TransferCause.allCases.count)
    public private(set) var transfersByCause: [Int] = Array(repeating: 0, count: TransferCause.allCases.count)

    public init(name: String) { self.name = name }

    public var isIdle: Bool { active == nil }
    public var pendingCount: Int { queue.count - queueHead + (active == nil ? 0 : 1) }

    func append(_ transfer: Transfer) { queue.append(transfer) }

    /// Takes the next queued transfer, if any.
    func dequeue() -> Transfer? {
        guard queueHead < queue.count else { return nil }
        let t = queue[queueHead]
        queueHead += 1
        if queueHead > 1024 && queueHead * 2 > queue.count {
            queue.removeFirst(queueHead)
            queueHead = 0
        }
        return t
    }

    func begin(_ transfer: Transfer, at time: Double, seconds: Double) {
        active = transfer
        activeEnd = time + seconds
        busySeconds += seconds
        bytesByCause[Int(transfer.cause.rawValue)] += Double(transfer.bytes)
        transfersByCause[Int(transfer.cause.rawValue)] += 1
    }

    func finish() -> Transfer {
        let t = active!
        active = nil
        return t
    }

    public var totalBytes: Double { bytesByCause.reduce(0, +) }
}
