/// Decides which experts a token runs at a layer, given what the router chose (the trace).
/// Approximate policies (dropping or substituting experts) change the work done; they must say so in reports.
public protocol GatingPolicy: AnyObject {
    var name: String { get }
    /// Writes the experts to run into `selected` (room for every expert of a layer) and returns how many.
    /// Only called for recorded cells.
    func select(_ cell: RoutingCell, into selected: FixedArray<Int32>) -> Int
}

/// Gating policies by name (`--gating`).
public let gatingPolicies = NamedRegistry<@Sendable () -> GatingPolicy>(option: "--gating", [
    .init(name: "topk", summary: "replay the recorded top-k selection as is") { TopKReplayGating() },
])
