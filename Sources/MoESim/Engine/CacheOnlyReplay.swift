/// Hit rates without timing: replays the access stream of a trace through any number of cache configurations
/// at once, in one pass over the trace (two when routing-watching policies are mixed with others), Belady's
/// look-ahead included. Each access is offered to every configuration in the same order the
/// timed engine would make it (`PassRouter`), so a configuration's hits equal the timed run's.
public final class CacheOnlyReplay {
    /// One cache configuration to measure.
    public struct Configuration: Sendable {
        public var policy: String
        public var layout: CacheSpec.Layout
        /// Experts per layer (per-layer layout) or one total (global).
        public var capacities: [Int]
        /// `all-resident`: every expert is on the device from the start, whatever the initial fill says (as in the
        /// timed engine).
        public var startsFull: Bool

        public init(policy: String, layout: CacheSpec.Layout, capacities: [Int], startsFull: Bool = false) {
            self.policy = policy
            self.layout = layout
            self.capacities = capacities
            self.startsFull = startsFull
        }
    }

    /// Hits and accesses of one configuration, overall and per layer.
    public struct Result: Codable, Sendable {
        public var policy: String
        public var layout: String
        public var capacities: [Int]
        public var accesses: Int
        public var hits: Int
        public var perLayerHits: [Int]
        public var perLayerAccesses: [Int]
        public var hitRate: Double? { accesses > 0 ? Double(hits) / Double(accesses) : nil }
    }

    let source: PassSource
    /// Gating spec (`GatingSpec`), and the model whose sensitivities it may read (nil: unknown model).
    let gating: String
    let model: ModelSpec?
    let initialFill: ExpertCache.InitialFill
    let staticProfile: PopularityProfile
    let lookaheadWindow: Int
    /// Whether Belady's look-ahead was shorter than the trace (its hit rate may then be understated).
    public private(set) var lookaheadExceeded = false
    /// What a dropping gating policy did in the last `run`; nil for exact replay.
    public private(set) var gatingReport: Report.Gating?

    public init(source: PassSource, gating: String = "topk", model: ModelSpec? = nil, initialFill: ExpertCache.InitialFill = .empty,
                staticProfile: PopularityProfile = .whole, lookaheadWindow: Int = FutureAccesses.defaultWindow) {
        self.source = source
        self.gating = gating
        self.model = model
        self.initialFill = initialFill
        self.staticProfile = staticProfile
        self.lookaheadWindow = lookaheadWindow
    }

    /// Replays every configuration and returns their hits, in the order given. Configurations whose policy does
    /// not watch the router's output replay from one read of the trace, which also fills Belady's look-ahead
    /// (`runFromAccessStream`); those that watch it (MRS, EdgeMoE) run pass by pass (`runByPass`), a second read
    /// only when both kinds are asked for.
    public func run(_ configurations: [Configuration]) throws -> [Result] {
        let factories = try configurations.map { try cachePolicies.resolve($0.policy, kind: "cache policy").make }
        let byPass = configurations.indices.filter { factories[$0].observesRouting }
        let streamed = configurations.indices.filter { !factories[$0].observesRouting }
        var counts = Array(repeating: (hits: [Int](), accesses: [Int]()), count: configurations.count)
        var gatingReports: [Report.Gating?] = []
        var reads = 0
        lookaheadExceeded = false
        func nextSource() throws -> PassSource {
            reads += 1
            return reads == 1 ? source : try source.reopen()
        }
        if !streamed.isEmpty {
            let (hits, accesses, gating) = try runFromAccessStream(streamed.map { configurations[$0] }, factories: streamed.map { factories[$0] },
                                                                   source: try nextSource())
            for (i, c) in streamed.enumerated() { counts[c] = (hits[i], accesses) }
            gatingReports.append(gating)
        }
        if !byPass.isEmpty {
            let (hits, accesses, gating) = try runByPass(byPass.map { configurations[$0] }, factories: byPass.map { factories[$0] },
                                                         source: try nextSource())
            for (i, c) in byPass.enumerated() { counts[c] = (hits[i], accesses) }
            gatingReports.append(gating)
        }
        gatingReport = gatingReports.first ?? nil
        return configurations.enumerated().map { c, configuration in
            Result(policy: configuration.policy, layout: configuration.layout.rawValue, capacities: configuration.capacities,
                   accesses: counts[c].accesses.reduce(0, +), hits: counts[c].hits.reduce(0, +), perLayerHits: counts[c].hits,
                   perLayerAccesses: counts[c].accesses)
        }
    }

    func makeGating() throws -> GatingPolicy { try gatingPolicies.make(gating, model: model, header: source.header) }

    /// The configurations' caches, filled as they start.
    func makeCaches(_ configurations: [Configuration], factories: [CachePolicyFactory], future: FutureAccesses?) throws -> [ExpertCache] {
        let header = source.header
        let popularity = factories.contains { $0.needsPopularity }
            ? try staticProfile.count(AccessStream(source: try source.reopen(), gating: try makeGating()), keySpace: header.layers * header.experts)
            : nil
        return zip(configurations, factories).map { configuration, factory in
            let cache = ExpertCache(layers: header.layers, experts: header.experts, layout: configuration.layout, capacities: configuration.capacities,
                                    factory: factory, future: future, popularity: popularity)
            cache.fill(configuration.startsFull ? .highestIndex : initialFill)
            return cache
        }
    }

    func gatingStatistics(_ router: PassRouter) -> GatingStatistics? {
        router.gating.dropsExperts ? GatingStatistics(layers: source.header.layers, sensitivity: model?.gateSensitivity?.values) : nil
    }

    func gatingSummary(_ router: PassRouter) -> Report.Gating? {
        router.statistics?.report(policy: gating, recordedExperts: router.recordedExperts, activatedExperts: router.activatedExperts,
                                  weightsRecorded: source.header.weights != .none)
    }

    /// One read of the trace as a bare access stream. When a policy reads the future, the look-ahead ring is
    /// filled from this same stream and the caches consume it behind the reach: no second pass (each access sees
    /// at least `window` accesses ahead). Accesses go through in chunks: a per-layer cache's groups are
    /// independent, so each layer's accesses of a chunk are offered to its group in one loop, and a global cache's
    /// single group takes the chunk in order; either way a group is looked up once per chunk, not per access.
    func runFromAccessStream(_ configurations: [Configuration], factories: [CachePolicyFactory],
                             source: PassSource) throws -> (hits: [[Int]], accesses: [Int], gating: Report.Gating?) {
        let layers = source.header.layers, experts = source.header.experts, keySpace = layers * experts
        let stream = AccessStream(source: source, gating: try makeGating())
        stream.router.statistics = gatingStatistics(stream.router)
        let future = factories.contains { $0.needsFuture }
            ? try FutureAccesses(stream: stream, keySpace: keySpace, window: lookaheadWindow)
            : nil
        let caches = try makeCaches(configurations, factories: factories, future: future)
        let chunkSize = min(CacheOnlyReplay.chunkAccesses, future?.window ?? CacheOnlyReplay.chunkAccesses)
        let chunk = UnsafeMutablePointer<Int32>.allocate(capacity: chunkSize)
        // The chunk's access indices grouped by layer (a counting sort), and where each layer's run starts.
        let byLayer = UnsafeMutablePointer<Int32>.allocate(capacity: chunkSize)
        let layerStart = UnsafeMutablePointer<Int>.allocate(capacity: layers + 1)
        let fill = UnsafeMutablePointer<Int>.allocate(capacity: layers)
        let layerHits = UnsafeMutablePointer<Int>.allocate(capacity: layers)
        let layerOfKey = UnsafeMutablePointer<Int32>.allocate(capacity: keySpace)
        defer {
            chunk.deallocate()
            byLayer.deallocate()
            layerStart.deallocate()
            fill.deallocate()
            layerHits.deallocate()
            layerOfKey.deallocate()
        }
        for k in 0..<keySpace { layerOfKey[k] = Int32(k / experts) }
        var hits = Array(repeating: Array(repeating: 0, count: layers), count: caches.count)
        var accesses = Array(repeating: 0, count: layers)
        var time = 0
        while true {
            var n = 0
            if let future {
                try future.readAhead(of: time + chunkSize - 1)
                n = min(chunkSize, future.filled - time)
                for i in 0..<n { chunk[i] = Int32(future.key(at: time + i)) }
            } else {
                n = try stream.next(into: chunk, capacity: chunkSize)
            }
            if n == 0 { break }
            for l in 0...layers { layerStart[l] = 0 }
            for i in 0..<n { layerStart[Int(layerOfKey[Int(chunk[i])]) + 1] += 1 }
            for l in 0..<layers {
                accesses[l] += layerStart[l + 1]
                layerStart[l + 1] += layerStart[l]
            }
            fill.update(from: layerStart, count: layers)
            for i in 0..<n {
                let l = Int(layerOfKey[Int(chunk[i])])
                byLayer[fill[l]] = Int32(i)
                fill[l] += 1
            }
            for (c, cache) in caches.enumerated() {
                if cache.layout == .perLayer {
                    for l in 0..<layers {
                        let group = cache.group(ofLayer: l)
                        var groupHits = 0
                        for p in layerStart[l]..<layerStart[l + 1] {
                            let i = Int(byLayer[p])
                            if group.access(Int(chunk[i]), context: AccessContext(time: time + i)) { groupHits += 1 }
                        }
                        hits[c][l] += groupHits
                    }
                } else {
                    let group = cache.group(ofLayer: 0)
                    layerHits.update(repeating: 0, count: layers)
                    for i in 0..<n where group.access(Int(chunk[i]), context: AccessContext(time: time + i)) {
                        layerHits[Int(layerOfKey[Int(chunk[i])])] += 1
                    }
                    for l in 0..<layers { hits[c][l] += layerHits[l] }
                }
            }
            time += n
        }
        if future?.reachExceeded == true { lookaheadExceeded = true }
        return (hits, accesses, gatingSummary(stream.router))
    }

    /// Accesses per chunk of `runFromAccessStream` (at most the look-ahead window).
    static let chunkAccesses = 4096

    /// Pass by pass, for policies that watch every token's router output before a layer's accesses.
    func runByPass(_ configurations: [Configuration], factories: [CachePolicyFactory],
                   source: PassSource) throws -> (hits: [[Int]], accesses: [Int], gating: Report.Gating?) {
        let header = source.header
        let layers = header.layers, experts = header.experts, keySpace = layers * experts
        let future = factories.contains { $0.needsFuture }
            ? try FutureAccesses(stream: AccessStream(source: try self.source.reopen(), gating: try makeGating()), keySpace: keySpace, window: lookaheadWindow)
            : nil
        let caches = try makeCaches(configurations, factories: factories, future: future)
        var hits = Array(repeating: Array(repeating: 0, count: layers), count: caches.count)
        var accesses = Array(repeating: 0, count: layers)
        let router = PassRouter(experts: experts, gating: try makeGating())
        router.weightsAreFull = header.weights == .full
        router.statistics = gatingStatistics(router)
        var pass = Pass()
        var time = 0
        while try source.nextPass(into: &pass) {
            try future?.prepare(runPosition: time)
            for layer in 0..<layers {
                let count = router.route(pass, layer: layer, observer: nil)
                for cache in caches where cache.observesRouting {
                    let group = cache.group(ofLayer: layer)
                    for t in 0..<pass.tokenCount {
                        _ = RoutingCell.with(pass.tokens[t], layer: layer, weightsAreFull: router.weightsAreFull) { group.observe($0) }
                    }
                }
                for j in 0..<count {
                    let key = layer * experts + Int(router.distinct[j])
                    let context = AccessContext(time: time)
                    accesses[layer] += 1
                    for (c, cache) in caches.enumerated() where cache.group(ofLayer: layer).access(key, context: context) {
                        hits[c][layer] += 1
                    }
                    time += 1
                }
                router.clear(count)
            }
        }
        if future?.reachExceeded == true { lookaheadExceeded = true }
        return (hits, accesses, gatingSummary(router))
    }
}
