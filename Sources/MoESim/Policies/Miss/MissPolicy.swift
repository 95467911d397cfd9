/// What the engine does with a routed expert that is neither cached nor staged by a prefetch (a miss).
public enum MissAction: Equatable, Sendable {
    /// Load it on demand and run it on the GPU; the cache policy decides whether it stays (the default).
    case load
    /// Load the policy's low-precision copy (`MissRequirements.lowPrecision`) into a load buffer, run it on the GPU
    /// from there, and do not cache it.
    case loadLowPrecision
    /// Run it on the CPU from its host copy: the tokens' activations cross the link to the host and back, no weights
    /// move. The layer ends when both the GPU and the CPU are done.
    case cpu
    /// Do not run it: its tokens lose this expert's contribution.
    case skip
    /// Run `expert`, resident at the same layer and not routed there, in its place (its tokens get that expert's output).
    case substitute(expert: Int)

    public var kind: MissActionKind {
        switch self {
        case .load: return .load
        case .loadLowPrecision: return .lowPrecision
        case .cpu: return .cpu
        case .skip: return .skip
        case .substitute: return .substitute
        }
    }
}

/// A `MissAction` without its operand (counters, events).
public enum MissActionKind: UInt8, Sendable, CaseIterable {
    case load, lowPrecision, cpu, skip, substitute

    public var name: String {
        switch self {
        case .load: return "load"
        case .lowPrecision: return "low-precision"
        case .cpu: return "cpu"
        case .skip: return "skip"
        case .substitute: return "substitute"
        }
    }

    /// Changes what the model computes (the report adds a quality proxy).
    public var approximates: Bool { self == .lowPrecision || self == .skip || self == .substitute }
}

/// What a miss policy needs from the engine, fixed when it is built.
public struct MissRequirements: Sendable {
    /// The policy always answers `load`: the engine never asks it (its plain path, byte for byte).
    public var alwaysLoads = false
    /// Per-expert gate statistics of the layer (`ExpertGate`): recorded weights, rank, HOBBIT's cumulative weight.
    public var gateStatistics = false
    /// The quantization of `loadLowPrecision` copies (nil: the policy never asks for one).
    public var lowPrecision: Quantization?
    /// Call `beginLayer` once per layer before its accesses (a plan over all of the layer's experts).
    public var plansLayers = false
    /// May skip, substitute or load low precision: the report then carries the quality proxy (and the engine gathers
    /// gate statistics for its gate-weight mass).
    public var approximates = false

    public init(alwaysLoads: Bool = false, gateStatistics: Bool = false, lowPrecision: Quantization? = nil, plansLayers: Bool = false,
                approximates: Bool = false) {
        self.alwaysLoads = alwaysLoads
        self.gateStatistics = gateStatistics
        self.lowPrecision = lowPrecision
        self.plansLayers = plansLayers
        self.approximates = approximates
    }
}

/// The router's weights for one expert at the current layer, over the tokens routed to it. Weights are normalised over
/// the experts each token runs (they sum to 1 per token), as Mixtral's renormalised top-k gate.
public struct ExpertGate: Sendable, Equatable {
    /// Sum over its tokens of its normalised weight (the gate-weight mass it carries).
    public var mass: Double
    /// The smallest, over its tokens, of the cumulative normalised weight of the experts the token ranks above it
    /// (HOBBIT's s, peers.md §1.7): 0 when it is some token's top-1.
    public var priorMass: Double
    /// Its best rank among a token's experts (0: some token's top-1).
    public var bestRank: Int
    /// Its largest normalised weight for one token.
    public var maxWeight: Double
}

/// What a miss policy may see when the engine asks it: the current layer's routing, residency, the link and CPU
/// state, and what each option costs. Times are simulated seconds.
public protocol MissContext: AnyObject {
    var layers: Int { get }
    var experts: Int { get }
    var passIndex: Int { get }
    var passPhase: Phase { get }
    /// When the current layer's routing became known.
    var routedAt: Double { get }
    /// The distinct experts routed at the current layer, in access order.
    var routedExperts: [Int] { get }
    /// Tokens of the current pass routed to `expert` at the current layer (0: not routed).
    func tokens(expert: Int) -> Int
    /// Gate statistics of `expert` at the current layer; nil unless the policy asked for them or the trace has no weights.
    func gate(expert: Int) -> ExpertGate?
    /// In the device cache now (arrived or still arriving).
    func isCached(layer: Int, expert: Int) -> Bool
    /// Cached, or staged by a prefetch.
    func isAvailable(layer: Int, expert: Int) -> Bool
    /// The cache policy keeps this expert for the whole run once it is loaded (a static placement, `EvictionPolicy.pins`).
    func isPinned(layer: Int, expert: Int) -> Bool
    /// GPU time of one expert for `tokens` tokens (the low-precision copy when `lowPrecision`).
    func gpuSeconds(tokens: Int, lowPrecision: Bool) -> Double
    /// Link time of one on-demand load (all its parts, with their setup latencies).
    func loadSeconds(lowPrecision: Bool) -> Double
    /// When the host-to-device link would start a new on-demand load: after the transfer in flight and everything
    /// queued ahead of it (including loads still waiting for a load buffer).
    var linkFreeAt: Double { get }
    /// Whether experts can run on the CPU: false where offloaded experts live on storage (unified memory), where the
    /// CPU has no copy of them in DRAM.
    var cpuAvailable: Bool { get }
    /// When the CPU finishes the expert work already given to it.
    var cpuFreeAt: Double { get }
    /// CPU time of one expert for `tokens` tokens.
    func cpuSeconds(tokens: Int) -> Double
    /// Link time of the activations of `tokens` tokens to the host, and of the CPU's results back to the device.
    func activationToHostSeconds(tokens: Int) -> Double
    func activationToDeviceSeconds(tokens: Int) -> Double
}

extension MissContext {
    /// Both activation copies of a CPU expert.
    public func activationCopySeconds(tokens: Int) -> Double {
        activationToHostSeconds(tokens: tokens) + activationToDeviceSeconds(tokens: tokens)
    }

    /// When a CPU expert for `tokens` tokens would have its results on the device, run after the CPU's current work
    /// (the engine's own schedule: it starts once the CPU is free and the activations have arrived).
    public func cpuResultsReady(tokens: Int, cpuFree: Double) -> (cpuFree: Double, ready: Double) {
        let end = max(cpuFree, routedAt + activationToHostSeconds(tokens: tokens)) + cpuSeconds(tokens: tokens)
        return (end, end + activationToDeviceSeconds(tokens: tokens))
    }
}

/// Decides what happens on each miss. The engine asks after the layer's routing is known, miss by miss in access
/// order; a policy that `alwaysLoads` is never asked.
public protocol MissPolicy: AnyObject {
    var name: String { get }
    var requirements: MissRequirements { get }
    /// Once per MoE layer, before its accesses (only when `requirements.plansLayers`).
    func beginLayer(layer: Int, context: MissContext)
    /// The action for `expert` at `layer`, neither cached nor staged.
    func decide(layer: Int, expert: Int, context: MissContext) -> MissAction
    /// Lines for the report once the run is over.
    var notes: [String] { get }
}

extension MissPolicy {
    public func beginLayer(layer: Int, context: MissContext) {}
    public var notes: [String] { [] }
}
