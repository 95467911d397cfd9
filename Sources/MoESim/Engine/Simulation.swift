import Foundation

/// One simulation run: a discrete-event simulation of MoE inference with offloaded experts. This type is the
/// per-layer executor; the resources it drives are their own types:
///
/// - the transfer manager (`TransferManager`): the link (`LinkModel`) and its copy engines (`TransferChannel`), the
///   clock and the run's one event heap, load and staging buffers, load generations and swaps;
/// - the host thread (`HostThread`): the runtime's fixed costs are its time, and the GPU cannot run work it has not
///   issued;
/// - the miss executor (`MissExecutor`) with the host's CPU cores (`HostCPU`), for what a miss policy decides;
/// - the GPU compute stream: `gpuFree`, the time the stream has run to, threaded through the pass.
///
/// What the software stack does with these (streams, sync points, swap order, refills waiting for write-backs) is
/// declared by the runtime profile (`RuntimeSemantics`), never by its name. The forward pass is the process: it
/// runs kernels on the compute stream in order and, when the next kernel needs weights that have not arrived, it
/// lets simulated time run (the transfer manager processes events) until they do. That wait is the GPU stall the
/// report shows.
///
/// Per pass and MoE layer: attention (+router) on the GPU; at its end the router's choice is known, so gating
/// picks experts, the cache is consulted (hits, prefetch hits, misses that evict and load on demand) and the
/// prefetcher may issue speculative loads; then shared experts and the routed experts run, resident ones first,
/// the rest in the order their weights arrive. Loads overlap with whatever compute precedes their use.
///
/// Drivers hand it passes: `run()` replays a `PassSource` back to back (batch-1 trace replay); `execute(_:requests:)`
/// runs one pass after the previous one.
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

    // Resources.
    let transfers: TransferManager
    let miss: MissExecutor
    /// The host thread's timeline.
    var host: HostThread
    /// The current layer's expert jobs.
    let jobs: LayerJobs

    // What the prefetch policy asked of the engine (`PrefetchEngineOptions`), resolved once.
    let speculates: Bool
    /// Prefetched experts enter the cache when they land (else they wait, staged, for their use).
    let insertsPrefetches: Bool
    let waitsForPreviousPrefetch: Bool
    /// A second router over the current pass, for oracles asking what a later layer will load.
    let lookaheadRouter: PassRouter?

    // What the miss policy asked of the engine, resolved once.
    /// False for `load`: misses take the plain path.
    let asksOnMiss: Bool
    /// `lowPrecisionForm != nil`, tested on the per-expert paths.
    let hasLowPrecision: Bool
    var lowPrecisionForm: ExpertForm? { miss.lowPrecisionForm }

    /// Copies and kernels share one stream: a kernel waits for every copy issued before it, and copies run in issue
    /// order on one queue (both directions).
    let singleStream: Bool

    /// The clock (the transfer manager's: events move it).
    public var now: Double { transfers.now }
    var link: LinkModel { transfers.link }
    var h2dBytesPerSecond: Double { transfers.link.h2dBytesPerSecond }
    var linkName: String { transfers.linkName }
    var channels: [TransferChannel] { transfers.channels }
    var writeBack: Bool { transfers.writeBack }

    // Speculative loads on the executor's side, per key = layer * experts + expert.
    let inPrefetchBuffer: FixedArray<Bool>
    /// The step (pass x layers + layer) a staged prefetch is for: dropped unused once that step is over.
    let prefetchTargetStep: FixedArray<Int>
    /// Inserted into the cache by a prefetch (`admit=cache`) and not used since.
    let prefetchedUnused: FixedArray<Bool>
    var prefetchBufferKeys: [Int32] = []
    /// A staged expert that took the cache slot of one the current layer has still to run keeps its staging buffer
    /// until that one has run: the slot's weights are needed until then (`arrived`: its transfer has landed). A staged
    /// expert the cache declines keeps its buffer until it has run itself (`victim` = `key`).
    var deferredStagingReleases: [(victim: Int32, key: Int32, arrived: Bool)] = []
    /// Prefetches issued at this layer and at the previous one (for `waitsForPreviousPrefetch`).
    var issuedThisLayer: [(key: Int32, generation: UInt32)] = []
    var issuedPreviousLayer: [(key: Int32, generation: UInt32)] = []

    /// Distinct experts routed at the current layer.
    var currentJobs = 0
    var currentPass = Pass()
    /// The current pass (from 0) and step (pass x layers + layer).
    public internal(set) var passIndex = -1
    var currentStep = -1
    /// Accesses made so far: the index of the next one (shared with the look-ahead stream).
    var accessTime = 0

    /// Watches the run (`--timeline`, `--check`); set before `run()`. Nil costs one test per hook.
    public var observer: SimulationObserver? {
        didSet {
            transfers.observer = observer
            miss.observer = observer
        }
    }

    // Metrics.
    var metrics = RunMetrics()
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
        waitsForPreviousPrefetch = speculates && prefetchOptions.waitsForPreviousPrefetch
        lookaheadRouter = speculates ? PassRouter(experts: model.experts, gating: try makeGating()) : nil
        lookaheadRouter?.weightsAreFull = header.weights == .full
        let quantization = config.quantization
        let missPolicy = try missPolicies.make(config.miss) { spec in
            MissSetup(spec: spec, model: model, header: header, quantization: quantization, seed: config.seed,
                      reopenSource: { try source.reopen() }, makeGating: makeGating)
        }
        let missNeeds = missPolicy.requirements
        asksOnMiss = !missNeeds.alwaysLoads
        let costModel = costs
        let lowPrecisionForm = asksOnMiss ? missNeeds.lowPrecision.map { costModel.form($0) } : nil
        hasLowPrecision = lowPrecisionForm != nil
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

        let runtime = config.runtime
        singleStream = runtime.streamLayout == .single
        host = HostThread(syncs: runtime.hostSyncPoints)
        let keys = layers * experts
        transfers = TransferManager(link: LinkModel(hardware: config.hardware, pinnedHostCopies: runtime.pinsHostMemory), runtime: runtime,
                                    costs: costs, layers: layers, experts: experts, prefetch: speculates ? prefetchOptions : nil,
                                    stagingBuffers: stagingSlots, lowPrecisionForm: lowPrecisionForm)
        jobs = LayerJobs(experts: experts, keys: keys, lowPrecision: lowPrecisionForm != nil)
        miss = MissExecutor(policy: missPolicy, lowPrecisionForm: lowPrecisionForm, cpuAvailable: config.hardware.offloadTier == .host,
                            costs: costs, transfers: transfers, jobs: jobs, router: router, cache: cache, experts: experts)
        inPrefetchBuffer = FixedArray(repeating: false, count: keys)
        prefetchTargetStep = FixedArray(repeating: -1, count: keys)
        prefetchedUnused = FixedArray(repeating: false, count: insertsPrefetches ? keys : 0)
        metrics.prepare(layers: layers)
        transfers.arrivals = self
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
        // The reference optimum is a cache-only replay of its own copy of the trace: it runs on another core meanwhile.
        let optimumRun: BackgroundResult<(CacheOnlyReplay.Result, lookaheadExceeded: Bool)>?
        if config.beladyReference {
            let replay = CacheOnlyReplay(source: try source.reopen(), gating: config.gating, model: config.model,
                                         initialFill: config.initialFill, lookaheadWindow: config.lookaheadWindow)
            let configuration = CacheOnlyReplay.Configuration(policy: "belady", layout: cache.layout, capacities: cache.capacities,
                                                              startsFull: config.cache.capacity == .everything)
            optimumRun = BackgroundResult { (try replay.run([configuration])[0], replay.lookaheadExceeded) }
        } else {
            optimumRun = nil
        }
        while try source.nextPass(into: &currentPass) {
            try future?.prepare(runPosition: accessTime)
            try execute(currentPass, requests: source.requests)
        }
        finish()
        var report = makeReport(source: source)
        if future?.reachExceeded == true { report.warnings.append(Simulation.lookaheadWarning(config.lookaheadWindow)) }
        if let optimumRun {
            let (optimum, lookaheadExceeded) = try optimumRun.value()
            if lookaheadExceeded { report.warnings.append(Simulation.lookaheadWarning(config.lookaheadWindow)) }
            report.cache.beladyHits = optimum.hits
            report.cache.beladyHitRate = optimum.hitRate
            if let opt = optimum.hitRate, let hitRate = report.cache.hitRate { report.cache.gapToBelady = opt - hitRate }
        }
        return report
    }

    /// Runs one pass starting when the previous one ended.
    func execute(_ pass: Pass, requests: [RequestInfo]) throws {
        let passStart = lastPassEnd
        transfers.advance(to: passStart)
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
        let denseLayers = config.model.denseLayers
        let n = pass.tokenCount
        for layer in 0..<denseLayers {
            let attentionSeconds = self.attentionSeconds(pass, transformerLayer: layer)
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
            let attentionSeconds = self.attentionSeconds(pass, transformerLayer: denseLayers + layer)
            // The host issues the layer's attention and router; the GPU runs them once issued (and, on one stream,
            // after every copy issued before them).
            host.spend(costs.hostLayerSeconds)
            gpuFree = waitForIssue(gpuFree, layer: layer)
            if let observer {
                observer.observe(.compute(GPUWork(kind: .attention, start: gpuFree, end: gpuFree + attentionSeconds, layer: layer, tokens: n)))
            }
            gpuFree += attentionSeconds
            transfers.advance(to: gpuFree)
            // Reading the router's choice waits for the GPU; loads are issued from then on.
            if host.syncs.syncsEachLayer { host.wait(until: gpuFree) }
            currentStep = passIndex * layers + layer
            let jobs = router.route(pass, layer: layer, observer: cache.observesRouting ? cache.group(ofLayer: layer) : nil)
            currentJobs = jobs
            if asksOnMiss { miss.beginLayer(layer, routedAt: gpuFree, context: self) }
            for j in 0..<jobs { self.jobs.done[j] = false; access(layer: layer, expert: Int(router.distinct[j]), job: j) }
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
        metrics.recordPass(pass, start: passStart, end: gpuFree, h2dBytesTotal: transfers.h2d.bytes(.onDemand) + transfers.h2d.bytes(.prefetch))
        observer?.observe(.passEnded(pass: passIndex, start: passStart, end: gpuFree))
    }

    /// Attention (+router, norms) of one transformer layer for `pass`: each token attends to its context (capped on
    /// sliding-window layers). Decode reads each token's cached context; a prefill batch streams its request's
    /// context once.
    func attentionSeconds(_ pass: Pass, transformerLayer: Int) -> Double {
        let n = pass.tokenCount
        var attended = 0
        var longest = 0
        for i in 0..<n {
            let context = costs.attendedContext(layer: transformerLayer, contextLength: pass.contexts[i])
            attended += context
            longest = max(longest, context)
        }
        let kvRead = pass.phase == .decode ? attended - n : max(0, longest - n)
        return costs.attentionSeconds(queryTokens: n, attendedPositions: attended, kvTokensRead: kvRead)
    }

    /// One cache access for job `job`: a hit, a prefetch hit (admitted now), or a miss (evict, maybe write back,
    /// load), unless the miss policy serves the miss otherwise.
    func access(layer: Int, expert: Int, job: Int) {
        let key = layer * experts + expert
        let group = cache.group(ofLayer: layer)
        let context = AccessContext(time: accessTime)
        accessTime += 1
        jobs.awaitingCompute[key] = true
        jobs.key[job] = Int32(key)
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
            let late = transfers.lastPartArrival(key) > now
            metrics.recordPrefetchUse(layer: layer, staged: true, late: late)
            if late {
                // Now needed: it stops being speculative (and moves to the on-demand queue on a priority link).
                transfers.promote(key)
            }
            let admission = admit(key, group: group, context: context)
            if admission == .bypassed {
                // Not cached: it runs from its staging buffer, which it keeps until then.
                deferredStagingReleases.append((Int32(key), Int32(key), false))
            } else if !defersStagingRelease(of: key, after: admission, arrived: false) {
                transfers.releaseStagingBuffer(key)
            }
            return
        }
        observer?.observe(.access(layer: layer, expert: expert, outcome: .miss, time: now))
        if asksOnMiss {
            switch miss.serve(key: key, layer: layer, expert: expert, job: job, context: self) {
            case .load: break
            case .loadedLowPrecision: metrics.onDemandLoads += 1; return
            case .served: return
            }
        }
        admit(key, group: group, context: context, forLoad: true)
        metrics.onDemandLoads += 1
        transfers.loadOnDemand(key)
    }

    /// Inserts `key` into its cache group; an eviction hands the evicted expert to the transfer manager (a write-back
    /// when the runtime swaps). With `forLoad` an on-demand load of `key` follows and reuses the evicted expert's memory.
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
            transfers.evicted(evicted, refill: forLoad ? key : nil)
        }
        return admission
    }

    /// Runs the layer's expert jobs on the compute stream: any job whose weights have arrived goes first,
    /// in access order; when none has, the stream waits for the next arrival.
    func computeExperts(jobs count: Int, layer: Int, from start: Double) -> Double {
        var gpuFree = start
        let jobs = self.jobs
        let arrival = transfers.partArrival
        let parts = self.parts
        // Jobs a miss policy ran on the CPU or skipped are done already.
        var remaining = 0
        for j in 0..<count where !jobs.done[j] { remaining += 1 }
        while remaining > 0 {
            transfers.advance(to: gpuFree)
            let horizon = max(gpuFree, now)
            // Experts whose weights are all present go first; then one whose first part has arrived (pipelining).
            var pick = -1
            for j in 0..<count where !jobs.done[j] {
                if arrival[Int(jobs.key[j]) * parts + parts - 1] <= horizon { pick = j; break }
            }
            if pick < 0 && parts > 1 {
                for j in 0..<count where !jobs.done[j] {
                    if arrival[Int(jobs.key[j]) * parts] <= horizon { pick = j; break }
                }
            }
            if pick < 0 {
                if !transfers.processNextEvent() { preconditionFailure("internal error: the GPU waits for weights no transfer will deliver") }
                continue
            }
            let e = Int(router.distinct[pick])
            // The weights computed: the routed expert's own, or a substitute's.
            let key = Int(jobs.key[pick])
            // The host issues the expert (after waiting for the GPU where the runtime syncs per expert); on one stream
            // the kernel also waits for every copy issued before it.
            if host.syncs.syncsEachExpert {
                var sync = max(host.free, singleStream ? transfers.copiesDone(after: gpuFree) : gpuFree)
                // The per-expert host read comes after the stream was told to wait for the expert's copy (the expert is
                // handed to the host loop once its load is queued), so that read waits for the weights too.
                let weights = transfers.arrival(of: key, part: parts - 1, for: "host")
                if weights > sync {
                    // The read waits for this expert's weights: the GPU idles for want of them, not of the host.
                    if weights > gpuFree {
                        observer?.observe(.stall(start: gpuFree, end: weights, layer: layer, expert: key - layer * experts, cause: .weights))
                        metrics.gpuStallSeconds += weights - gpuFree
                        gpuFree = weights
                    }
                    sync = weights
                }
                host.wait(until: sync)
            }
            host.spend(costs.hostExpertSeconds)
            gpuFree = waitForIssue(gpuFree, layer: layer)
            let weightsExpert = key - layer * experts
            let lowPrecision = hasLowPrecision && jobs.lowPrecision[pick]
            let tokens = Int(router.tokensPerExpert[e])
            for p in 0..<parts {
                let ready = max(gpuFree, transfers.arrival(of: key, part: p, for: "GPU"))
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
            if lowPrecision { jobs.lowPrecision[pick] = false }
            jobs.done[pick] = true
            remaining -= 1
            jobs.awaitingCompute[key] = false
            if !deferredStagingReleases.isEmpty { releaseDeferredStaging(after: key) }
            transfers.computed(key, at: gpuFree)
        }
        // The layer's output needs the CPU's experts too (zero when none ran there).
        if asksOnMiss {
            let wait = miss.waitForCPU(gpuFree: gpuFree)
            if wait > 0 {
                observer?.observe(.stall(start: gpuFree, end: gpuFree + wait, layer: layer, expert: -1, cause: .cpu))
                metrics.gpuStallSeconds += wait
                gpuFree += wait
            }
        }
        return gpuFree
    }

    /// When the GPU can start the next piece of work the host is issuing now (at `host.free`): not before it is issued,
    /// and on one stream not before every copy issued earlier has finished. The gap is a stall (host or stream).
    func waitForIssue(_ gpuFree: Double, layer: Int) -> Double {
        var start = gpuFree
        if singleStream {
            let copies = transfers.copiesDone(after: gpuFree)
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

    /// Lets outstanding transfers finish (their time counts in the makespan).
    func finish() {
        metrics.finishRequests()
        transfers.drain()
        metrics.recordCopies(transfers)
        metrics.makespanSeconds = max(lastPassEnd, now)
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
