/// Fiddler's per-expert decision (Kamahori et al., ICLR 2025; peers.md §1.6): with s tokens routed to a missing
/// expert, copy its weights to the GPU and run it there when cpu_lat(s) > gpu_lat(s) + trans_lat(), else send the
/// activations to the CPU and run it there. cpu_lat grows about linearly in s and gpu_lat is about constant, so batch-1
/// decode almost always runs misses on the CPU.
///
/// Here cpu_lat(s) is the cost model's CPU time for the expert plus the activation copies to the host and back (a few
/// microseconds; Fiddler's latency model does not name them), gpu_lat(s) its GPU time and trans_lat() one on-demand
/// load at the link's rate with its setup latency. Like Fiddler's, the rule ignores the link's queue and the CPU's
/// backlog. Fiddler's placement (the most popular experts, profiled offline, pinned on the GPU) is the cache policy
/// `static` (the `fiddler` system preset). Deviation: Fiddler places that set before inference; the `static` cache
/// loads each pinned expert on its first use, so a miss of a pinned expert (`MissContext.isPinned`) is loaded (and
/// stays) rather than run on the CPU. Where offloaded experts live on storage (unified memory) the CPU has no copy in
/// DRAM, so every miss loads.
public final class FiddlerMiss: MissPolicy {
    public static let summary = "Fiddler (peers.md §1.6): run a missing expert on the CPU unless cpu_lat(s) > gpu_lat(s) + trans_lat() for its s tokens (then load it); the CPU and GPU run in parallel and the layer waits for both. No options"

    public let name = "fiddler"
    public let requirements = MissRequirements()
    private(set) var unavailableCPU = 0
    private(set) var placed = 0

    public init(setup: MissSetup) throws {
        try setup.accept(only: [])
    }

    public func decide(layer: Int, expert: Int, context: MissContext) -> MissAction {
        guard context.cpuAvailable else {
            unavailableCPU += 1
            return .load
        }
        if context.isPinned(layer: layer, expert: expert) {
            placed += 1
            return .load
        }
        let s = context.tokens(expert: expert)
        let cpu = context.cpuSeconds(tokens: s) + context.activationCopySeconds(tokens: s)
        let gpu = context.gpuSeconds(tokens: s, lowPrecision: false) + context.loadSeconds(lowPrecision: false)
        return cpu > gpu ? .load : .cpu
    }

    public var notes: [String] {
        var out: [String] = []
        if placed > 0 { out.append("\(placed) misses loaded to place a pinned expert of the static cache (Fiddler places them before the run)") }
        if unavailableCPU > 0 { out.append("\(unavailableCPU) misses loaded: offloaded experts live on storage here, so the CPU holds no copy to run") }
        return out
    }
}
