/// Replays the router's recorded choice: every listed expert runs.
public final class TopKReplayGating: GatingPolicy {
    public let name = "topk"
    public var replaysRecordedExperts: Bool { true }

    public init() {}

    public func select(_ cell: RoutingCell, into selected: FixedArray<Int32>) -> Int {
        for i in 0..<cell.experts.count { selected[i] = cell.experts[i] }
        return cell.experts.count
    }
}
