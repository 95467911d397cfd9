/// At layer l, prefetch exactly the experts the pass loads at layer l+1 (after gating, read from the trace).
///
/// Paper: Pre-gated MoE (peers.md §1.3): a fine-tuned pre-gate in block N decides block N+1's experts, which are
/// copied while block N computes; lookahead one block. This is that system's ideal: perfect accuracy, one layer
/// ahead, every pass (prefill too). It is an ORACLE: it reads the routing of a layer that has not run yet.
///
/// Deviations: Pre-gated MoE has no cache in its base design; here the experts go through the run's cache like any
/// other policy's (`admit=buffer`: staged, admitted on use; or `admit=cache`). No accuracy-degradation knob: use
/// `next-layer-gate:predict=noisy,accuracy=P,issue=all` for a pre-gate that is right with probability P.
public final class OracleNextLayerPrefetch: PrefetchPolicy {
    public static let summary = "ORACLE, Pre-gated MoE's ideal (peers.md §1.3): at layer l, exactly the experts layer l+1 will load, one layer ahead, every pass. Options: \(PrefetchSetup.engineOptionHelp.joined(separator: ", ")) (defaults fifo, buffer, the runtime's pool)"

    public let name = "oracle-next-layer"
    public let speculates = true
    public let engine: PrefetchEngineOptions

    public init(engine: PrefetchEngineOptions = PrefetchEngineOptions()) {
        self.engine = engine
    }

    convenience init(setup: PrefetchSetup) throws {
        try setup.accept(only: PrefetchSetup.engineOptionHelp)
        self.init(engine: try setup.engineOptions(defaults: PrefetchEngineOptions()))
    }

    public func afterRouting(layer: Int, context: PrefetchContext) {
        let next = layer + 1
        guard next < context.layers else { return }
        for expert in context.routedExperts(layer: next) where !context.isAvailable(layer: next, expert: Int(expert)) {
            guard context.freeStagingBuffers > 0 else { return }
            context.prefetch(layer: next, expert: Int(expert))
        }
    }
}
