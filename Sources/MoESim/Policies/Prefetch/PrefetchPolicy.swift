/// What a prefetcher may see and do at one moment of the run: the routing already decided, the cache's residency,
/// and a way to ask for experts of later layers. It sees nothing from the future unless it is an oracle and says so.
public protocol PrefetchContext: AnyObject {
    /// MoE layers of the model.
    var layers: Int { get }
    var experts: Int { get }
    /// The current forward pass, counted from 0.
    var passIndex: Int { get }
    var passPhase: Phase { get }
    /// The tokens of the current forward pass: routing as recorded (layers up to the current one are known; later
    /// ones are the future), and the recorded lookahead predictions `ahead`, if any.
    var passTokens: ArraySlice<TokenRecord> { get }
    /// True when the expert is in the cache (arrived or on its way) or already prefetched.
    func isAvailable(layer: Int, expert: Int) -> Bool
    /// Staging buffers free for prefetches now.
    var freeStagingBuffers: Int { get }
    /// ORACLE: the distinct experts the run will load at `layer` of the current pass (after gating), in access order.
    func routedExperts(layer: Int) -> [Int32]
    /// Requests a speculative load of `expert` at `layer` of the pass `passesAhead` after the current one (0: this
    /// pass; the target must be a later layer than the current one). Returns false when it is not issued: no staging
    /// buffer is free, the expert is already resident, staged or still arriving, or the target is not in the future.
    @discardableResult func prefetch(layer: Int, expert: Int, passesAhead: Int) -> Bool
}

extension PrefetchContext {
    @discardableResult public func prefetch(layer: Int, expert: Int) -> Bool { prefetch(layer: layer, expert: expert, passesAhead: 0) }
}

/// Where a prefetched expert goes when it lands.
public enum PrefetchAdmission: String, Sendable, CaseIterable {
    /// A staging buffer; it enters the cache only when its layer uses it (evicting then, by the cache policy) and is
    /// dropped unused once its layer has passed (AdapMoE's code, papers.md §1.3.B steps 4-5).
    case buffer
    /// The cache itself, on arrival, evicting by the cache policy (mixtral-offloading's paper, peers.md §1.1). Until it
    /// lands it holds a staging buffer; an unused one stays cached until evicted.
    case cache
}

/// What a policy asks of the engine.
public struct PrefetchEngineOptions: Sendable, Equatable {
    /// How the host-to-device copy engine orders on-demand and speculative transfers.
    public var link: LinkDiscipline = .fifo
    public var admission: PrefetchAdmission = .buffer
    /// Staging buffers for prefetches; nil: as many as the runtime's buffer pool (`maxInFlightTransfers`).
    public var stagingBuffers: Int? = nil
    /// Before a layer's experts run, the GPU waits for the prefetches issued at the previous layer to land
    /// (AdapMoE's released code: a cudaEvent wait on the copy stream, papers.md §1.3.B step 2).
    public var waitsForPreviousPrefetch = false

    public init(link: LinkDiscipline = .fifo, admission: PrefetchAdmission = .buffer, stagingBuffers: Int? = nil,
                waitsForPreviousPrefetch: Bool = false) {
        self.link = link
        self.admission = admission
        self.stagingBuffers = stagingBuffers
        self.waitsForPreviousPrefetch = waitsForPreviousPrefetch
    }
}

/// Issues speculative loads after a layer's routing is known. The engine calls it once per MoE layer of each pass.
public protocol PrefetchPolicy: AnyObject {
    var name: String { get }
    /// Whether it issues speculative loads at all (then a pool of staging buffers is set aside for them).
    var speculates: Bool { get }
    var engine: PrefetchEngineOptions { get }
    func afterRouting(layer: Int, context: PrefetchContext)
    /// Lines for the report once the run is over (where predictions came from, what was missing).
    var notes: [String] { get }
}

extension PrefetchPolicy {
    public var engine: PrefetchEngineOptions { PrefetchEngineOptions() }
    public var notes: [String] { [] }
}

/// Builds a policy for one run from its spec's options, the model, the trace header and the seed.
public typealias PrefetchFactory = @Sendable (PrefetchSetup) throws -> PrefetchPolicy

/// Prefetch policies by name (`--prefetch NAME[:OPTIONS]`).
public let prefetchPolicies = NamedRegistry<PrefetchFactory>(option: "--prefetch", [
    .init(name: "none", summary: "no prefetching: every miss is loaded on demand") { setup in
        try setup.accept(only: [])
        return NoPrefetch()
    },
    .init(name: "next-layer-gate", summary: NextLayerGatePrefetch.summary) { try NextLayerGatePrefetch(setup: $0, variant: .adapmoe) },
    .init(name: "mixtral-offloading", summary: NextLayerGatePrefetch.mixtralOffloadingSummary) {
        try NextLayerGatePrefetch(setup: $0, variant: .mixtralOffloading)
    },
    .init(name: "promoe", summary: NextLayerGatePrefetch.promoeSummary) { try NextLayerGatePrefetch(setup: $0, variant: .promoe) },
    .init(name: "moe-infinity", summary: MoEInfinityPrefetch.summary) { try MoEInfinityPrefetch(setup: $0) },
    .init(name: "edgemoe", summary: EdgeMoEPrefetch.summary) { try EdgeMoEPrefetch(setup: $0) },
    .init(name: "oracle-next-layer", summary: OracleNextLayerPrefetch.summary) { try OracleNextLayerPrefetch(setup: $0) },
    .init(name: "oracle", summary: OraclePrefetch.summary) { try OraclePrefetch(setup: $0) },
    .init(name: "hybrimoe", summary: HybriMoEPrefetch.summary) { try HybriMoEPrefetch(setup: $0) },
])

extension NamedRegistry where Factory == PrefetchFactory {
    /// A fresh policy for `spec` (e.g. `next-layer-gate:depth=3`), checked against the model and the trace.
    public func make(_ spec: String, model: ModelSpec, header: TraceHeader, seed: UInt64,
                     reopenSource: @escaping () throws -> PassSource, makeGating: @escaping () throws -> GatingPolicy) throws -> PrefetchPolicy {
        let parsed = try PolicySpec.prefetch(spec)
        return try resolve(parsed.name, kind: "prefetch policy").make(
            PrefetchSetup(spec: parsed, model: model, header: header, seed: seed, reopenSource: reopenSource, makeGating: makeGating))
    }
}
