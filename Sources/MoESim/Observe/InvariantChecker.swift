/// Checks a run's invariants (`sim run --check`, the tests' toy simulations, `sim experiment check`) from the
/// engine's events alone: it keeps its own shadow of what is resident, arrived and cached, so an engine or policy
/// that lies about residency is caught. Violations found while the run goes are collected; `verify(report:)`
/// adds the end-of-run checks against the report and throws the first violation.
public final class InvariantChecker: SimulationObserver {
    /// At most this many violations are kept (the first is the one reported).
    public static let keptViolations = 20
    /// Relative slack for sums of floating-point seconds.
    static let relativeTolerance = 1e-9

    public private(set) var violations: [InvariantViolation] = []
    public private(set) var violationCount = 0
    /// What was checked, for the summary line.
    public private(set) var expertComputations = 0
    public private(set) var transfers = 0
    public private(set) var passes = 0
    /// Experts evicted by a later expert of their own layer before they ran (legitimate while the newcomer waits
    /// in a load or staging buffer, so the evicted one's slot is not overwritten until it has run).
    public private(set) var inUseEvictions = 0

    let layers: Int
    let experts: Int
    let parts: Int
    let expertBytes: Int
    let perLayerGroups: Bool
    let capacities: [Int]
    let groups: [EvictionPolicy]
    let h2dBytesPerSecond: Double
    let writesBack: Bool
    let allResident: Bool

    // Shadow state per key (layer x experts + expert).
    var inCache: [Bool]
    var staged: [Bool]
    var holdsLoadBuffer: [Bool]
    /// The step (pass x layers + layer) whose routing asked for the key and has not computed it yet, else -1.
    var inUseByStep: [Int]
    /// For an expert evicted while in use: the newcomer that took its slot (-1: none).
    var displacedBy: [Int]
    var currentGeneration: [UInt32]
    /// Per key and part: when the current load's part arrived (nil: not on the device).
    var arrival: [Double?]
    var groupCount: [Int]
    /// How each key last left the cache, and how it was last accessed (for violation details).
    var lastEviction: [(time: Double, by: Int)?]
    var lastAccess: [(time: Double, outcome: AccessOutcome)?]

    // Clocks.
    var clock = 0.0
    var gpuEnd = 0.0
    var channelEnd = [0.0, 0.0]

    // The pass in progress.
    var pass = -1
    var passComputeSeconds = 0.0
    var passStallSeconds = 0.0
    var passOnDemandBytes = 0.0

    // Run totals.
    var hits = 0, stagedHits = 0, misses = 0
    var onDemandLoads = 0, prefetchLoads = 0, evictions = 0
    var movedBytes = [0.0, 0.0, 0.0]
    var cancelledPrefetchBytes = 0.0
    var stallSeconds = 0.0
    /// Bytes moved (or cancelled) so far by each load not yet complete, keyed by key and generation.
    var openLoads: [UInt64: Int] = [:]

    public init(simulation sim: Simulation) {
        layers = sim.layers
        experts = sim.experts
        parts = sim.parts
        expertBytes = sim.costs.expertBytes
        perLayerGroups = sim.cache.layout == .perLayer
        capacities = sim.cache.capacities
        groups = sim.cache.groups
        h2dBytesPerSecond = sim.h2dBytesPerSecond
        writesBack = sim.writeBack
        allResident = sim.config.cache.capacity == .everything
        let keys = sim.layers * sim.experts
        inCache = Array(repeating: false, count: keys)
        staged = Array(repeating: false, count: keys)
        holdsLoadBuffer = Array(repeating: false, count: keys)
        inUseByStep = Array(repeating: -1, count: keys)
        displacedBy = Array(repeating: -1, count: keys)
        currentGeneration = Array(repeating: 0, count: keys)
        arrival = Array(repeating: nil, count: keys * sim.parts)
        groupCount = Array(repeating: 0, count: sim.cache.groups.count)
        lastEviction = Array(repeating: nil, count: keys)
        lastAccess = Array(repeating: nil, count: keys)
        // The cache's initial fill happened before the run: those experts are on the device from time 0.
        for (g, group) in sim.cache.groups.enumerated() {
            for key in group.residentKeys {
                inCache[key] = true
                groupCount[g] += 1
                for p in 0..<parts { arrival[key * parts + p] = 0 }
            }
        }
    }

    func fail(_ violation: InvariantViolation) {
        violationCount += 1
        if violations.count < InvariantChecker.keptViolations { violations.append(violation) }
    }

    func group(of key: Int) -> Int { perLayerGroups ? key / experts : 0 }

    static func close(_ a: Double, _ b: Double) -> Bool {
        abs(a - b) <= relativeTolerance * max(1e-9, abs(a), abs(b))
    }

    public func observe(_ event: SimulationEvent) {
        switch event {
        case let .passStarted(info):
            if info.time < gpuEnd && !InvariantChecker.close(info.time, gpuEnd) {
                fail(InvariantViolation(.timeMonotonic, pass: info.pass, time: info.time, "the pass starts at \(info.time) s, before the GPU finished the previous one at \(gpuEnd) s"))
            }
            pass = info.pass
            passes += 1
            gpuEnd = info.time
            passComputeSeconds = 0
            passStallSeconds = 0
            passOnDemandBytes = 0
        case let .passEnded(index, start, end):
            endPass(index, start: start, end: end)
        case let .compute(work):
            gpuSlice(start: work.start, end: work.end, layer: work.layer >= 0 ? work.layer : nil, expert: work.kind == .expert ? work.expert : nil)
            passComputeSeconds += work.end - work.start
            if work.kind == .expert { computedExpert(work) }
        case let .stall(start, end, layer, expert, _):
            gpuSlice(start: start, end: end, layer: layer, expert: expert >= 0 ? expert : nil)
            passStallSeconds += end - start
            stallSeconds += end - start
        case let .access(layer, expert, outcome, time):
            let key = layer * experts + expert
            lastAccess[key] = (time, outcome)
            inUseByStep[key] = pass * layers + layer
            switch outcome {
            case .hit:
                hits += 1
                if !inCache[key] {
                    fail(InvariantViolation(.computedWhileResident, pass: pass, layer: layer, expert: expert, time: time,
                                            "the cache answered a hit for an expert it never stored (or evicted)"))
                }
            case .staged:
                stagedHits += 1
            case .miss:
                misses += 1
                for p in 0..<parts { arrival[key * parts + p] = nil }
            }
        case let .cacheInserted(key, evicted, time):
            cacheInserted(key, evicted: evicted, time: time)
        case .cacheBypassed:
            return
        case let .loadIssued(key, cause, generation, _):
            currentGeneration[key] = generation
            for p in 0..<parts { arrival[key * parts + p] = nil }
            openLoads[UInt64(key) << 32 | UInt64(generation)] = 0
            switch cause {
            case .onDemand:
                onDemandLoads += 1
                holdsLoadBuffer[key] = true
                passOnDemandBytes += Double(expertBytes)
            case .prefetch:
                prefetchLoads += 1
                staged[key] = true
            case .writeBack:
                break
            }
        case let .prefetchDropped(key, _), let .stagingBufferReleased(key, _):
            staged[key] = false
        case let .loadBufferReleased(key, _):
            holdsLoadBuffer[key] = false
        case let .transferStarted(channel, transfer, start, end):
            transfers += 1
            if start < channelEnd[channel] || end < start {
                fail(InvariantViolation(.timeMonotonic, pass: pass, layer: Int(transfer.key) / experts, expert: Int(transfer.key) % experts, time: start,
                                        "a transfer on channel \(channel) runs \(start)..\(end) s, overlapping the previous one that ended at \(channelEnd[channel]) s"))
            }
            if start < clock {
                fail(InvariantViolation(.timeMonotonic, pass: pass, time: start, "a transfer starts at \(start) s, before the clock's \(clock) s"))
            }
            channelEnd[channel] = end
        case let .transferEnded(channel, transfer, time, bytesMoved, preempted):
            channelEnd[channel] = time
            transferEnded(transfer, time: time, bytesMoved: bytesMoved, preempted: preempted)
        case let .transferCancelled(transfer, time):
            if transfer.cause == .prefetch { cancelledPrefetchBytes += Double(transfer.bytes) }
            countLoadBytes(transfer, bytes: transfer.bytes, time: time)
        case let .eventProcessed(due, clockBefore):
            if due < clockBefore {
                fail(InvariantViolation(.timeMonotonic, pass: pass, time: due,
                                        "an event due at \(due) s was processed when the clock already read \(clockBefore) s (\(clockBefore - due) s late)"))
            }
            clock = max(clock, due)
        }
    }

    func gpuSlice(start: Double, end: Double, layer: Int?, expert: Int?) {
        if end < start {
            fail(InvariantViolation(.timeMonotonic, pass: pass, layer: layer, expert: expert, time: start, "a GPU slice ends (\(end) s) before it starts (\(start) s)"))
        }
        // Slices follow one another exactly: the engine advances one GPU clock through them.
        if !InvariantChecker.close(start, gpuEnd) {
            let invariant: InvariantViolation.Invariant = start < gpuEnd ? .timeMonotonic : .gpuAccounting
            let what = start < gpuEnd ? "overlaps the previous one, which ends at" : "leaves an unaccounted gap after the previous one, which ends at"
            fail(InvariantViolation(invariant, pass: pass, layer: layer, expert: expert, time: start, "a GPU slice starting at \(start) s \(what) \(gpuEnd) s"))
        }
        gpuEnd = end
    }

    func computedExpert(_ work: GPUWork) {
        if work.part == 0 { expertComputations += 1 }
        let key = work.layer * experts + work.expert
        guard let arrived = arrival[key * parts + work.part] else {
            fail(InvariantViolation(.computedWhileResident, pass: pass, layer: work.layer, expert: work.expert, time: work.start,
                                    "computed (part \(work.part)) but its weights never arrived on the device"))
            return
        }
        if arrived > work.start && !InvariantChecker.close(arrived, work.start) {
            fail(InvariantViolation(.computedWhileResident, pass: pass, layer: work.layer, expert: work.expert, time: work.start,
                                    "computed (part \(work.part)) from \(work.start) s, before its weights arrived at \(arrived) s"))
        }
        let inUse = inUseByStep[key] == pass * layers + work.layer
        let newcomer = displacedBy[key]
        // In use until its last part has run (pipelined parts run back to back).
        if work.part == parts - 1 {
            inUseByStep[key] = -1
            displacedBy[key] = -1
        }
        guard !inCache[key] && !staged[key] && !holdsLoadBuffer[key] else { return }
        // Evicted by a later expert of its own layer: its slot still holds it as long as the newcomer waits in a
        // buffer. An on-demand newcomer does (its load buffer, until it has run); a staged one must keep its staging buffer.
        let step = pass * layers + work.layer
        if inUse && newcomer >= 0 && (holdsLoadBuffer[newcomer] || staged[newcomer]
            || (inUseByStep[newcomer] == step && lastAccess[newcomer]?.outcome == .miss)) {
            return
        }
        let detail = newcomer >= 0
            ? "its cache slot went to L\(newcomer / experts)/E\(newcomer % experts), whose staging buffer was given back before this expert ran"
            : "computed while neither the cache, a staging buffer nor a load buffer holds it"
        fail(InvariantViolation(.computedWhileResident, pass: pass, layer: work.layer, expert: work.expert, time: work.start, detail + history(key)))
    }

    func history(_ key: Int) -> String {
        var parts: [String] = []
        if let access = lastAccess[key] { parts.append("last accessed at \(access.time) s (\(access.outcome))") }
        if let eviction = lastEviction[key] { parts.append("evicted at \(eviction.time) s for L\(eviction.by / experts)/E\(eviction.by % experts)") }
        return parts.isEmpty ? "" : "; " + parts.joined(separator: ", ")
    }

    func cacheInserted(_ key: Int, evicted: Int?, time: Double) {
        let g = group(of: key)
        if inCache[key] {
            fail(InvariantViolation(.cacheCapacity, pass: pass, layer: key / experts, expert: key % experts, time: time, "stored again while already cached"))
        }
        if let evicted {
            evictions += 1
            if !inCache[evicted] {
                fail(InvariantViolation(.cacheCapacity, pass: pass, layer: evicted / experts, expert: evicted % experts, time: time,
                                        "evicted to make room for L\(key / experts)/E\(key % experts), but it was not cached"))
            } else {
                inCache[evicted] = false
                if inUseByStep[evicted] >= 0 && !holdsLoadBuffer[evicted] {
                    inUseEvictions += 1
                    displacedBy[evicted] = key
                }
                lastEviction[evicted] = (time, key)
                groupCount[group(of: evicted)] -= 1
            }
        }
        inCache[key] = true
        groupCount[g] += 1
        if groupCount[g] > capacities[g] || groups[g].count > capacities[g] {
            fail(InvariantViolation(.cacheCapacity, pass: pass, layer: key / experts, expert: key % experts, time: time,
                                    "cache group \(g) holds \(max(groupCount[g], groups[g].count)) experts (its policy says \(groups[g].count)), capacity \(capacities[g])"))
        }
    }

    func transferEnded(_ transfer: Transfer, time: Double, bytesMoved: Int, preempted: Bool) {
        movedBytes[Int(transfer.cause.rawValue)] += Double(bytesMoved)
        guard !transfer.toHost else { return }
        let key = Int(transfer.key)
        countLoadBytes(transfer, bytes: bytesMoved, time: time)
        if !preempted && transfer.generation == currentGeneration[key] { arrival[key * parts + Int(transfer.part)] = time }
    }

    /// Adds moved or cancelled bytes to their load; a load is complete when they reach the expert's bytes.
    func countLoadBytes(_ transfer: Transfer, bytes: Int, time: Double) {
        guard !transfer.toHost else { return }
        let id = UInt64(transfer.key) << 32 | UInt64(transfer.generation)
        let key = Int(transfer.key)
        guard let before = openLoads[id] else {
            fail(InvariantViolation(.bytesMoved, pass: pass, layer: key / experts, expert: key % experts, time: time,
                                    "\(bytes) bytes of a load that was never issued, or had already moved all \(expertBytes) bytes"))
            return
        }
        let total = before + bytes
        if total > expertBytes {
            fail(InvariantViolation(.bytesMoved, pass: pass, layer: key / experts, expert: key % experts, time: time,
                                    "one load moved \(total) bytes; the expert has \(expertBytes)"))
        }
        if total >= expertBytes { openLoads[id] = nil } else { openLoads[id] = total }
    }

    func endPass(_ index: Int, start: Double, end: Double) {
        let latency = end - start
        if !InvariantChecker.close(gpuEnd, end) {
            fail(InvariantViolation(.gpuAccounting, pass: index, time: end, "the GPU's last slice ends at \(gpuEnd) s, the pass at \(end) s"))
        }
        let accounted = passComputeSeconds + passStallSeconds
        if !InvariantChecker.close(accounted, latency) {
            fail(InvariantViolation(.gpuAccounting, pass: index, time: end,
                                    "compute \(passComputeSeconds) s + stalls \(passStallSeconds) s = \(accounted) s, but the pass took \(latency) s"))
        }
        if latency < passComputeSeconds && !InvariantChecker.close(latency, passComputeSeconds) {
            fail(InvariantViolation(.passLatencyFloor, pass: index, time: end, "the pass took \(latency) s, less than its compute alone (\(passComputeSeconds) s)"))
        }
        let linkFloor = passOnDemandBytes / h2dBytesPerSecond
        if latency < linkFloor && !InvariantChecker.close(latency, linkFloor) {
            fail(InvariantViolation(.passLatencyFloor, pass: index, time: end,
                                    "the pass took \(latency) s, less than its \(passOnDemandBytes) on-demand bytes need at \(h2dBytesPerSecond) B/s (\(linkFloor) s)"))
        }
    }

    /// The end-of-run checks against the report; throws the first violation of the whole run.
    public func verify(report: Report) throws {
        let cache = report.cache
        if hits + stagedHits + misses != cache.accesses || cache.hits != hits || cache.prefetchHits != stagedHits || cache.onDemandLoads != misses
            || cache.hits + cache.prefetchHits + cache.onDemandLoads != cache.accesses {
            fail(InvariantViolation(.accessCount, "events: \(hits) hits + \(stagedHits) staged + \(misses) misses; report: \(cache.hits) hits + \(cache.prefetchHits) prefetch hits + \(cache.onDemandLoads) on-demand loads, \(cache.accesses) accesses"))
        }
        if onDemandLoads != misses {
            fail(InvariantViolation(.bytesMoved, "\(misses) misses but \(onDemandLoads) on-demand loads were issued"))
        }
        let link = report.link
        let byCause: [(TransferCause, Double, Double)] = [
            (.onDemand, link.onDemandLoadBytes, Double(onDemandLoads * expertBytes)),
            (.prefetch, link.prefetchBytes, Double(prefetchLoads * expertBytes) - cancelledPrefetchBytes),
            (.writeBack, link.writeBackBytes, writesBack ? Double(evictions * expertBytes) : 0),
        ]
        for (cause, reported, expected) in byCause {
            let moved = movedBytes[Int(cause.rawValue)]
            if moved != reported || moved != expected {
                fail(InvariantViolation(.bytesMoved, "\(cause.name) bytes: transfers moved \(moved), the report says \(reported), the loads and evictions imply \(expected)"))
            }
        }
        if let (id, bytes) = openLoads.min(by: { $0.key < $1.key }) {
            let key = Int(id >> 32)
            fail(InvariantViolation(.bytesMoved, layer: key / experts, expert: key % experts,
                                    "\(openLoads.count) loads ended incomplete, e.g. this one moved \(bytes) of \(expertBytes) bytes"))
        }
        if !InvariantChecker.close(stallSeconds, report.gpu.stallSeconds) {
            fail(InvariantViolation(.gpuAccounting, "stall slices add up to \(stallSeconds) s, the report says \(report.gpu.stallSeconds) s"))
        }
        if allResident && (link.h2dBytes != 0 || link.d2hBytes != 0 || misses != 0) {
            fail(InvariantViolation(.allResidentMovesNothing, "\(link.h2dBytes) bytes host-to-device, \(link.d2hBytes) device-to-host, \(misses) misses"))
        }
        if let first = violations.first { throw first }
    }

    /// One line for `sim run --check`'s text report.
    public var summary: String {
        "invariant checks: all \(InvariantViolation.Invariant.allCases.count) hold over \(passes) passes, \(expertComputations) expert computations, \(transfers) transfers"
    }
}
