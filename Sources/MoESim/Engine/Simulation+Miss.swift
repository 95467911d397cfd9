import Foundation

/// The miss executor of a run: what a miss policy decided (load, low-precision copy, CPU, skip, substitute), CPU
/// execution on the host's cores, and the `MissContext` the miss policies see.
extension Simulation {
    // MARK: Miss policies

    /// The layer's routing is known: the miss policy may plan it.
    func beginMissLayer(_ layer: Int, jobs: Int, routedAt time: Double) {
        routedAt = time
        currentJobs = jobs
        layerCPUReady = 0
        if let gates = router.gateStatistics { missStatistics.routedMass += gates.layerMass }
        if plansLayers { missPolicy.beginLayer(layer: layer, context: self) }
    }

    /// Asks the miss policy; returns false when the miss is to be loaded as usual. A policy asking for what it cannot
    /// have (an undeclared low-precision copy, a CPU where there is none, a substitute that is not cached or is routed
    /// itself) is a bug in the policy.
    func servedWithoutFullLoad(_ key: Int, layer: Int, expert: Int, job: Int) -> Bool {
        let action = missPolicy.decide(layer: layer, expert: expert, context: self)
        let tokens = Int(router.tokensPerExpert[expert])
        missStatistics.record(action.kind, tokens: tokens, gate: router.gateStatistics?.gate(expert: expert))
        if action == .load {
            if hasLowPrecision { lowPrecisionLoad[key] = false }
            return false
        }
        var substitute = -1
        if case let .substitute(buddy) = action { substitute = buddy }
        observer?.observe(.missServed(layer: layer, expert: expert, action: action.kind, substitute: substitute, time: now))
        switch action {
        case .load:
            return false
        case .loadLowPrecision:
            precondition(lowPrecisionForm != nil, "miss policy '\(missPolicy.name)' asked for a low-precision copy it did not declare")
            lowPrecisionLoad[key] = true
            jobLowPrecision[job] = true
            metrics.onDemandLoads += 1
            loadOnDemand(key)
        case .cpu:
            precondition(cpuAvailable, "miss policy '\(missPolicy.name)' ran an expert on the CPU where offloaded experts live on storage")
            awaitingCompute[key] = false
            jobDone[job] = true
            runOnCPU(layer: layer, expert: expert, tokens: tokens)
        case .skip:
            awaitingCompute[key] = false
            jobDone[job] = true
        case let .substitute(buddy):
            let buddyKey = layer * experts + buddy
            precondition(buddy >= 0 && buddy < experts && cache.contains(buddyKey) && router.tokensPerExpert[buddy] == 0 && !awaitingCompute[buddyKey],
                         "miss policy '\(missPolicy.name)' substituted expert \(buddy) of layer \(layer), which is not cached, is routed itself or already stands in for another miss")
            awaitingCompute[key] = false
            awaitingCompute[buddyKey] = true
            jobKey[job] = Int32(buddyKey)
        }
        return true
    }

    /// Runs an expert on the CPU: it starts once the CPU is free and the activations are on the host; its results are
    /// back on the device one copy later, and the layer's GPU work waits for them at its end.
    func runOnCPU(layer: Int, expert: Int, tokens: Int) {
        let start = max(cpuFree, routedAt + activationToHostSeconds(tokens: tokens))
        let end = start + costs.cpuExpertSeconds(tokens: tokens)
        let ready = end + activationToDeviceSeconds(tokens: tokens)
        cpuFree = end
        layerCPUReady = max(layerCPUReady, ready)
        missStatistics.cpuBusySeconds += end - start
        missStatistics.activationBytes += 2 * Double(tokens * costs.activationBytesPerToken)
        observer?.observe(.cpuCompute(CPUWork(start: start, end: end, resultsReady: ready, layer: layer, expert: expert, tokens: tokens)))
    }

    // MARK: MissContext

    public var routedExperts: [Int] { (0..<currentJobs).map { Int(router.distinct[$0]) } }

    public func tokens(expert: Int) -> Int { Int(router.tokensPerExpert[expert]) }

    public func gate(expert: Int) -> ExpertGate? { router.gateStatistics?.gate(expert: expert) }

    public func isCached(layer: Int, expert: Int) -> Bool { cache.contains(layer * experts + expert) }

    public func isPinned(layer: Int, expert: Int) -> Bool {
        (cache.group(ofLayer: layer) as? PinnedPlacement)?.pins(layer * experts + expert) ?? false
    }

    public func gpuSeconds(tokens: Int, lowPrecision: Bool) -> Double {
        var seconds = 0.0
        for p in 0..<parts {
            seconds += lowPrecision ? costs.expertPartSeconds(tokens: tokens, part: p, form: lowPrecisionForm!) : costs.expertPartSeconds(tokens: tokens, part: p)
        }
        return seconds
    }

    public func loadSeconds(lowPrecision: Bool) -> Double {
        let partBytes = lowPrecision ? lowPrecisionForm!.partBytes : costs.expertPartBytes
        return partBytes.reduce(0) { $0 + link.seconds(bytes: Double($1), toHost: false) }
    }

    public var linkFreeAt: Double {
        let free = h2d.freeForOnDemand(at: now) { self.link.seconds(bytes: Double($0.bytes), toHost: $0.toHost) }
        let waiting = loadsWaitingForBuffer.count - loadsWaitingHead
        return free + Double(waiting) * loadSeconds(lowPrecision: false)
    }

    public var cpuFreeAt: Double { cpuFree }

    public func cpuSeconds(tokens: Int) -> Double { costs.cpuExpertSeconds(tokens: tokens) }

    public func activationToHostSeconds(tokens: Int) -> Double {
        link.seconds(bytes: Double(tokens * costs.activationBytesPerToken), toHost: true)
    }

    public func activationToDeviceSeconds(tokens: Int) -> Double {
        link.seconds(bytes: Double(tokens * costs.activationBytesPerToken), toHost: false)
    }
    /// What the miss policy did; nil for `load`.
    var missReport: Report.Miss? {
        guard asksOnMiss else { return nil }
        let approximated = MissActionKind.allCases.contains { $0.approximates && missStatistics.count($0) > 0 }
        return missStatistics.report(policy: config.miss, routedCells: router.activatedExperts,
                                     massKnown: router.gateStatistics != nil && source.header.weights != .none,
                                     approximates: missPolicy.requirements.approximates || approximated, lowPrecision: lowPrecisionForm,
                                     usedCPU: missStatistics.count(.cpu) > 0, makespanSeconds: metrics.makespanSeconds,
                                     notes: missPolicy.notes + (missStatistics.count(.cpu) > 0 ? [cpuBoundNote] : []))
    }

    /// Why a system that runs experts on the CPU may beat the `oracle` system, which is the best schedule of GPU-only
    /// execution: its experts stream from host DRAM, not over the link.
    var cpuBoundNote: String {
        let cpu = costs.cpuMemoryBandwidthBytesPerSecond, link = self.link.h2dBytesPerSecond
        return String(format: "CPU experts read host memory at %.1f GB/s (achieved) where a load crosses the link at %.1f GB/s: ", cpu / 1e9, link / 1e9)
            + (cpu > link ? "such a system can beat the `oracle` system, the best GPU-only schedule, and that is physical, not an error"
                          : "the link is at least as fast here, so the `oracle` system still bounds it")
    }
}
