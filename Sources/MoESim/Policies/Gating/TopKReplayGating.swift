/// Replays the router's recorded choice: every listed expert runs.
public final class TopKReplayGating: GatingPolicy {
    public let name = "topk"

    public init() {}

    public func select(token: TokenRecord, layer: Int, into selected: FixedArray<Int32>) -> Int {
        let n = Int(token.counts[layer])
        let base = layer * token.slotsPerLayer
        for i in 0..<n { selected[i] = token.experts[base + i] }
        return n
    }
}
