/// What happens to a token whose chosen expert is not resident.
public enum MissHandling: Sendable {
    /// Every expert is resident: there are no misses.
    case none
    /// Routed to the highest-ranked resident expert (eMoE's fallback); never loaded.
    case rerouteRanked
    /// Routed to a random resident expert (the random-selection baseline); never loaded.
    case rerouteRandom
    /// Loaded over the host link when the layer needs it; the layer waits.
    case load
}

/// The serving loop's state that loading policies read: the running requests, the resident experts, history.
public final class ServingState {
    public let layers: Int
    public let experts: Int
    public let tasks: ServingTaskSet
    /// W_o per task.
    public let expectedOutputTokens: [Double]
    /// eMoE's s per task and layer (all true when loading is task-agnostic).
    public let sensitivity: [[Bool]]
    public let residency: ExpertResidency
    public let cost: ServingCostModel
    public let routing: RequestRoutingModel
    /// Running requests, newly admitted ones included.
    public internal(set) var running: [ServingRequest] = []
    /// Selection counts of the last completed request, nil before the first completes.
    public internal(set) var lastCompletedCounts: [Double]?
    /// Falls back to the partial counts of the running request that has processed the most tokens.
    var partialCounts: () -> [Double]? = { nil }
    public internal(set) var now = 0.0

    init(layers: Int, experts: Int, tasks: ServingTaskSet, sensitivity: [[Bool]], residency: ExpertResidency, cost: ServingCostModel, routing: RequestRoutingModel) {
        self.layers = layers
        self.experts = experts
        self.tasks = tasks
        expectedOutputTokens = tasks.tasks.map(\.meanOutputTokens)
        self.sensitivity = sensitivity
        self.residency = residency
        self.cost = cost
        self.routing = routing
    }

    /// The routing eMoE-A's "previous request" is: the last completed request's, else the partial routing of the
    /// running request furthest along; nil when nothing has run.
    public func previousRequestCounts() -> [Double]? { lastCompletedCounts ?? partialCounts() }
}

/// Decides which experts are on the devices and how misses are served. One per run (it keeps state).
public protocol ExpertLoadingPolicy: AnyObject {
    var name: String { get }
    var missHandling: MissHandling { get }
    /// With `.load`: keep a loaded expert resident afterwards (a cache) instead of dropping it after its layer.
    var cachesLoads: Bool { get }
    /// With `.load`: fetch layer l+1's needed experts while layer l runs (Pre-gated).
    var fetchesNextLayer: Bool { get }
    /// Experts resident once warmed up (memory headroom uses it), besides transient loads.
    var steadyResidentExperts: Int { get }
    /// True once the policy has left its warm-up (eMoE: after the first request's all-expert set shrinks).
    var warmedUp: Bool { get }
    /// The layer's experts, best first, for `.rerouteRanked` (`layer * experts + rank`).
    var rerouteRanking: FixedArray<Int32>? { get }
    /// Fills the residency before the first request.
    func start(_ state: ServingState)
    /// `request` was just admitted (already in `state.running`); loads it issues start at `state.now`. Returns the
    /// seconds serving stalls before the next iteration (a predictor call).
    func admitted(_ request: ServingRequest, state: ServingState) -> Double
    func completed(_ request: ServingRequest, counts: [Double], state: ServingState)
    /// `request`'s prompt has been processed; `counts` are its selections so far.
    func prefilled(_ request: ServingRequest, counts: [Double], state: ServingState)
    /// eMoE's ΔE for the scheduler: loading seconds that admitting a request with this label and prompt would cause.
    func loadingSecondsIfAdmitted(label: Int, inputTokens: Int, state: ServingState) -> Double
    /// At the start of every iteration (prefetchers issue loads here).
    func beforeIteration(state: ServingState)
    /// With a cache: an expert was used (for frequency-based eviction).
    func used(_ key: Int)
    /// With a cache: the resident expert to drop to make room, not one `protected` says is needed now; nil if none.
    func victim(state: ServingState, protected: (Int) -> Bool) -> Int?
    /// With a cache: how many experts it may hold.
    var cacheCapacity: Int { get }
    /// Whether `observeToken` wants every routed token (a predictor that learns from history).
    var observesTokens: Bool { get }
    /// One routed token's choices, `slots` per layer (-1: none), before any reroute.
    func observeToken(_ routing: UnsafePointer<Int32>, slots: Int)
    /// With `.rerouteRandom`: each layer's resident experts a miss may go to.
    var rerouteCandidates: [[Int32]]? { get }
    /// Parameters of a predictor the policy keeps on the devices (eMoE's), counted in memory.
    var predictorParams: Double { get }
    /// Whether the policy keeps a fraction of the experts (`--experts-loaded`), as the report says.
    var usesExpertBudget: Bool { get }
    /// What its predictor did, for the report (nil: it has none).
    var predictorActivity: PredictorActivity? { get }
    /// Speculative loads it issued, for the report (nil: it issues none).
    var prefetchCount: Int? { get }
    /// Requests between its periodic actions (predictor calls, redraws), for the report (nil: none).
    var period: Int? { get }
}

/// What a serving policy's predictor did (eMoE): calls, calls skipped for insensitive tasks, the serving time they
/// stalled, the requests it fired on (the first few), and its per-call cost.
public struct PredictorActivity: Sendable {
    public var predictor: String
    public var taskAware: Bool
    public var calls: Int
    public var skippedInsensitive: Int
    public var seconds: Double
    public var firedOn: [Int]
    public var callSeconds: Double
}

extension ExpertLoadingPolicy {
    public var cachesLoads: Bool { false }
    public var fetchesNextLayer: Bool { false }
    public var warmedUp: Bool { true }
    public var rerouteRanking: FixedArray<Int32>? { nil }
    public var cacheCapacity: Int { 0 }
    public func admitted(_ request: ServingRequest, state: ServingState) -> Double { 0 }
    public func completed(_ request: ServingRequest, counts: [Double], state: ServingState) {}
    public func prefilled(_ request: ServingRequest, counts: [Double], state: ServingState) {}
    public func loadingSecondsIfAdmitted(label: Int, inputTokens: Int, state: ServingState) -> Double { 0 }
    public func beforeIteration(state: ServingState) {}
    public func used(_ key: Int) {}
    public func victim(state: ServingState, protected: (Int) -> Bool) -> Int? { nil }
    public var observesTokens: Bool { false }
    public func observeToken(_ routing: UnsafePointer<Int32>, slots: Int) {}
    public var rerouteCandidates: [[Int32]]? { nil }
    public var predictorParams: Double { 0 }
    public var usesExpertBudget: Bool { false }
    public var predictorActivity: PredictorActivity? { nil }
    public var prefetchCount: Int? { nil }
    public var period: Int? { nil }
}

/// Every expert on the devices: DeepSpeed-FastGen / vLLM serving, eMoE's "Baseline" (papers.md §2.5).
public final class AllResidentLoader: ExpertLoadingPolicy {
    public let name = "all-resident"
    public let missHandling = MissHandling.none
    public private(set) var steadyResidentExperts = 0
    public init() {}

    public func start(_ state: ServingState) {
        for key in 0..<(state.layers * state.experts) { state.residency.place(key) }
        steadyResidentExperts = state.residency.count
    }
}

/// Nothing cached: every expert a layer needs is loaded when the layer runs and dropped after it (eMoE's "dynamic
/// loading" motivation baseline, Obs. 1: 5x slower than static pre-loading on Mixtral; papers.md §2.3). With
/// `nextLayer`, layer l+1's experts are fetched while layer l runs, known exactly one layer ahead: Pre-gated MoE
/// emulated as a next-layer oracle (peers.md §1.3; its pre-gate is trained to make the early decision exact).
public final class OnDemandLoader: ExpertLoadingPolicy {
    public let name: String
    public let missHandling = MissHandling.load
    public let fetchesNextLayer: Bool
    public let steadyResidentExperts = 0

    public init(nextLayer: Bool) {
        fetchesNextLayer = nextLayer
        name = nextLayer ? "pre-gated" : "on-demand"
    }

    public func start(_ state: ServingState) {}
}
