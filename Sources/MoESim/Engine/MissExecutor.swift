import Foundation

/// The miss executor of a run: asks the miss policy (`--miss`, `MissPolicy`) what to do with a miss and carries it
/// out: a low-precision copy loaded by the transfer manager, the expert run on the host's CPU cores (`HostCPU`), the
/// expert skipped, or a cached substitute computed instead. The default policy, `load`, is never asked: the executor
/// then runs exactly as without miss policies.
///
/// A CPU expert starts when the cores are free and the tokens' activations have reached the host, and the layer
/// ends when the GPU's experts are done and the CPU's results are back. Activation copies are a few KB: they cost
/// their setup latency and bytes at the link's rate but do not queue on the copy engines.
final class MissExecutor {
    enum Outcome {
        /// Load the expert as usual (the policy said `load`).
        case load
        /// An on-demand load of a low-precision copy was issued.
        case loadedLowPrecision
        /// Served without a load (CPU, skip, substitute).
        case served
    }

    let policy: MissPolicy
    let plansLayers: Bool
    let lowPrecisionForm: ExpertForm?
    /// Experts can run on the CPU: offloaded experts are in host DRAM (not on storage).
    let cpuAvailable: Bool
    private(set) var statistics = MissStatistics()
    private var cpu = HostCPU()
    /// When the current layer's routing became known, and when its CPU results are back (0: none ran there).
    private(set) var routedAt = 0.0
    private(set) var layerCPUReady = 0.0

    private let costs: CostModel
    private let transfers: TransferManager
    private let jobs: LayerJobs
    private let router: PassRouter
    private let cache: ExpertCache
    private let experts: Int
    var observer: SimulationObserver?

    init(policy: MissPolicy, lowPrecisionForm: ExpertForm?, cpuAvailable: Bool, costs: CostModel, transfers: TransferManager,
         jobs: LayerJobs, router: PassRouter, cache: ExpertCache, experts: Int) {
        self.policy = policy
        plansLayers = policy.requirements.plansLayers
        self.lowPrecisionForm = lowPrecisionForm
        self.cpuAvailable = cpuAvailable
        self.costs = costs
        self.transfers = transfers
        self.jobs = jobs
        self.router = router
        self.cache = cache
        self.experts = experts
    }

    var cpuFreeAt: Double { cpu.free }

    /// The layer's routing is known (at `time`): the policy may plan it.
    func beginLayer(_ layer: Int, routedAt time: Double, context: MissContext) {
        routedAt = time
        layerCPUReady = 0
        if let gates = router.gateStatistics { statistics.routedMass += gates.layerMass }
        if plansLayers { policy.beginLayer(layer: layer, context: context) }
    }

    /// Asks the policy about a miss of `expert` (job `job`) and does what it says, unless that is a plain load. A
    /// policy asking for what it cannot have (an undeclared low-precision copy, a CPU where there is none, a substitute
    /// that is not cached or is routed itself) is a bug in the policy.
    func serve(key: Int, layer: Int, expert: Int, job: Int, context: MissContext) -> Outcome {
        let action = policy.decide(layer: layer, expert: expert, context: context)
        let tokens = Int(router.tokensPerExpert[expert])
        statistics.record(action.kind, tokens: tokens, gate: router.gateStatistics?.gate(expert: expert))
        if action == .load {
            if lowPrecisionForm != nil { transfers.lowPrecisionLoad[key] = false }
            return .load
        }
        var substitute = -1
        if case let .substitute(buddy) = action { substitute = buddy }
        observer?.observe(.missServed(layer: layer, expert: expert, action: action.kind, substitute: substitute, time: transfers.now))
        switch action {
        case .load:
            return .load
        case .loadLowPrecision:
            precondition(lowPrecisionForm != nil, "miss policy '\(policy.name)' asked for a low-precision copy it did not declare")
            transfers.lowPrecisionLoad[key] = true
            jobs.lowPrecision[job] = true
            transfers.loadOnDemand(key)
            return .loadedLowPrecision
        case .cpu:
            precondition(cpuAvailable, "miss policy '\(policy.name)' ran an expert on the CPU where offloaded experts live on storage")
            jobs.awaitingCompute[key] = false
            jobs.done[job] = true
            runOnCPU(layer: layer, expert: expert, tokens: tokens)
        case .skip:
            jobs.awaitingCompute[key] = false
            jobs.done[job] = true
        case let .substitute(buddy):
            let buddyKey = layer * experts + buddy
            precondition(buddy >= 0 && buddy < experts && cache.contains(buddyKey) && router.tokensPerExpert[buddy] == 0 && !jobs.awaitingCompute[buddyKey],
                         "miss policy '\(policy.name)' substituted expert \(buddy) of layer \(layer), which is not cached, is routed itself or already stands in for another miss")
            jobs.awaitingCompute[key] = false
            jobs.awaitingCompute[buddyKey] = true
            jobs.key[job] = Int32(buddyKey)
        }
        return .served
    }

    /// Runs an expert on the CPU: it starts once the CPU is free and the activations are on the host; its results are
    /// back on the device one copy later, and the layer's GPU work waits for them at its end.
    private func runOnCPU(layer: Int, expert: Int, tokens: Int) {
        let (start, end) = cpu.run(readyAt: routedAt + activationToHostSeconds(tokens: tokens), seconds: costs.cpuExpertSeconds(tokens: tokens))
        let ready = end + activationToDeviceSeconds(tokens: tokens)
        layerCPUReady = max(layerCPUReady, ready)
        statistics.cpuBusySeconds += end - start
        statistics.activationBytes += 2 * Double(tokens * costs.activationBytesPerToken)
        observer?.observe(.cpuCompute(CPUWork(start: start, end: end, resultsReady: ready, layer: layer, expert: expert, tokens: tokens)))
    }

    /// The layer's GPU work ended at `gpuFree`: it waits for the CPU's results (zero when none ran there). Returns
    /// the wait.
    func waitForCPU(gpuFree: Double) -> Double {
        guard layerCPUReady > gpuFree else { return 0 }
        statistics.cpuWaitSeconds += layerCPUReady - gpuFree
        return layerCPUReady - gpuFree
    }

    // MARK: Costs the policies see

    func gpuSeconds(tokens: Int, lowPrecision: Bool) -> Double {
        var seconds = 0.0
        for p in 0..<transfers.parts {
            seconds += lowPrecision ? costs.expertPartSeconds(tokens: tokens, part: p, form: lowPrecisionForm!) : costs.expertPartSeconds(tokens: tokens, part: p)
        }
        return seconds
    }

    func loadSeconds(lowPrecision: Bool) -> Double {
        let partBytes = lowPrecision ? lowPrecisionForm!.partBytes : costs.expertPartBytes
        return partBytes.reduce(0) { $0 + transfers.seconds(bytes: Double($1), toHost: false) }
    }

    func activationToHostSeconds(tokens: Int) -> Double {
        transfers.seconds(bytes: Double(tokens * costs.activationBytesPerToken), toHost: true)
    }

    func activationToDeviceSeconds(tokens: Int) -> Double {
        transfers.seconds(bytes: Double(tokens * costs.activationBytesPerToken), toHost: false)
    }

    // MARK: Report

    /// What the policy did.
    func report(config: SimulationConfig, weightsRecorded: Bool, makespanSeconds: Double) -> Report.Miss {
        let approximated = MissActionKind.allCases.contains { $0.approximates && statistics.count($0) > 0 }
        let usedCPU = statistics.count(.cpu) > 0
        return statistics.report(policy: config.miss, routedCells: router.activatedExperts,
                                 massKnown: router.gateStatistics != nil && weightsRecorded,
                                 approximates: policy.requirements.approximates || approximated, lowPrecision: lowPrecisionForm,
                                 usedCPU: usedCPU, makespanSeconds: makespanSeconds, notes: policy.notes + (usedCPU ? [cpuBoundNote] : []))
    }

    /// Why a system that runs experts on the CPU may beat the `oracle` system, which is the best schedule of GPU-only
    /// execution: its experts stream from host DRAM, not over the link.
    private var cpuBoundNote: String {
        let cpu = costs.cpuMemoryBandwidthBytesPerSecond, link = transfers.link.h2dBytesPerSecond
        return String(format: "CPU experts read host memory at %.1f GB/s (achieved) where a load crosses the link at %.1f GB/s: ", cpu / 1e9, link / 1e9)
            + (cpu > link ? "such a system can beat the `oracle` system, the best GPU-only schedule, and that is physical, not an error"
                          : "the link is at least as fast here, so the `oracle` system still bounds it")
    }
}
