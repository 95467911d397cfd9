/// No speculation: experts are loaded only when the router asks for them.
public final class NoPrefetch: PrefetchPolicy {
    public let name = "none"
    public let speculates = false
    public init() {}
    public func afterRouting(layer: Int, context: PrefetchContext) {}
}
