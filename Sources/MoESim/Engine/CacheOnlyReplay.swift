/// Hit rates without timing: replays the access stream of a trace through any number of cache configurations
/// at once, in one pass over the trace. Each access is offered to every configuration in the same order the
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

    public func run(_ configurations: [Configuration]) throws -> [Result] {
        let header = source.header
        let layers = header.layers, experts = header.experts, keySpace = layers * experts
        let makeGating = { [gating, model] in try gatingPolicies.make(gating, model: model, header: header) }
        let factories = try configurations.map { try cachePolicies.resolve($0.policy, kind: "cache policy").make }
        let future = factories.contains { $0.needsFuture }
            ? try FutureAccesses(stream: AccessStream(source: try source.reopen(), gating: try makeGating()), keySpace: keySpace, window: lookaheadWindow)
            : nil
        let popularity = factories.contains { $0.needsPopularity }
            ? try staticProfile.count(AccessStream(source: try source.reopen(), gating: try makeGating()), keySpace: keySpace)
            : nil
        let caches = zip(configurations, factories).map { configuration, factory in
            let cache = ExpertCache(layers: layers, experts: experts, layout: configuration.layout, capacities: configuration.capacities,
                                    factory: factory, future: future, popularity: popularity)
            cache.fill(configuration.startsFull ? .highestIndex : initialFill)
            return cache
        }
        var hits = Array(repeating: Array(repeating: 0, count: layers), count: caches.count)
        var accesses = Array(repeating: 0, count: layers)
        let router = PassRouter(experts: experts, gating: try makeGating())
        router.weightsAreFull = header.weights == .full
        if router.gating.dropsExperts {
            router.statistics = GatingStatistics(layers: layers, sensitivity: model?.gateSensitivity?.values)
        }
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
                    for (c, cache) in caches.enumerated() {
                        let group = cache.group(ofLayer: layer)
                        if group.contains(key) {
                            group.touch(key, context: context)
                            hits[c][layer] += 1
                        } else {
                            _ = group.insert(key, context: context)
                        }
                    }
                    time += 1
                }
                router.clear(count)
            }
        }
        lookaheadExceeded = future?.reachExceeded ?? false
        gatingReport = router.statistics?.report(policy: gating, recordedExperts: router.recordedExperts,
                                                 activatedExperts: router.activatedExperts, weightsRecorded: header.weights != .none)
        return configurations.enumerated().map { c, configuration in
            Result(policy: configuration.policy, layout: configuration.layout.rawValue, capacities: configuration.capacities,
                   accesses: accesses.reduce(0, +), hits: hits[c].reduce(0, +), perLayerHits: hits[c], perLayerAccesses: accesses)
        }
    }
}
