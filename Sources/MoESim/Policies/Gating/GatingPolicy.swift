/// Decides which experts a token runs at a layer, given what the router chose (the trace).
/// Approximate policies (dropping or substituting experts) change the work done; they must say so in reports
/// (`dropsExperts`: the report then shows the single-expert ratio and the quality proxy per layer).
public protocol GatingPolicy: AnyObject {
    var name: String { get }
    /// Whether the policy may run fewer experts than the trace recorded.
    var dropsExperts: Bool { get }
    /// Whether `select` always returns the cell's recorded experts unchanged, so an access stream may take them
    /// straight from the records (`AccessStream`) without routing cell by cell.
    var replaysRecordedExperts: Bool { get }
    /// Writes the experts to run into `selected` (room for every expert of a layer) and returns how many.
    /// Only called for recorded cells.
    func select(_ cell: RoutingCell, into selected: FixedArray<Int32>) -> Int
}

extension GatingPolicy {
    public var dropsExperts: Bool { false }
    public var replaysRecordedExperts: Bool { false }
}

/// Builds a policy for one replay stream from its spec's options, the model and the trace header.
public typealias GatingFactory = @Sendable (GatingContext) throws -> GatingPolicy

/// Gating policies by name (`--gating NAME[:OPTIONS]`).
public let gatingPolicies = NamedRegistry<GatingFactory>(option: "--gating", [
    .init(name: "topk", summary: "replay the recorded top-k selection as is") { context in
        try context.accept(only: [])
        return TopKReplayGating()
    },
    .init(name: "adapmoe", summary: AdapMoEGating.summary) { try AdapMoEGating(context: $0) },
    .init(name: "score", summary: ScoreGating.summary) { try ScoreGating(context: $0) },
])

extension NamedRegistry where Factory == GatingFactory {
    /// A fresh policy for `spec` (e.g. `adapmoe:T=0.007,prefill`), checked against the model and the trace.
    /// Deterministic: every call with the same inputs builds the same policy, so each replay stream gets its own.
    public func make(_ spec: String, model: ModelSpec?, header: TraceHeader) throws -> GatingPolicy {
        let parsed = try PolicySpec.gating(spec)
        return try resolve(parsed.name, kind: "gating policy").make(GatingContext(spec: parsed, model: model, header: header))
    }
}
