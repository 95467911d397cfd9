/// Watches a run as it happens (the schedule timeline, the invariant checker). The engine calls `observe` at each
/// point where something happens; with no observer installed it only tests one optional per point.
public protocol SimulationObserver: AnyObject {
    func observe(_ event: SimulationEvent)
}

/// What ran on the GPU compute stream.
public enum GPUWorkKind: UInt8, Sendable {
    /// Attention, router and norms of one layer (`layer` is the MoE layer; -1 .. -denseLayers for dense layers).
    case attention
    /// The dense FFN of a non-MoE layer.
    case denseFFN
    case sharedExperts
    /// One routed expert (or one transfer part of it, with sub-matrix pipelining).
    case expert
    /// LM head and the runtime's per-pass overhead.
    case passOverhead
}

/// One slice of GPU compute, in simulated seconds.
public struct GPUWork: Sendable {
    public var kind: GPUWorkKind
    public var start: Double
    public var end: Double
    /// MoE layer (dense layers: -1 - index), or -1 for the per-pass step.
    public var layer: Int
    public var expert: Int = -1
    /// Transfer part computed (0 when experts travel whole).
    public var part: Int = 0
    public var tokens: Int
    /// The routed expert `expert` runs in place of (a miss policy's substitute), else -1.
    public var substituteFor: Int = -1
    /// Computed from a low-precision copy (a miss policy's `loadLowPrecision`).
    public var lowPrecision = false
}

/// One expert computed on the CPU for a miss policy, in simulated seconds: its activations reached the host before
/// `start`, and its results are back on the device at `resultsReady`.
public struct CPUWork: Sendable {
    public var start: Double
    public var end: Double
    public var resultsReady: Double
    public var layer: Int
    public var expert: Int
    public var tokens: Int
}

/// Why the compute stream waited.
public enum StallCause: UInt8, Sendable {
    /// For the weights of `expert` (the next one to run).
    case weights
    /// For the prefetches issued at the previous layer (AdapMoE's cudaEvent wait).
    case previousPrefetches
    /// For the CPU's results of the layer's experts a miss policy ran there.
    case cpu
    /// For the host thread to issue the work (its dispatch time, or the generation loop between passes): the GPU
    /// idles, not for want of weights. Reported apart from the other stalls (`Report.GPU.hostWaitSeconds`).
    case host
    /// On a single-stream runtime, for copies issued earlier on the same stream (write-backs, other experts' loads).
    case stream
}

/// How one cache access was served.
public enum AccessOutcome: UInt8, Sendable {
    case hit
    /// A miss served by a staged prefetch.
    case staged
    /// A miss that loads on demand.
    case miss
}

/// The pass a `passStarted` event opens.
public struct PassStart: Sendable {
    public var pass: Int
    public var request: Int
    /// The request's id in the trace.
    public var requestID: String
    public var phase: Phase
    public var tokens: Int
    public var time: Double
}

/// Something that happened in a run. Times are simulated seconds; `key` = layer x experts + expert.
public enum SimulationEvent {
    case passStarted(PassStart)
    case passEnded(pass: Int, start: Double, end: Double)
    case compute(GPUWork)
    /// The compute stream idled from `start` to `end` waiting; `expert` is -1 for `previousPrefetches` and `cpu`.
    case stall(start: Double, end: Double, layer: Int, expert: Int, cause: StallCause)
    /// A layer's router asked for an expert.
    case access(layer: Int, expert: Int, outcome: AccessOutcome, time: Double)
    /// A miss policy served a miss without a full load (`action` is never `load`): a low-precision load follows, the
    /// expert runs on the CPU, is skipped, or `substitute` (else -1) runs in its place.
    case missServed(layer: Int, expert: Int, action: MissActionKind, substitute: Int, time: Double)
    /// An expert ran on the CPU.
    case cpuCompute(CPUWork)
    /// A cache group stored `key`, evicting `evicted` (nil: there was room).
    case cacheInserted(key: Int, evicted: Int?, time: Double)
    /// A cache group declined `key` (capacity 0, or a policy that bypasses): it is used once from a buffer.
    case cacheBypassed(key: Int, time: Double)
    /// A load of `key` was issued (its parts are queued now, or, for an on-demand load waiting for a buffer, later).
    case loadIssued(key: Int, cause: TransferCause, generation: UInt32, time: Double)
    /// A staged prefetch was dropped unused (its queued parts may be cancelled).
    case prefetchDropped(key: Int, time: Double)
    /// The staging buffer holding `key` was given back (used, dropped, or moved into the cache); if its transfer is
    /// still on the way, the buffer is free once it lands.
    case stagingBufferReleased(key: Int, time: Double)
    /// An on-demand load's buffer was given back (its expert has been computed).
    case loadBufferReleased(key: Int, time: Double)
    /// A transfer started on channel `channel` (0: H2D, 1: D2H when the device has a second copy engine).
    case transferStarted(channel: Int, transfer: Transfer, start: Double, end: Double)
    /// A transfer left the channel: finished, or suspended by a preemption (`preempted`) having moved `bytesMoved`.
    case transferEnded(channel: Int, transfer: Transfer, time: Double, bytesMoved: Int, preempted: Bool)
    /// The link re-divided its bandwidth at `time`: the transfer in flight on `channel` now ends at `end`.
    case transferRerated(channel: Int, transfer: Transfer, time: Double, end: Double)
    /// Queued transfers removed before they started.
    case transferCancelled(transfer: Transfer, time: Double)
    /// The engine processed a queued event due at `due`, its clock reading `clock` just before.
    case eventProcessed(due: Double, clock: Double)
}

/// Passes every event to several observers in order (`--timeline` with `--check`).
public final class ObserverFanout: SimulationObserver {
    public let observers: [SimulationObserver]

    public init(_ observers: [SimulationObserver]) { self.observers = observers }

    public func observe(_ event: SimulationEvent) {
        for observer in observers { observer.observe(event) }
    }
}
