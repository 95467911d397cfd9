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
    let costs: CostModel
    var prefetchIssuedBytes = 0.0, evictedBytes = 0.0
    /// Bytes of a miss policy's low-precision copy (nil: it never loads one).
    let lowPrecisionBytes: Int?
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
    /// Miss policies: the step whose miss of the key was served without a full load, and how.
    var servedStep: [Int]
    var servedAction: [MissActionKind]
    /// The key's next on-demand load is a low-precision copy.
    var lowPrecisionPending: [Bool]

    // Clocks.
    var clock = 0.0
    var gpuEnd = 0.0
    var channelEnd = [0.0, 0.0]

    // The pass in progress, and the step (pass x layers + layer) of the latest access.
    var pass = -1
    var step = -1
    var passComputeSeconds = 0.0
    var passStallSeconds = 0.0
    var passOnDemandBytes = 0.0

    // Run totals.
    var hits = 0, stagedHits = 0, misses = 0
    var onDemandLoads = 0, prefetchLoads = 0, evictions = 0
    var movedBytes = [0.0, 0.0, 0.0]
    var cancelledPrefetchBytes = 0.0
    var stallSeconds = 0.0
    /// Write-backs started and not yet ended, per key.
    var writeBacksInFlight: [Int32: Int] = [:]
    /// Time the GPU idled waiting for the host to issue work.
    var hostWaitSeconds = 0.0
    /// Bytes the on-demand loads issued should move (low-precision ones move fewer).
    var onDemandIssuedBytes = 0.0
    /// Bytes moved (or cancelled) so far by each load not yet complete, and the bytes it moves in all, keyed by key
    /// and generation.
    var openLoads: [UInt64: (moved: Int, bytes: Int)] = [:]
    /// Misses served per `MissActionKind` (never `load`), and the CPU and substitute computations seen.
    var served = [Int](repeating: 0, count: MissActionKind.allCases.count)
    var cpuComputations = 0
    var substituteComputations = 0
    /// The CPU's last expert end, and when the current layer's CPU results are back (0: none pending).
    var cpuEnd = 0.0
    var pendingCPUReady = 0.0
    var pendingCPULayer = -1
    var cpuBusySeconds = 0.0
    /// The step at which a key runs in place of a missing expert.
    var substituteStep: [Int]

    public init(simulation sim: Simulation) {
        layers = sim.layers
        experts = sim.experts
        parts = sim.parts
        expertBytes = sim.costs.expertBytes
        costs = sim.costs
        lowPrecisionBytes = sim.lowPrecisionForm?.bytes
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
        servedStep = Array(repeating: -1, count: keys)
        servedAction = Array(repeating: .load, count: keys)
        lowPrecisionPending = Array(repeating: false, count: keys)
        substituteStep = Array(repeating: -1, count: keys)
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
            if work.kind == .expert { computedExpert(work) } else if work.kind != .sharedExperts { layerOutputUsed(at: work.start) }
        case let .stall(start, end, layer, expert, cause):
            gpuSlice(start: start, end: end, layer: layer >= 0 ? layer : nil, expert: expert >= 0 ? expert : nil)
            passStallSeconds += end - start
            if cause == .host { hostWaitSeconds += end - start } else { stallSeconds += end - start }
        case let .access(layer, expert, outcome, time):
            let key = layer * experts + expert
            lastAccess[key] = (time, outcome)
            step = pass * layers + layer
            inUseByStep[key] = step
            if substituteStep[key] == step {
                fail(InvariantViolation(.missActions, pass: pass, layer: layer, expert: expert, time: time,
                                        "routed at a layer where it already runs in place of a missing expert (a token would get its output twice)"))
            }
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
            if step >= 0 && servedStep[key] == step && servedAction[key] == .lowPrecision {
                fail(InvariantViolation(.missActions, pass: pass, layer: key / experts, expert: key % experts, time: time, "a low-precision copy entered the cache"))
            }
            cacheInserted(key, evicted: evicted, time: time)
        case let .missServed(layer, expert, action, substitute, time):
            missServed(layer: layer, expert: expert, action: action, substitute: substitute, time: time)
        case let .cpuCompute(work):
            cpuComputed(work)
        case .cacheBypassed:
            return
        case let .loadIssued(key, cause, generation, time):
            currentGeneration[key] = generation
            for p in 0..<parts { arrival[key * parts + p] = nil }
            var bytes = costs.expertBytes(layer: key / experts)
            if cause == .onDemand && lowPrecisionPending[key] {
                lowPrecisionPending[key] = false
                bytes = lowPrecisionBytes ?? bytes
            }
            openLoads[UInt64(key) << 32 | UInt64(generation)] = (0, bytes)
            switch cause {
            case .onDemand:
                if step >= 0 && servedStep[key] == step && servedAction[key] != .lowPrecision {
                    fail(InvariantViolation(.missActions, pass: pass, layer: key / experts, expert: key % experts, time: time,
                                            "loaded on demand, but the miss policy served this miss by \(servedAction[key].name)"))
                }
                onDemandLoads += 1
                onDemandIssuedBytes += Double(bytes)
                holdsLoadBuffer[key] = true
                passOnDemandBytes += Double(bytes)
            case .prefetch:
                prefetchLoads += 1
                prefetchIssuedBytes += Double(bytes)
                staged[key] = true
            case .writeBack:
                break
            }
        case let .prefetchDropped(key, _), let .stagingBufferReleased(key, _):
            staged[key] = false
        case let .loadBufferReleased(key, _):
            holdsLoadBuffer[key] = false
        case let .transferRerated(channel, transfer, time, end):
            if time < clock || end < time {
                fail(InvariantViolation(.timeMonotonic, pass: pass, layer: Int(transfer.key) / experts, expert: Int(transfer.key) % experts, time: time,
                                        "a transfer on channel \(channel) was re-rated at \(time) s to end at \(end) s (clock \(clock) s)"))
            }
            channelEnd[channel] = end
        case let .transferStarted(channel, transfer, start, end):
            transfers += 1
            if transfer.toHost {
                writeBacksInFlight[transfer.key, default: 0] += 1
            } else if transfer.afterWriteBackOf >= 0 && writeBacksInFlight[transfer.afterWriteBackOf, default: 0] > 0 {
                fail(InvariantViolation(.refillAfterWriteBack, pass: pass, layer: Int(transfer.key) / experts, expert: Int(transfer.key) % experts, time: start,
                                        "a load into the memory of L\(Int(transfer.afterWriteBackOf) / experts)/E\(Int(transfer.afterWriteBackOf) % experts) starts while that expert's write-back is still on the link"))
            }
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
            if transfer.toHost { writeBacksInFlight[transfer.key, default: 0] -= 1 }
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
        let workStep = pass * layers + work.layer
        if workStep >= 0 && servedStep[key] == workStep && servedAction[key] != .lowPrecision {
            fail(InvariantViolation(.missActions, pass: pass, layer: work.layer, expert: work.expert, time: work.start,
                                    "computed on the GPU, but the miss policy served this miss by \(servedAction[key].name)"))
        }
        if work.substituteFor >= 0 && work.part == 0 {
            substituteComputations += 1
            let missing = work.layer * experts + work.substituteFor
            if servedStep[missing] != workStep || servedAction[missing] != .substitute {
                fail(InvariantViolation(.missActions, pass: pass, layer: work.layer, expert: work.expert, time: work.start,
                                        "computed in place of E\(work.substituteFor), which the miss policy did not substitute"))
            }
        }
        if work.lowPrecision != (workStep >= 0 && servedStep[key] == workStep && servedAction[key] == .lowPrecision) {
            fail(InvariantViolation(.missActions, pass: pass, layer: work.layer, expert: work.expert, time: work.start,
                                    work.lowPrecision ? "computed from a low-precision copy nobody asked for" : "computed in full precision, but only its low-precision copy was loaded"))
        }
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

    /// A miss policy served a miss without a full load.
    func missServed(layer: Int, expert: Int, action: MissActionKind, substitute: Int, time: Double) {
        let key = layer * experts + expert
        served[Int(action.rawValue)] += 1
        func violation(_ detail: String) { fail(InvariantViolation(.missActions, pass: pass, layer: layer, expert: expert, time: time, detail)) }
        guard action != .load else { return violation("reported as served without a load, but the action is `load`") }
        if lastAccess[key]?.outcome != .miss || inUseByStep[key] != step {
            violation("the miss policy served it by \(action.name), but it is not a miss of the current layer")
        }
        servedStep[key] = step
        servedAction[key] = action
        switch action {
        case .lowPrecision:
            if lowPrecisionBytes == nil { violation("a low-precision load by a policy that declared no low-precision copy") }
            lowPrecisionPending[key] = true
        case .substitute:
            guard substitute >= 0 && substitute < experts && substitute != expert else { return violation("substituted by E\(substitute), not another expert of its layer") }
            let buddy = layer * experts + substitute
            if !inCache[buddy] { violation("substituted by E\(substitute), which is not cached" + history(buddy)) }
            if substituteStep[buddy] == step {
                violation("substituted by E\(substitute), which already stands in for another miss of this layer")
            } else if inUseByStep[buddy] == step {
                violation("substituted by E\(substitute), which is routed at this layer itself")
            }
            inUseByStep[buddy] = step
            substituteStep[buddy] = step
        case .cpu, .skip, .load:
            inUseByStep[key] = -1
        }
    }

    /// An expert ran on the CPU.
    func cpuComputed(_ work: CPUWork) {
        let key = work.layer * experts + work.expert
        cpuComputations += 1
        cpuBusySeconds += work.end - work.start
        func violation(_ invariant: InvariantViolation.Invariant, _ detail: String) {
            fail(InvariantViolation(invariant, pass: pass, layer: work.layer, expert: work.expert, time: work.start, detail))
        }
        if step < 0 || servedStep[key] != step || servedAction[key] != .cpu { violation(.missActions, "ran on the CPU, but the miss policy did not send this miss there") }
        if work.start < cpuEnd && !InvariantChecker.close(work.start, cpuEnd) {
            violation(.timeMonotonic, "a CPU expert starts at \(work.start) s, before the previous one ended at \(cpuEnd) s")
        }
        if work.end < work.start || work.resultsReady < work.end { violation(.timeMonotonic, "a CPU expert runs \(work.start)..\(work.end) s with results back at \(work.resultsReady) s") }
        if let routed = lastAccess[key]?.time, work.start < routed && !InvariantChecker.close(work.start, routed) {
            violation(.missActions, "a CPU expert starts at \(work.start) s, before its routing was known at \(routed) s")
        }
        cpuEnd = max(cpuEnd, work.end)
        pendingCPUReady = max(pendingCPUReady, work.resultsReady)
        pendingCPULayer = work.layer
    }

    /// Compute that needs the previous layer's output starts at `start`: the CPU's results must be back by then.
    func layerOutputUsed(at start: Double) {
        guard pendingCPUReady > 0 else { return }
        if start < pendingCPUReady && !InvariantChecker.close(start, pendingCPUReady) {
            fail(InvariantViolation(.missActions, pass: pass, layer: pendingCPULayer, time: start,
                                    "layer \(pendingCPULayer)'s output was used at \(start) s, before the CPU's results were back at \(pendingCPUReady) s"))
        }
        pendingCPUReady = 0
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
            evictedBytes += Double(costs.expertBytes(layer: evicted / experts))
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
                                    "\(bytes) bytes of a load that was never issued, or had already moved all its bytes"))
            return
        }
        let total = before.moved + bytes
        if total > before.bytes {
            fail(InvariantViolation(.bytesMoved, pass: pass, layer: key / experts, expert: key % experts, time: time,
                                    "one load moved \(total) bytes; the expert has \(before.bytes)" + (before.bytes != costs.expertBytes(layer: key / experts) ? " (low-precision copy)" : "")))
        }
        if total >= before.bytes { openLoads[id] = nil } else { openLoads[id] = (total, before.bytes) }
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
        // Misses a miss policy ran on the CPU, skipped or substituted load nothing.
        let withoutLoad = [MissActionKind.cpu, .skip, .substitute].reduce(0) { $0 + served[Int($1.rawValue)] }
        let reportedWithoutLoad = report.miss.map { $0.ranOnCPU + $0.skipped + $0.substituted } ?? 0
        if hits + stagedHits + misses != cache.accesses || cache.hits != hits || cache.prefetchHits != stagedHits
            || cache.onDemandLoads != misses - withoutLoad
            || cache.hits + cache.prefetchHits + cache.onDemandLoads + reportedWithoutLoad != cache.accesses {
            fail(InvariantViolation(.accessCount, "events: \(hits) hits + \(stagedHits) staged + \(misses) misses (\(withoutLoad) served without a load); report: \(cache.hits) hits + \(cache.prefetchHits) prefetch hits + \(cache.onDemandLoads) on-demand loads + \(reportedWithoutLoad) served without a load, \(cache.accesses) accesses"))
        }
        if onDemandLoads != misses - withoutLoad {
            fail(InvariantViolation(.bytesMoved, "\(misses) misses (\(withoutLoad) served without a load) but \(onDemandLoads) on-demand loads were issued"))
        }
        verifyMissActions(report.miss)
        let link = report.link
        let byCause: [(TransferCause, Double, Double)] = [
            (.onDemand, link.onDemandLoadBytes, onDemandIssuedBytes),
            (.prefetch, link.prefetchBytes, prefetchIssuedBytes - cancelledPrefetchBytes),
            (.writeBack, link.writeBackBytes, writesBack ? evictedBytes : 0),
        ]
        for (cause, reported, expected) in byCause {
            let moved = movedBytes[Int(cause.rawValue)]
            if moved != reported || moved != expected {
                fail(InvariantViolation(.bytesMoved, "\(cause.name) bytes: transfers moved \(moved), the report says \(reported), the loads and evictions imply \(expected)"))
            }
        }
        if let (id, load) = openLoads.min(by: { $0.key < $1.key }) {
            let key = Int(id >> 32)
            fail(InvariantViolation(.bytesMoved, layer: key / experts, expert: key % experts,
                                    "\(openLoads.count) loads ended incomplete, e.g. this one moved \(load.moved) of \(load.bytes) bytes"))
        }
        if !InvariantChecker.close(stallSeconds, report.gpu.stallSeconds) {
            fail(InvariantViolation(.gpuAccounting, "stall slices add up to \(stallSeconds) s, the report says \(report.gpu.stallSeconds) s"))
        }
        if !InvariantChecker.close(hostWaitSeconds, report.gpu.hostWaitSeconds) {
            fail(InvariantViolation(.gpuAccounting, "host-wait slices add up to \(hostWaitSeconds) s, the report says \(report.gpu.hostWaitSeconds) s"))
        }
        if allResident && (link.h2dBytes != 0 || link.d2hBytes != 0 || misses != 0) {
            fail(InvariantViolation(.allResidentMovesNothing, "\(link.h2dBytes) bytes host-to-device, \(link.d2hBytes) device-to-host, \(misses) misses"))
        }
        if let first = violations.first { throw first }
    }

    /// The miss policy's report against its events: each action's count, every CPU and substitute computation done.
    func verifyMissActions(_ miss: Report.Miss?) {
        func count(_ kind: MissActionKind) -> Int { served[Int(kind.rawValue)] }
        let reported = miss.map { [$0.loadedLowPrecision, $0.ranOnCPU, $0.skipped, $0.substituted] } ?? [0, 0, 0, 0]
        let seen = [count(.lowPrecision), count(.cpu), count(.skip), count(.substitute)]
        if reported != seen {
            fail(InvariantViolation(.missActions, "events: \(seen[0]) low-precision loads, \(seen[1]) CPU experts, \(seen[2]) skips, \(seen[3]) substitutes; the report says \(reported[0]), \(reported[1]), \(reported[2]), \(reported[3])"))
        }
        if let miss, miss.misses != misses || miss.loaded + miss.loadedLowPrecision + miss.ranOnCPU + miss.skipped + miss.substituted != miss.misses {
            fail(InvariantViolation(.missActions, "the report's \(miss.misses) decided misses (\(miss.loaded) loaded + \(miss.loadedLowPrecision) low precision + \(miss.ranOnCPU) CPU + \(miss.skipped) skipped + \(miss.substituted) substituted) disagree with \(misses) misses"))
        }
        if cpuComputations != count(.cpu) || substituteComputations != count(.substitute) {
            fail(InvariantViolation(.missActions, "\(count(.cpu)) misses sent to the CPU and \(cpuComputations) CPU computations; \(count(.substitute)) substituted and \(substituteComputations) substitutes computed"))
        }
        if !InvariantChecker.close(cpuBusySeconds, miss?.cpu?.busySeconds ?? 0) {
            fail(InvariantViolation(.missActions, "CPU slices add up to \(cpuBusySeconds) s, the report says \(miss?.cpu?.busySeconds ?? 0) s"))
        }
    }

    /// One line for `sim run --check`'s text report.
    public var summary: String {
        "invariant checks: all \(InvariantViolation.Invariant.allCases.count) hold over \(passes) passes, \(expertComputations) expert computations, \(transfers) transfers"
    }
}
