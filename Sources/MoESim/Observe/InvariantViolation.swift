/// A broken invariant of a run (`sim run --check`): which one, where, and the numbers that disagree. Any
/// violation is a bug in the engine or in a policy, never in the user's input.
public struct InvariantViolation: Error, CustomStringConvertible, Equatable, Sendable {
    public enum Invariant: String, Sendable, CaseIterable {
        /// The event clock never runs backwards, and each resource (GPU stream, copy engine) does one thing at a time, in order.
        case timeMonotonic = "time-monotonic"
        /// An expert is computed only after its weights arrived, while the cache, a staging buffer or a load buffer holds it.
        case computedWhileResident = "computed-while-resident"
        /// No cache group ever holds more experts than its capacity (and it evicts only what it holds).
        case cacheCapacity = "cache-capacity"
        /// Bytes over the link equal the loads times the expert's bytes (part by part), plus write-backs, less cancelled bytes.
        case bytesMoved = "bytes-moved"
        /// A pass takes at least its compute, and at least its on-demand bytes over the link at full bandwidth.
        case passLatencyFloor = "pass-latency-floor"
        /// Within a pass, GPU compute and stalls follow one another without gaps and add up to its latency.
        case gpuAccounting = "gpu-accounting"
        /// Hits plus misses equal accesses, in the events and in the report.
        case accessCount = "access-count"
        /// With every expert resident, nothing moves over the link and nothing misses.
        case allResidentMovesNothing = "all-resident-moves-nothing"
        /// A miss policy's actions are what they say: a miss run on the CPU, skipped or substituted moves no bytes and
        /// is not computed on the GPU; a substitute is cached, not routed itself, and computed in its place; a CPU
        /// expert runs once, one at a time, and its layer's output waits for its results; a low-precision load moves
        /// exactly the low-precision copy's bytes and is not cached.
        case missActions = "miss-actions"
        /// Where the runtime reuses an evicted expert's memory for the refill, the refill's copy starts only after that
        /// expert's write-back has left the device.
        case refillAfterWriteBack = "refill-after-write-back"
    }

    public var invariant: Invariant
    public var pass: Int?
    public var layer: Int?
    public var expert: Int?
    /// Simulated seconds.
    public var time: Double?
    /// What disagrees, with the numbers.
    public var detail: String

    public init(_ invariant: Invariant, pass: Int? = nil, layer: Int? = nil, expert: Int? = nil, time: Double? = nil, _ detail: String) {
        self.invariant = invariant
        self.pass = pass
        self.layer = layer
        self.expert = expert
        self.time = time
        self.detail = detail
    }

    public var description: String {
        var place: [String] = []
        if let pass { place.append("pass \(pass)") }
        if let layer { place.append("layer \(layer)") }
        if let expert { place.append("expert \(expert)") }
        if let time { place.append("t = \(time) s") }
        return "invariant \(invariant.rawValue) violated" + (place.isEmpty ? "" : " at " + place.joined(separator: ", ")) + ": \(detail)"
    }

    /// The error `sim run --check` reports.
    public var asError: MoESimError {
        MoESimError(description, hint: "this is a bug in the simulator or in a policy, not in the input; please report it with the command line")
    }
}
