/// The host's CPU cores as an expert executor (Fiddler, HybriMoE): one timeline. An expert starts once the cores are
/// free and its activations have reached the host, and holds them for its compute time (`CostModel.cpuExpertSeconds`).
struct HostCPU {
    /// When the cores finish the work given to them so far.
    private(set) var free = 0.0

    /// Runs `seconds` of expert work that may start at `readyAt`; returns when it started and ended.
    mutating func run(readyAt: Double, seconds: Double) -> (start: Double, end: Double) {
        let start = max(free, readyAt)
        free = start + seconds
        return (start, free)
    }
}
