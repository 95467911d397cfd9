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
    public internal(set) var now = 0.0
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
    public internal(set) var routedAt = 0.0
    /// When the CPU finishes the work given to it, and when the current layer's CPU results are back (0: none).
    var cpuFree = 0.0
    var layerCPUReady = 0.0
    var currentPass = Pass()
    /// The current pass (from 0) and step (pass x layers + layer).
    public internal(set) var passIndex = -1
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
}
