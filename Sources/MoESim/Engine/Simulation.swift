import Foundation

/// One simulation run: a discrete-event simulation of MoE inference with offloaded experts.
///
/// Resources (SimPy's word, `Topology/`): the GPU compute stream, the host thread (`HostThread`: the runtime's fixed
/// costs are its time, and the GPU cannot run work it has not issued), and the link (`LinkModel`) with a copy engine
/// (`TransferChannel`) per direction, or one shared engine with a single copy engine or a single-stream runtime.
/// A link direction's rate is re-divided whenever the other direction starts or finishes a transfer. Transfers are
/// served FIFO by their engine (or on-demand first, when the prefetch policy asks for a priority link) and signal
/// completion through the event queue. What the software stack does with these (streams, sync points, swap order,
/// refills waiting for write-backs) is declared by the runtime profile (`RuntimeSemantics`), never by its name.
/// The forward pass is the process: it runs kernels on
/// the compute stream in order and, when the next kernel needs weights that have not arrived, it lets simulated
/// time run (processing events) until they do. That wait is the GPU stall the report shows.
///
/// Per pass and MoE layer: attention (+router) on the GPU; at its end the router's choice is known, so gating
/// picks experts, the cache is consulted (hits, prefetch hits, misses that evict and load on demand) and the
/// prefetcher may issue speculative loads; then shared experts and the routed experts run, resident ones first,
/// the rest in the order their weights arrive. Loads overlap with whatever compute precedes their use.
///
/// A miss policy (`--miss`, `MissPolicy`) may serve a miss otherwise: load a low-precision copy (used once from its
/// load buffer, not cached), run the expert on the CPU, skip it, or run a cached substitute. The CPU is a resource
/// with its own timeline: a CPU expert starts when the CPU is free and the tokens' activations have reached the host,
/// and the layer ends when the GPU's experts are done and the CPU's results are back. Activation copies are a few KB:
/// they cost their setup latency and bytes at the link's rate but do not queue on the copy engines. The default
/// policy, `load`, is never asked: the engine then runs exactly as without miss policies.
///
/// An `observer` (`SimulationObserver`) sees every compute slice, stall, transfer and cache decision as it happens
/// (the `--timeline` recorder, the `--check` invariant checker); without one each hook costs a nil test.
public final class Simulation: PrefetchContext, MissContext {
    public let config: SimulationConfig
    public let costs: CostModel
    public let memory: MemoryPlan
    public let layers: Int
    public let experts: Int
    public let cache: ExpertCache
    public let source: PassSource
    let router: PassRouter
    let prefetcher: PrefetchPolicy
    /// The look-ahead stream, when the cache policy reads the future.
    let future: FutureAccesses?
    /// Transfer parts per expert (3 with sub-matrix pipelining, else 1).
    let parts: Int
    let writeBack: Bool

    // What the prefetch policy asked of the engine (`PrefetchEngineOptions`), resolved once.
    let speculates: Bool
    /// Prefetched experts enter the cache when they land (else they wait, staged, for their use).
    let insertsPrefetches: Bool
    /// Queued speculative transfers of a dropped prefetch are cancelled (a software queue, not a CUDA stream).
    let cancelsDroppedPrefetches: Bool
    let preempts: Bool
    let waitsForPreviousPrefetch: Bool
    /// A second router over the current pass, for oracles asking what a later layer will load.
    let lookaheadRouter: PassRouter?

    // What the miss policy asked of the engine, resolved once.
    let missPolicy: MissPolicy
    /// False for `load`: misses take the plain path.
    let asksOnMiss: Bool
    let plansLayers: Bool
    /// The policy's low-precision copy (nil: it never loads one).
    let lowPrecisionForm: ExpertForm?
    /// `lowPrecisionForm != nil`, tested on the per-expert paths.
    let hasLowPrecision: Bool
    /// Experts can run on the CPU: offloaded experts are in host DRAM (not on storage).
    public let cpuAvailable: Bool

    // Clock, events and channels.
    public private(set) var now = 0.0
    var events = EventQueue()
    let channels: [TransferChannel]
    let h2d: TransferChannel
    let d2h: TransferChannel
    /// The link's rates per direction (`LinkModel`); `h2d` and `d2h` are its copy engines.
    public let link: LinkModel
    var h2dBytesPerSecond: Double { link.h2dBytesPerSecond }
    var linkName: String { link.name }
    /// The H2D engine's rate is re-divided whenever the D2H engine starts or finishes a transfer.
    let reratesH2D: Bool

    // Runtime semantics (`RuntimeProfile`), resolved once.
    /// Copies and kernels share one stream: a kernel waits for every copy issued before it, and copies run in issue
    /// order on one queue (both directions).
    let singleStream: Bool
    let swapOrder: SwapOrder
    let refillWaitsForWriteBack: Bool
    /// The host thread's timeline.
    var host: HostThread
    /// Write-backs of each key queued or in flight (a refill of its memory waits for them).
    let writeBacksOutstanding: FixedArray<UInt16>
    /// For each key with an on-demand load not yet issued: the evicted key whose write-back that load waits for (-1: none).
    let refillAfterWriteBackOf: FixedArray<Int32>

    // Per-expert state, indexed by key = layer * experts + expert.
    /// A load-first swap's evicted key, written back once its load is queued (-1: none pending).
    var pendingWriteBack: Int32 = -1
    /// When each transfer part of an expert's weights is on the device (`infinity` while in flight).
    let partArrival: FixedArray<Double>
    let inPrefetchBuffer: FixedArray<Bool>
    /// The step (pass x layers + layer) a staged prefetch is for: dropped unused once that step is over.
    let prefetchTargetStep: FixedArray<Int>
    /// Inserted into the cache by a prefetch (`admit=cache`) and not used since.
    let prefetchedUnused: FixedArray<Bool>
    var prefetchBufferKeys: [Int32] = []
    let prefetchBufferSlots: Int
    /// On-demand loads hold a device buffer from issue until their expert has been computed; at most
    /// `loadBufferSlots` at once (the runtime's buffer pool). Loads beyond that wait here, in order.
    let loadBufferSlots: Int
    var loadBuffersInUse = 0
    var loadsWaitingForBuffer: [Int32] = []
    var loadsWaitingHead = 0
    let holdsLoadBuffer: FixedArray<Bool>
    /// The latest load of each expert (see `Transfer.generation`).
    let loadGeneration: FixedArray<UInt32>
    /// Prefetch staging buffers in use: a buffer is taken at issue and given back once its transfer has landed and
    /// the expert was used or dropped. `stagingReleasePending[key]` is the generation whose arrival frees it.
    var stagingBuffersInUse = 0
    let stagingReleasePending: FixedArray<UInt32>
    static let noPendingRelease = UInt32.max
    /// Routed at the current layer and not computed yet.
    let awaitingCompute: FixedArray<Bool>
    /// A staged expert that took the cache slot of one the current layer has still to run keeps its staging buffer
    /// until that one has run: the slot's weights are needed until then (`arrived`: its transfer has landed). A staged
    /// expert the cache declines keeps its buffer until it has run itself (`victim` = `key`).
    var deferredStagingReleases: [(victim: Int32, key: Int32, arrived: Bool)] = []

    // Scratch reused by every layer of every pass.
    let jobDone: FixedArray<Bool>
    /// The key whose weights job j computes: its own, or a substitute's.
    let jobKey: FixedArray<Int32>
    /// Job j computes a low-precision copy (only with a low-precision miss policy).
    let jobLowPrecision: FixedArray<Bool>
    /// The current on-demand load of each key is a low-precision copy (only with a low-precision miss policy).
    let lowPrecisionLoad: FixedArray<Bool>
    /// Distinct experts routed at the current layer.
    var currentJobs = 0
    /// When the current layer's routing became known.
    public private(set) var routedAt = 0.0
    /// When the CPU finishes the work given to it, and when the current layer's CPU results are back (0: none).
    var cpuFree = 0.0
    var layerCPUReady = 0.0
    var currentPass = Pass()
    /// The current pass (from 0) and step (pass x layers + layer).
    public private(set) var passIndex = -1
    var currentStep = -1
    /// Prefetches issued at this layer and at the previous one (for `waitsForPreviousPrefetch`).
    var issuedThisLayer: [(key: Int32, generation: UInt32)] = []
    var issuedPreviousLayer: [(key: Int32, generation: UInt32)] = []
    /// Accesses made so far: the index of the next one (shared with the look-ahead stream).
    var accessTime = 0

    /// Watches the run (`--timeline`, `--check`); set before `run()`. Nil costs one test per hook.
    public var observer: SimulationObserver?

    // Metrics.
    var metrics = RunMetrics()
    var missStatistics = MissStatistics()
    var tokensSeenByRequest: [Int] = []
    var lastPassEnd = 0.0

    /// A simulation of `config` replaying `source`. Policies that need a profiling or look-ahead pass read
    /// their own copy of the source (`PassSource.reopen`).
    public init(config: SimulationConfig, source: PassSource) throws {
        self.config = config
        self.source = source
        let model = config.model
        try Simulation.checkCompatible(model: model, header: source.header, file: source.sourceName)
        costs = CostModel(hardware: config.hardware, model: model, quantization: config.quantization, runtime: config.runtime)
        let header = source.header
        // Every access stream (the run's, look-ahead, profiling) gets its own instance of the same policy.
        let makeGating = { try gatingPolicies.make(config.gating, model: model, header: header) }
        let gating = try makeGating()
        let prefetcher = try prefetchPolicies.make(config.prefetch, model: model, header: header, seed: config.seed,
                                                   reopenSource: { try source.reopen() }, makeGating: makeGating)
        self.prefetcher = prefetcher
        let prefetchOptions = prefetcher.engine
        speculates = prefetcher.speculates
        insertsPrefetches = speculates && prefetchOptions.admission == .cache
        cancelsDroppedPrefetches = speculates && prefetchOptions.link != .fifo && !insertsPrefetches
        preempts = speculates && prefetchOptions.link == .preempt
        waitsForPreviousPrefetch = speculates && prefetchOptions.waitsForPreviousPrefetch
        lookaheadRouter = speculates ? PassRouter(experts: model.experts, gating: try makeGating()) : nil
        lookaheadRouter?.weightsAreFull = header.weights == .full
        let quantization = config.quantization
        missPolicy = try missPolicies.make(config.miss) { spec in
            MissSetup(spec: spec, model: model, header: header, quantization: quantization, seed: config.seed,
                      reopenSource: { try source.reopen() }, makeGating: makeGating)
        }
        let missNeeds = missPolicy.requirements
        asksOnMiss = !missNeeds.alwaysLoads
        plansLayers = asksOnMiss && missNeeds.plansLayers
        let costModel = costs
        lowPrecisionForm = asksOnMiss ? missNeeds.lowPrecision.map { costModel.form($0) } : nil
        hasLowPrecision = lowPrecisionForm != nil
        cpuAvailable = config.hardware.offloadTier == .host
        let stagingSlots = speculates ? (prefetchOptions.stagingBuffers ?? config.runtime.maxInFlightTransfers.value) : 0
        memory = try MemoryPlan(config: config, costs: costs, stagingBuffers: stagingSlots,
                                allocation: CacheAllocationContext(model: model, topK: header.topK, source: { try source.reopen() },
                                                                   gating: makeGating, gatingText: config.gating))
        layers = model.moeLayers
        experts = model.experts
        let cacheEntry = try cachePolicies.resolve(config.cache.policy, kind: "cache policy")
        let factory = cacheEntry.make
        if insertsPrefetches && factory.needsFuture {
            throw MoESimError(field: "--prefetch", "'\(config.prefetch)': admit=cache inserts experts outside the access stream, which cache policy '\(config.cache.policy)' (it reads the future) cannot score",
                              hint: "use admit=buffer, or another cache policy")
        }
        future = factory.needsFuture
            ? try FutureAccesses(stream: AccessStream(source: try source.reopen(), gating: makeGating()), keySpace: layers * experts,
                                 window: config.lookaheadWindow)
            : nil
        let popularity = factory.needsPopularity
            ? try config.staticProfile.count(AccessStream(source: try source.reopen(), gating: makeGating()), keySpace: layers * experts)
            : nil
        cache = ExpertCache(layers: layers, experts: experts, layout: config.cache.layout, capacities: memory.cacheCapacities,
                            factory: factory, future: future, popularity: popularity)
        // All-resident means every expert is on the device from the start, whatever the fill option says.
        cache.fill(config.cache.capacity == .everything ? .highestIndex : config.initialFill)
        router = PassRouter(experts: experts, gating: gating)
        router.weightsAreFull = header.weights == .full
        if gating.dropsExperts { router.statistics = GatingStatistics(layers: layers, sensitivity: model.gateSensitivity?.values) }
        if asksOnMiss && (missNeeds.gateStatistics || missNeeds.approximates) { router.gateStatistics = LayerGateStatistics(experts: experts) }
        parts = costs.expertPartBytes.count

        let hardware = config.hardware
        let runtime = config.runtime
        singleStream = runtime.streamLayout == .single
        host = HostThread(syncs: runtime.hostSyncPoints)
        swapOrder = runtime.swapCopyOrder
        link = LinkModel(hardware: hardware, pinnedHostCopies: runtime.pinsHostMemory)
        writeBack = !link.isStorage && runtime.writeBackOnEvict.value
        h2d = TransferChannel(name: link.isStorage ? "storage read" : "H2D", discipline: speculates ? prefetchOptions.link : .fifo)
        // One stream orders both directions' copies on one queue, whatever the copy engines could do.
        d2h = link.copyEngines >= 2 && !singleStream ? TransferChannel(name: "D2H") : h2d
        channels = d2h === h2d ? [h2d] : [h2d, d2h]
        reratesH2D = d2h !== h2d && link.h2dDependsOnD2H
        // On one queue a load cannot wait for a write-back queued behind it: the runtime must issue the write-back first.
        refillWaitsForWriteBack = writeBack && runtime.refillWaitsForWriteBack

        let keys = layers * experts
        partArrival = FixedArray(repeating: 0, count: keys * parts)
        inPrefetchBuffer = FixedArray(repeating: false, count: keys)
        prefetchTargetStep = FixedArray(repeating: -1, count: keys)
        prefetchedUnused = FixedArray(repeating: false, count: insertsPrefetches ? keys : 0)
        prefetchBufferSlots = stagingSlots
        loadBufferSlots = config.runtime.maxInFlightTransfers.value
        holdsLoadBuffer = FixedArray(repeating: false, count: keys)
        loadGeneration = FixedArray(repeating: 0, count: keys)
        stagingReleasePending = FixedArray(repeating: Simulation.noPendingRelease, count: keys)
        awaitingCompute = FixedArray(repeating: false, count: keys)
        jobDone = FixedArray(repeating: false, count: experts)
        jobKey = FixedArray(repeating: 0, count: experts)
        jobLowPrecision = FixedArray(repeating: false, count: lowPrecisionForm != nil ? experts : 0)
        lowPrecisionLoad = FixedArray(repeating: false, count: lowPrecisionForm != nil ? keys : 0)
        writeBacksOutstanding = FixedArray(repeating: 0, count: refillWaitsForWriteBack ? keys : 0)
        refillAfterWriteBackOf = FixedArray(repeating: -1, count: refillWaitsForWriteBack ? keys : 0)
        metrics.prepare(layers: layers)
    }

    /// Checks that a trace fits a model before replaying it.
    public static func checkCompatible(model: ModelSpec, header: TraceHeader, file: String) throws {
        func mismatch(_ field: String, _ traceValue: Int, _ modelValue: Int) -> MoESimError {
            MoESimError(file: file, line: header.lineNumber, field: field,
                        "the trace has \(traceValue) but model '\(model.name)' has \(modelValue)",
                        hint: "the header says model \"\(header.model)\"; pick the matching --model")
        }
        guard header.layers == model.moeLayers else { throw mismatch("layers", header.layers, model.moeLayers) }
        guard header.experts == model.experts else { throw mismatch("experts", header.experts, model.experts) }
        guard header.topK == model.topK else { throw mismatch("top_k", header.topK, model.topK) }
        guard header.sharedExperts == model.sharedExperts else { throw mismatch("shared_experts", header.sharedExperts, model.sharedExperts) }
    }

    // MARK: Running

    /// Replays every pass of the source back to back (batch-1 offline replay) and reports.
    public func run() throws -> Report {
        while try source.nextPass(into: &currentPass) {
            try future?.prepare(runPosition: accessTime)
            try execute(currentPass, requests: source.requests)
        }
        finish()
        var report = makeReport(source: source)
        if future?.reachExceeded == true { report.warnings.append(Simulation.lookaheadWarning(config.lookaheadWindow)) }
        if config.beladyReference {
            let replay = CacheOnlyReplay(source: try source.reopen(), gating: config.gating, model: config.model,
                                         initialFill: config.initialFill, lookaheadWindow: config.lookaheadWindow)
            let optimum = try replay.run([.init(policy: "belady", layout: cache.layout, capacities: cache.capacities,
                                                startsFull: config.cache.capacity == .everything)])[0]
            if replay.lookaheadExceeded { report.warnings.append(Simulation.lookaheadWarning(config.lookaheadWindow)) }
            report.cache.beladyHits = optimum.hits
            report.cache.beladyHitRate = optimum.hitRate
            if let opt = optimum.hitRate, let hitRate = report.cache.hitRate { report.cache.gapToBelady = opt - hitRate }
        }
        return report
    }

    /// Runs one pass starting when the previous one ended.
    func execute(_ pass: Pass, requests: [RequestInfo]) throws {
        let passStart = lastPassEnd
        advance(to: passStart)
        host.wait(until: passStart)
        passIndex += 1
        issuedThisLayer.removeAll(keepingCapacity: true)
        metrics.recordPassStart(request: pass.request, at: passStart, phase: pass.phase)
        if let observer {
            let id = pass.request < requests.count ? requests[pass.request].id : "#\(pass.request)"
            observer.observe(.passStarted(PassStart(pass: passIndex, request: pass.request, requestID: id, phase: pass.phase,
                                                    tokens: pass.tokenCount, time: passStart)))
        }
        try trackKVCache(pass, requests: requests)

        var gpuFree = passStart
        var attended = 0
        var kvRead = 0
        let denseLayers = config.model.denseLayers
        let n = pass.tokenCount
        func attention(_ transformerLayer: Int) -> Double {
            attended = 0
            kvRead = 0
            var longest = 0
            for i in 0..<n {
                let ctx = costs.attendedContext(layer: transformerLayer, contextLength: pass.contexts[i])
                attended += ctx
                longest = max(longest, ctx)
            }
            // Decode reads each token's cached context; a prefill batch streams its request's context once.
            kvRead = pass.phase == .decode ? attended - n : max(0, longest - n)
            return costs.attentionSeconds(queryTokens: n, attendedPositions: attended, kvTokensRead: kvRead)
        }
        for layer in 0..<denseLayers {
            let attentionSeconds = attention(layer)
            let ffnSeconds = costs.denseFFNSeconds(tokens: n)
            host.spend(costs.hostLayerSeconds + costs.hostExpertSeconds)
            gpuFree = waitForIssue(gpuFree, layer: -1 - layer)
            if let observer {
                observer.observe(.compute(GPUWork(kind: .attention, start: gpuFree, end: gpuFree + attentionSeconds, layer: -1 - layer, tokens: n)))
                observer.observe(.compute(GPUWork(kind: .denseFFN, start: gpuFree + attentionSeconds, end: gpuFree + attentionSeconds + ffnSeconds,
                                                  layer: -1 - layer, tokens: n)))
            }
            gpuFree += attentionSeconds + ffnSeconds
        }
        for layer in 0..<layers {
            let attentionSeconds = attention(denseLayers + layer)
            // The host issues the layer's attention and router; the GPU runs them once issued (and, on one stream,
            // after every copy issued before them).
            host.spend(costs.hostLayerSeconds)
            gpuFree = waitForIssue(gpuFree, layer: layer)
            if let observer {
                observer.observe(.compute(GPUWork(kind: .attention, start: gpuFree, end: gpuFree + attentionSeconds, layer: layer, tokens: n)))
            }
            gpuFree += attentionSeconds
            advance(to: gpuFree)
            // Reading the router's choice waits for the GPU; loads are issued from then on.
            if host.syncs.syncsEachLayer { host.wait(until: gpuFree) }
            currentStep = passIndex * layers + layer
            let jobs = router.route(pass, layer: layer, observer: cache.observesRouting ? cache.group(ofLayer: layer) : nil)
            if asksOnMiss { beginMissLayer(layer, jobs: jobs, routedAt: gpuFree) }
            for j in 0..<jobs { jobDone[j] = false; access(layer: layer, expert: Int(router.distinct[j]), job: j) }
            if speculates {
                swap(&issuedThisLayer, &issuedPreviousLayer)
                issuedThisLayer.removeAll(keepingCapacity: true)
                if waitsForPreviousPrefetch && !issuedPreviousLayer.isEmpty { gpuFree = waitForPreviousPrefetches(from: gpuFree) }
                prefetcher.afterRouting(layer: layer, context: self)
            }
            let sharedSeconds = costs.sharedExpertsSeconds(tokens: n)
            if sharedSeconds > 0 {
                host.spend(costs.hostExpertSeconds * Double(config.model.sharedExperts))
                gpuFree = waitForIssue(gpuFree, layer: layer)
            }
            if let observer, sharedSeconds > 0 {
                observer.observe(.compute(GPUWork(kind: .sharedExperts, start: gpuFree, end: gpuFree + sharedSeconds, layer: layer, tokens: n)))
            }
            gpuFree += sharedSeconds
            gpuFree = computeExperts(jobs: jobs, layer: layer, from: gpuFree)
            router.clear(jobs)
            if speculates && !insertsPrefetches { discardUnusedPrefetches() }
        }
        let logitTokens = pass.phase == .decode ? n : 1
        let lmHeadSeconds = costs.lmHeadSeconds(logitTokens: logitTokens)
        gpuFree = waitForIssue(gpuFree, layer: -1)
        if let observer {
            observer.observe(.compute(GPUWork(kind: .passOverhead, start: gpuFree, end: gpuFree + lmHeadSeconds, layer: -1, tokens: logitTokens)))
        }
        gpuFree += lmHeadSeconds
        // The host reads the logits (a sync), samples and runs the generation loop; the next pass starts after that.
        host.wait(until: gpuFree)
        host.spend(costs.hostPassSeconds)
        if host.free > gpuFree {
            observer?.observe(.stall(start: gpuFree, end: host.free, layer: -1, expert: -1, cause: .host))
            metrics.hostWaitSeconds += host.free - gpuFree
            gpuFree = host.free
        }
        lastPassEnd = gpuFree
        metrics.recordPass(pass, start: passStart, end: gpuFree, h2dBytesTotal: h2d.bytes(.onDemand) + h2d.bytes(.prefetch))
        observer?.observe(.passEnded(pass: passIndex, start: passStart, end: gpuFree))
    }

    /// One cache access for job `job`: a hit, a prefetch hit (admitted now), or a miss (evict, maybe write back,
    /// load), unless the miss policy serves the miss otherwise.
    func access(layer: Int, expert: Int, job: Int) {
        let key = layer * experts + expert
        let group = cache.group(ofLayer: layer)
        let context = AccessContext(time: accessTime)
        accessTime += 1
        awaitingCompute[key] = true
        jobKey[job] = Int32(key)
        if group.contains(key) {
            group.touch(key, context: context)
            metrics.recordAccess(layer: layer, hit: true)
            observer?.observe(.access(layer: layer, expert: expert, outcome: .hit, time: now))
            if insertsPrefetches && prefetchedUnused[key] {
                prefetchedUnused[key] = false
                metrics.recordPrefetchUse(layer: layer, staged: false, late: false)
            }
            return
        }
        metrics.recordAccess(layer: layer, hit: false)
        if inPrefetchBuffer[key] {
            observer?.observe(.access(layer: layer, expert: expert, outcome: .staged, time: now))
            inPrefetchBuffer[key] = false
            if let i = prefetchBufferKeys.firstIndex(of: Int32(key)) { prefetchBufferKeys.remove(at: i) }
            let late = partArrival[key * parts + parts - 1] > now
            metrics.recordPrefetchUse(layer: layer, staged: true, late: late)
            if late {
                // Now needed: it stops being speculative (and moves to the on-demand queue on a priority link).
                accountContention(h2d)
                if h2d.promote(key: Int32(key), generation: loadGeneration[key]) { preemptIfNeeded(h2d, index: 0) }
            }
            let admission = admit(key, group: group, context: context)
            if admission == .bypassed {
                // Not cached: it runs from its staging buffer, which it keeps until then.
                deferredStagingReleases.append((Int32(key), Int32(key), false))
            } else if !defersStagingRelease(of: key, after: admission, arrived: false) {
                releaseStagingBuffer(key)
            }
            return
        }
        observer?.observe(.access(layer: layer, expert: expert, outcome: .miss, time: now))
        if asksOnMiss && servedWithoutFullLoad(key, layer: layer, expert: expert, job: job) { return }
        admit(key, group: group, context: context, forLoad: true)
        metrics.onDemandLoads += 1
        loadOnDemand(key)
        flushPendingWriteBack()
    }

    /// Starts an on-demand load of `key` into a load buffer, or queues it until one is free.
    func loadOnDemand(_ key: Int) {
        for p in 0..<parts { partArrival[key * parts + p] = .infinity }
        if loadBuffersInUse < loadBufferSlots {
            loadBuffersInUse += 1
            holdsLoadBuffer[key] = true
            load(key, cause: .onDemand)
        } else {
            loadsWaitingForBuffer.append(Int32(key))
        }
    }

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

    /// Inserts `key` into its cache group; an eviction writes the evicted expert back when the runtime swaps. With
    /// `forLoad` (an on-demand load of `key` follows) the swap's two copies go in the runtime's order, and a refill
    /// that reuses the evicted expert's memory waits for its write-back.
    @discardableResult func admit(_ key: Int, group: EvictionPolicy, context: AccessContext, forLoad: Bool = false) -> Admission {
        let admission = group.insert(key, context: context)
        if let observer {
            if case let .admitted(evicted) = admission {
                observer.observe(.cacheInserted(key: key, evicted: evicted, time: now))
            } else {
                observer.observe(.cacheBypassed(key: key, time: now))
            }
        }
        if case let .admitted(evicted?) = admission {
            // An expert a prefetch inserted and nobody used counts as wasted once issued minus used (no flag left behind).
            if insertsPrefetches { prefetchedUnused[evicted] = false }
            if writeBack {
                if forLoad && swapOrder == .loadFirst {
                    pendingWriteBack = Int32(evicted)
                } else {
                    writeBackExpert(evicted)
                }
                if forLoad && refillWaitsForWriteBack { refillAfterWriteBackOf[key] = Int32(evicted) }
            }
        }
        return admission
    }

    /// Queues the write-back of an evicted expert on the device-to-host engine.
    func writeBackExpert(_ evicted: Int) {
        if refillWaitsForWriteBack { writeBacksOutstanding[evicted] += 1 }
        enqueue(Transfer(key: Int32(evicted), part: 0, bytes: costs.expertBytes(layer: evicted / experts), cause: .writeBack, toHost: true), on: d2h)
    }

    /// A load-first swap's write-back goes out once the load it belongs to has been queued (or right away when the
    /// admission was not for an on-demand load).
    func flushPendingWriteBack() {
        guard pendingWriteBack >= 0 else { return }
        let evicted = Int(pendingWriteBack)
        pendingWriteBack = -1
        writeBackExpert(evicted)
    }

    func load(_ key: Int, cause: TransferCause) {
        loadGeneration[key] &+= 1
        observer?.observe(.loadIssued(key: key, cause: cause, generation: loadGeneration[key], time: now))
        if hasLowPrecision && cause == .onDemand && lowPrecisionLoad[key], let form = lowPrecisionForm {
            for p in 0..<parts {
                partArrival[key * parts + p] = .infinity
                enqueue(Transfer(key: Int32(key), part: Int8(p), bytes: form.partBytes[p], cause: cause, toHost: false,
                                 generation: loadGeneration[key]), on: h2d)
            }
            return
        }
        var afterWriteBackOf: Int32 = -1
        if refillWaitsForWriteBack && cause == .onDemand {
            afterWriteBackOf = refillAfterWriteBackOf[key]
            refillAfterWriteBackOf[key] = -1
        }
        let partBytes = costs.expertPartBytes(layer: key / experts)
        for p in 0..<parts {
            partArrival[key * parts + p] = .infinity
            enqueue(Transfer(key: Int32(key), part: Int8(p), bytes: partBytes[p], cause: cause, toHost: false,
                             speculative: cause == .prefetch, generation: loadGeneration[key], afterWriteBackOf: afterWriteBackOf), on: h2d)
        }
    }

    /// Whether `key`'s admission evicted an expert the current layer has still to run from its slot; if so, `key`
    /// keeps its staging buffer until that expert has run (then `releaseDeferredStaging`). An evicted expert that
    /// came by an on-demand load is still in its load buffer and needs nothing kept.
    func defersStagingRelease(of key: Int, after admission: Admission, arrived: Bool) -> Bool {
        guard case let .admitted(evicted?) = admission, awaitingCompute[evicted], !holdsLoadBuffer[evicted] else { return false }
        deferredStagingReleases.append((Int32(evicted), Int32(key), arrived))
        return true
    }

    /// `victim` has run: staging buffers kept for its slot are given back.
    func releaseDeferredStaging(after victim: Int) {
        deferredStagingReleases.removeAll { entry in
            guard Int(entry.victim) == victim else { return false }
            if entry.arrived {
                stagingBuffersInUse -= 1
                observer?.observe(.stagingBufferReleased(key: Int(entry.key), time: now))
            } else {
                releaseStagingBuffer(Int(entry.key))
            }
            return true
        }
    }

    /// Gives a prefetch staging buffer back now if its expert has landed, else when it lands.
    func releaseStagingBuffer(_ key: Int) {
        observer?.observe(.stagingBufferReleased(key: key, time: now))
        if partArrival[key * parts + parts - 1] <= now {
            stagingBuffersInUse -= 1
        } else {
            stagingReleasePending[key] = loadGeneration[key]
        }
    }

    /// Runs the layer's expert jobs on the compute stream: any job whose weights have arrived goes first,
    /// in access order; when none has, the stream waits for the next arrival.
    func computeExperts(jobs: Int, layer: Int, from start: Double) -> Double {
        var gpuFree = start
        // Jobs a miss policy ran on the CPU or skipped are done already.
        var remaining = 0
        for j in 0..<jobs where !jobDone[j] { remaining += 1 }
        while remaining > 0 {
            advance(to: gpuFree)
            let horizon = max(gpuFree, now)
            // Experts whose weights are all present go first; then one whose first part has arrived (pipelining).
            var pick = -1
            for j in 0..<jobs where !jobDone[j] {
                if partArrival[Int(jobKey[j]) * parts + parts - 1] <= horizon { pick = j; break }
            }
            if pick < 0 && parts > 1 {
                for j in 0..<jobs where !jobDone[j] {
                    if partArrival[Int(jobKey[j]) * parts] <= horizon { pick = j; break }
                }
            }
            if pick < 0 {
                precondition(!events.isEmpty, "internal error: the GPU waits for weights no transfer will deliver")
                processNextEvent()
                continue
            }
            let e = Int(router.distinct[pick])
            // The host issues the expert (after waiting for the GPU where the runtime syncs per expert); on one stream
            // the kernel also waits for every copy issued before it.
            if host.syncs.syncsEachExpert {
                var sync = max(host.free, singleStream ? streamTail(after: gpuFree) : gpuFree)
                let weights = weightsArrival(of: Int(jobKey[pick]))
                if weights > sync {
                    // The read waits for this expert's weights: the GPU idles for want of them, not of the host.
                    if weights > gpuFree {
                        observer?.observe(.stall(start: gpuFree, end: weights, layer: layer, expert: Int(jobKey[pick]) - layer * experts, cause: .weights))
                        metrics.gpuStallSeconds += weights - gpuFree
                        gpuFree = weights
                    }
                    sync = weights
                }
                host.wait(until: sync)
            }
            host.spend(costs.hostExpertSeconds)
            gpuFree = waitForIssue(gpuFree, layer: layer)
            // The weights computed: the routed expert's own, or a substitute's.
            let key = Int(jobKey[pick])
            let weightsExpert = key - layer * experts
            let lowPrecision = hasLowPrecision && jobLowPrecision[pick]
            let tokens = Int(router.tokensPerExpert[e])
            for p in 0..<parts {
                let index = key * parts + p
                while partArrival[index] == .infinity {
                    precondition(!events.isEmpty, "internal error: the GPU waits for weights no transfer will deliver")
                    processNextEvent()
                }
                let ready = max(gpuFree, partArrival[index])
                metrics.gpuStallSeconds += ready - gpuFree
                let computeSeconds = lowPrecision ? costs.expertPartSeconds(tokens: tokens, part: p, form: lowPrecisionForm!)
                    : costs.expertPartSeconds(tokens: tokens, part: p)
                if let observer {
                    if ready > gpuFree { observer.observe(.stall(start: gpuFree, end: ready, layer: layer, expert: weightsExpert, cause: .weights)) }
                    observer.observe(.compute(GPUWork(kind: .expert, start: ready, end: ready + computeSeconds, layer: layer, expert: weightsExpert,
                                                      part: p, tokens: tokens, substituteFor: weightsExpert == e ? -1 : e, lowPrecision: lowPrecision)))
                }
                gpuFree = ready + computeSeconds
            }
            if lowPrecision { jobLowPrecision[pick] = false }
            jobDone[pick] = true
            remaining -= 1
            awaitingCompute[key] = false
            if !deferredStagingReleases.isEmpty { releaseDeferredStaging(after: key) }
            if holdsLoadBuffer[key] {
                observer?.observe(.loadBufferReleased(key: key, time: gpuFree))
                holdsLoadBuffer[key] = false
                events.schedule(at: gpuFree, kind: .bufferReleased, channel: -1)
            }
        }
        // The layer's output needs the CPU's experts too (zero when none ran there).
        if layerCPUReady > gpuFree {
            observer?.observe(.stall(start: gpuFree, end: layerCPUReady, layer: layer, expert: -1, cause: .cpu))
            metrics.gpuStallSeconds += layerCPUReady - gpuFree
            missStatistics.cpuWaitSeconds += layerCPUReady - gpuFree
            gpuFree = layerCPUReady
        }
        return gpuFree
    }

    /// When the GPU can start the next piece of work the host is issuing now (at `host.free`): not before it is issued,
    /// and on one stream not before every copy issued earlier has finished. The gap is a stall (host or stream).
    func waitForIssue(_ gpuFree: Double, layer: Int) -> Double {
        var start = gpuFree
        if singleStream {
            let copies = streamTail(after: gpuFree)
            if copies > start {
                observer?.observe(.stall(start: start, end: copies, layer: layer, expert: -1, cause: .stream))
                metrics.gpuStallSeconds += copies - start
                start = copies
            }
        }
        if host.free > start {
            observer?.observe(.stall(start: start, end: host.free, layer: layer, expert: -1, cause: .host))
            metrics.hostWaitSeconds += host.free - start
            start = host.free
        }
        return start
    }

    /// When all of `key`'s weights are on the device (processing events until its last part lands). The per-expert
    /// host read comes after the stream was told to wait for the expert's copy (the expert is handed to the host loop
    /// once its load is queued), so that read waits for the weights too.
    func weightsArrival(of key: Int) -> Double {
        let last = key * parts + parts - 1
        while partArrival[last] == .infinity {
            precondition(!events.isEmpty, "internal error: the host waits for weights no transfer will deliver")
            processNextEvent()
        }
        return partArrival[last]
    }

    /// One stream: when every copy issued so far has finished (processing their events), or `gpuFree` if later.
    /// Loads still waiting for a buffer have not been issued and are not waited for.
    func streamTail(after gpuFree: Double) -> Double {
        var tail = gpuFree
        while channels.contains(where: { !$0.isIdle || $0.waiting > 0 }) {
            guard !events.isEmpty else { break }
            processNextEvent()
            tail = max(tail, now)
        }
        return tail
    }

    /// Drops staged prefetches whose step is over, unused (`admit=buffer`, AdapMoE's `release()`).
    func discardUnusedPrefetches() {
        guard !prefetchBufferKeys.isEmpty else { return }
        prefetchBufferKeys.removeAll { k in
            let key = Int(k)
            guard prefetchTargetStep[key] <= currentStep else { return false }
            inPrefetchBuffer[key] = false
            observer?.observe(.prefetchDropped(key: key, time: now))
            dropStaged(key)
            return true
        }
    }

    /// Gives back a dropped prefetch's staging buffer; on a priority link its transfers that have not started are
    /// cancelled first (the buffer is free at once when its last part never starts).
    func dropStaged(_ key: Int) {
        if cancelsDroppedPrefetches {
            let generation = loadGeneration[key]
            let removed = h2d.cancelQueued { $0.key == Int32(key) && $0.generation == generation && $0.cause == .prefetch && !$0.toHost }
            if let observer { for t in removed { observer.observe(.transferCancelled(transfer: t, time: now)) } }
            if !removed.isEmpty {
                metrics.recordPrefetchCancelled(layer: key / experts, bytes: Double(removed.reduce(0) { $0 + $1.bytes }))
            }
            // Parts start in order, so when the last one was cancelled nothing more will land for this load.
            if removed.contains(where: { Int($0.part) == parts - 1 }) {
                stagingBuffersInUse -= 1
                observer?.observe(.stagingBufferReleased(key: key, time: now))
                loadGeneration[key] &+= 1
                for p in 0..<parts { partArrival[key * parts + p] = 0 }
                return
            }
        }
        releaseStagingBuffer(key)
    }

    /// The GPU waits for the prefetches issued at the previous layer to land (AdapMoE's cudaEvent wait).
    func waitForPreviousPrefetches(from start: Double) -> Double {
        var ready = start
        for (k, generation) in issuedPreviousLayer {
            let key = Int(k)
            let last = key * parts + parts - 1
            while loadGeneration[key] == generation && partArrival[last] == .infinity && !events.isEmpty { processNextEvent() }
            if loadGeneration[key] == generation && partArrival[last] != .infinity { ready = max(ready, partArrival[last]) }
        }
        metrics.gpuStallSeconds += ready - start
        metrics.prefetchWaitSeconds += ready - start
        if let observer, ready > start {
            observer.observe(.stall(start: start, end: ready, layer: currentStep - passIndex * layers, expert: -1, cause: .previousPrefetches))
        }
        return ready
    }

    /// A prefetched expert landed with `admit=cache`: it enters the cache now, evicting by the cache policy.
    func insertArrivedPrefetch(_ key: Int) {
        inPrefetchBuffer[key] = false
        if let i = prefetchBufferKeys.firstIndex(of: Int32(key)) { prefetchBufferKeys.remove(at: i) }
        let admission = admit(key, group: cache.group(ofLayer: key / experts), context: AccessContext(time: accessTime))
        if case .admitted = admission { prefetchedUnused[key] = true }
        if !defersStagingRelease(of: key, after: admission, arrived: true) {
            stagingBuffersInUse -= 1
            observer?.observe(.stagingBufferReleased(key: key, time: now))
        }
    }

    func trackKVCache(_ pass: Pass, requests: [RequestInfo]) throws {
        var longest = 0
        for i in 0..<pass.tokenCount { longest = max(longest, pass.contexts[i]) }
        // Batch-1 replay keeps one request's KV cache at a time.
        let kvBytes = Double(longest * costs.kvCacheBytesPerToken)
        metrics.peakKVCacheBytes = max(metrics.peakKVCacheBytes, kvBytes)
        let used = memory.residentWeightBytes + memory.expertCacheBytes + memory.transferBufferBytes + memory.runtimeReservedBytes + kvBytes
        if used > memory.deviceCapacityBytes {
            let id = pass.request < requests.count ? requests[pass.request].id : "#\(pass.request)"
            throw MoESimError("out of device memory: request \"\(id)\" at context \(longest) needs \(ByteSize.format(kvBytes)) of KV cache, \(ByteSize.format(used)) in all of \(ByteSize.format(memory.deviceCapacityBytes))",
                              hint: "use a smaller cache or raise --kv-reserve-tokens so `fit` leaves room")
        }
    }

    // MARK: Events and channels

    /// Processes every event up to time `t`, then moves the clock to `t`.
    func advance(to t: Double) {
        while let next = events.nextTime, next <= t { processNextEvent() }
        if t > now { now = t }
    }

    func processNextEvent() {
        guard let event = events.pop() else { return }
        observer?.observe(.eventProcessed(due: event.time, clock: now))
        if event.time > now { now = event.time }
        if event.kind == .bufferReleased {
            loadBuffersInUse -= 1
            if loadsWaitingHead < loadsWaitingForBuffer.count {
                let key = Int(loadsWaitingForBuffer[loadsWaitingHead])
                loadsWaitingHead += 1
                if loadsWaitingHead == loadsWaitingForBuffer.count {
                    loadsWaitingForBuffer.removeAll(keepingCapacity: true)
                    loadsWaitingHead = 0
                }
                loadBuffersInUse += 1
                holdsLoadBuffer[key] = true
                load(key, cause: .onDemand)
            }
            return
        }
        let index = Int(event.channel)
        let channel = channels[index]
        // A preempted or re-rated transfer's old completion is stale.
        if (preempts || reratesH2D) && !channel.isCurrent(epoch: event.epoch, time: event.time) { return }
        if speculates { accountContention(channel) }
        let transfer = channel.finish()
        observer?.observe(.transferEnded(channel: index, transfer: transfer, time: event.time, bytesMoved: transfer.bytes, preempted: false))
        if transfer.toHost && refillWaitsForWriteBack {
            writeBacksOutstanding[Int(transfer.key)] -= 1
            if h2d !== channel && h2d.isIdle { startNext(on: h2d, index: 0) }
        }
        let key = Int(transfer.key)
        if !transfer.toHost && transfer.generation == loadGeneration[key] {
            partArrival[key * parts + Int(transfer.part)] = event.time
        }
        if !transfer.toHost && Int(transfer.part) == parts - 1 {
            if stagingReleasePending[key] == transfer.generation {
                stagingReleasePending[key] = Simulation.noPendingRelease
                stagingBuffersInUse -= 1
            } else if insertsPrefetches && transfer.cause == .prefetch && transfer.generation == loadGeneration[key] && inPrefetchBuffer[key] {
                insertArrivedPrefetch(key)
            }
        }
        startNext(on: channel, index: index)
        if channel === d2h && reratesH2D { rerateH2D() }
    }

    /// The D2H engine started or finished a transfer: the H2D transfer in flight drains at the rate the link now
    /// gives it, from this instant (links whose directions share bandwidth, nvbandwidth #53, peers.md §3.2).
    func rerateH2D() {
        guard let end = h2d.rerate(at: now, bytesPerSecond: currentH2DRate) else { return }
        if let observer, let active = h2d.active { observer.observe(.transferRerated(channel: 0, transfer: active, time: now, end: end)) }
        events.schedule(at: end, kind: .transferDone, channel: 0, epoch: h2d.epoch)
    }

    /// The H2D rate now: slower while a D2H transfer runs on a link whose directions share bandwidth.
    var currentH2DRate: Double { link.h2dRate(d2hBusy: reratesH2D && !d2h.isIdle) }

    func enqueue(_ transfer: Transfer, on channel: TransferChannel) {
        let index = channel === h2d ? 0 : 1
        if speculates { accountContention(channel) }
        channel.append(transfer)
        if channel.isIdle {
            startNext(on: channel, index: index)
        } else if preempts && !transfer.speculative {
            preemptIfNeeded(channel, index: index)
        }
    }

    /// On a `preempt` link, an on-demand transfer waiting behind a speculative one in flight suspends it.
    func preemptIfNeeded(_ channel: TransferChannel, index: Int) {
        guard preempts, channel.shouldPreempt else { return }
        accountContention(channel)
        let suspended = channel.active!
        let bytesBefore = channel.bytes(suspended.cause)
        if channel.preempt(at: now) {
            if let observer {
                // The channel takes back the bytes it will move again when the rest resumes.
                let remaining = Int((bytesBefore - channel.bytes(suspended.cause)).rounded())
                observer.observe(.transferEnded(channel: index, transfer: suspended, time: now, bytesMoved: suspended.bytes - remaining, preempted: true))
            }
            metrics.preemptions += 1
            startNext(on: channel, index: index)
        }
    }

    func startNext(on channel: TransferChannel, index: Int) {
        guard channel.isIdle else { return }
        if speculates { accountContention(channel) }
        // A refill of an evicted expert's memory waits, at the head of its queue, for that memory's write-back.
        if refillWaitsForWriteBack, let head = channel.peek(), head.afterWriteBackOf >= 0, writeBacksOutstanding[Int(head.afterWriteBackOf)] > 0 { return }
        guard let transfer = channel.dequeue() else { return }
        // Simultaneous traffic the other way slows H2D on links that contend; the rate is re-divided whenever the other
        // direction starts or finishes (`rerateH2D`), so no rate is fixed for a transfer's whole length.
        let rate = transfer.toHost ? link.d2hBytesPerSecond : currentH2DRate
        let end = channel.begin(transfer, at: now, setup: link.setupSeconds, bytesPerSecond: rate)
        observer?.observe(.transferStarted(channel: index, transfer: transfer, start: now, end: end))
        events.schedule(at: end, kind: .transferDone, channel: Int32(index), epoch: channel.epoch)
        if channel === d2h && reratesH2D { rerateH2D() }
    }

    /// Link contention caused by speculation: time during which an on-demand load waited in a channel's queue while
    /// that channel moved a speculative transfer, charged to the layer of the speculative expert. Called before every
    /// change of a channel's queue or transfer in flight.
    @inline(__always) func accountContention(_ channel: TransferChannel) {
        if channel.onDemandWaiting > 0, let active = channel.active, active.speculative, now > channel.contentionMark {
            metrics.recordContention(layer: Int(active.key) / experts, seconds: now - channel.contentionMark)
        }
        channel.contentionMark = now
    }

    /// Lets outstanding transfers finish (their time counts in the makespan).
    func finish() {
        metrics.finishRequests()
        while !events.isEmpty { processNextEvent() }
        metrics.makespanSeconds = max(lastPassEnd, now)
    }

    // MARK: PrefetchContext

    public var passTokens: ArraySlice<TokenRecord> { currentPass.validTokens }
    public var passPhase: Phase { currentPass.phase }

    public func isAvailable(layer: Int, expert: Int) -> Bool {
        let key = layer * experts + expert
        return cache.contains(key) || inPrefetchBuffer[key]
    }

    public var freeStagingBuffers: Int { prefetchBufferSlots - stagingBuffersInUse }

    public func routedExperts(layer: Int) -> [Int32] {
        guard let router = lookaheadRouter, layer >= 0, layer < layers else { return [] }
        let n = router.route(currentPass, layer: layer, observer: nil)
        let experts = (0..<n).map { router.distinct[$0] }
        router.clear(n)
        return experts
    }

    @discardableResult public func prefetch(layer: Int, expert: Int, passesAhead: Int) -> Bool {
        let key = layer * experts + expert
        let step = (passIndex + passesAhead) * layers + layer
        // Not for a step already running or over; not for an expert cached, staged or still arriving.
        guard speculates, layer >= 0, layer < layers, expert >= 0, expert < experts, step > currentStep,
              stagingBuffersInUse < prefetchBufferSlots, !cache.contains(key), !inPrefetchBuffer[key],
              stagingReleasePending[key] == Simulation.noPendingRelease, partArrival[key * parts + parts - 1] != .infinity else { return false }
        stagingBuffersInUse += 1
        inPrefetchBuffer[key] = true
        prefetchTargetStep[key] = step
        prefetchBufferKeys.append(Int32(key))
        metrics.recordPrefetchIssued(layer: layer)
        load(key, cause: .prefetch)
        if waitsForPreviousPrefetch { issuedThisLayer.append((Int32(key), loadGeneration[key])) }
        return true
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

    // MARK: Report

    func makeReport(source: PassSource) -> Report {
        metrics.report(simulation: self, source: source)
    }

    static func lookaheadWarning(_ window: Int) -> String {
        "the trace is longer than Belady's look-ahead of \(window) accesses: next uses farther ahead count as never, so Belady's hit rate may be understated"
    }

    /// Routed (token, layer) cells and the experts gating kept for them.
    var routedTokenLayers: Int { router.tokenLayers }
    var activatedExperts: Int { router.activatedExperts }
    var recordedExperts: Int { router.recordedExperts }
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

    /// What a dropping gating policy did; nil for exact replay.
    var gatingReport: Report.Gating? {
        router.statistics?.report(policy: config.gating, recordedExperts: router.recordedExperts, activatedExperts: router.activatedExperts,
                                  weightsRecorded: source.header.weights != .none)
    }
}
