/// What a prefetcher may see and do at one moment of the run: the routing already decided, the
/// cache's residency, and a way to ask for experts of later layers. It sees nothing from the future
/// unless it is an oracle and says so.
public protocol PrefetchContext {
    /// MoE layers of the model.
    var layers: Int { get }
    var experts: Int { get }
    /// The tokens of the current forward pass (routing as recorded, lookahead `ahead` predictions if any).
    var passTokens: ArraySlice<TokenRecord> { get }
    /// True when the expert is in the cache (arrived or on its way) or already prefetched.
    func isAvailable(layer: Int, expert: Int) -> Bool
    /// Requests a speculative load of `expert` at `layer` into a prefetch buffer; returns false when no buffer is free.
    @discardableResult func prefetch(layer: Int, expert: Int) -> Bool
}

/// Issues speculative loads after a layer's routing is known. The engine calls it once per MoE layer of each pass.
public protocol PrefetchPolicy: AnyObject {
    var name: String { get }
    /// Whether it issues speculative loads at all (then a pool of staging buffers is set aside for them).
    var speculates: Bool { get }
    func afterRouting(layer: Int, context: PrefetchContext)
}

/// Prefetch policies by name (`--prefetch`).
public let prefetchPolicies = NamedRegistry<@Sendable () -> PrefetchPolicy>(option: "--prefetch", [
    .init(name: "none", summary: "no prefetching: every miss is loaded on demand") { NoPrefetch() },
    .init(name: "oracle-next-layer", summary: "exact experts of the next layer, one layer ahead (Pre-gated MoE's ideal)") { OracleNextLayerPrefetch() },
])
