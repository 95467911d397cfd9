/// At layer l, prefetch exactly the experts the pass's tokens route to at layer l+1 (read from the trace).
/// This is the ideal a pre-gate (Pre-gated MoE, peers.md §1.3) approximates: perfect accuracy, one layer ahead.
/// It is an oracle: it reads the recorded routing of a layer that has not run yet.
public final class OracleNextLayerPrefetch: PrefetchPolicy {
    public let name = "oracle-next-layer"
    public let speculates = true
    public init() {}

    public func afterRouting(layer: Int, context: PrefetchContext) {
        let next = layer + 1
        guard next < context.layers else { return }
        for token in context.passTokens {
            let n = Int(token.counts[next])
            guard n > 0 else { continue }
            let base = next * token.slotsPerLayer
            for i in 0..<n {
                let expert = Int(token.experts[base + i])
                if !context.isAvailable(layer: next, expert: expert) { context.prefetch(layer: next, expert: expert) }
            }
        }
    }
}
