/// HybriMoE's intra-layer hybrid scheduling (Zhong et al., arXiv 2504.05897; papers.md §1.8, peers.md §1.12): once a
/// layer's routing is known, the GPU computes the cached experts (highest load first), the CPU computes uncached
/// experts (lowest load first), and the link moves uncached experts for the GPU (highest load first). A greedy
/// simulation of the three timelines picks the split: the k highest-load uncached experts are loaded, the rest run
/// on the CPU, for the k that minimises max(CPU done, GPU done).
///
/// The simulation here uses the engine's own costs and state (the paper measures costs in a warm-up): the GPU starts
/// at the layer's routing with the cached (and prefetched) experts, loads start when the link has moved what is already
/// queued (prefetches included, so a busy link sends more work to the CPU), each CPU expert starts when the CPU is free
/// and its activations have arrived and ends with its results copied back. Ties go to the smaller k (fewer transfers).
/// Loads and CPU experts run in the layer's access order, as the engine issues them: "highest load first" decides
/// which experts go to the link and "lowest load first" which go to the CPU, not their order (at batch-1 decode every
/// expert has one token, so the orders coincide).
///
/// Deviations: the paper's CPU also takes low-load CACHED experts when it is idle; here cached experts always run on
/// the GPU (at batch-1 decode a cached expert's GPU time is far below the CPU's). An expert that becomes a miss only
/// because an earlier load of the same layer evicted it is decided alone, by the cheaper finish time. Where offloaded
/// experts live on storage (unified memory) every miss loads. The rest of HybriMoE is the cache policy `mrs` and the
/// prefetch policy `hybrimoe` (the `hybrimoe` system preset).
public final class HybriMoEMiss: MissPolicy {
    public static let summary = "HybriMoE's hybrid scheduling (papers.md §1.8): per layer, load the k highest-load uncached experts and run the rest on the CPU, with k chosen by simulating the GPU, CPU and link timelines to minimise max(CPU, GPU); cached experts run on the GPU. No options"

    public let name = "hybrimoe"
    public let requirements = MissRequirements(plansLayers: true)
    /// The step (pass x layers + layer) the plan is for, and the plan per expert.
    private var planStep = -1
    private var plan: [MissAction]
    private var uncached: [Int] = []
    private var cachedTokens: [Int] = []
    /// The uncached experts in access order, and which the candidate split sends to the CPU.
    private var missedInOrder: [Int] = []
    private var toCPU: [Bool]
    private(set) var plannedLayers = 0
    private(set) var unplannedMisses = 0
    private(set) var unavailableCPU = 0

    public init(setup: MissSetup) throws {
        try setup.accept(only: [])
        plan = Array(repeating: .load, count: setup.model.experts)
        toCPU = Array(repeating: false, count: setup.model.experts)
    }

    public func beginLayer(layer: Int, context: MissContext) {
        planStep = context.passIndex * context.layers + layer
        uncached.removeAll(keepingCapacity: true)
        cachedTokens.removeAll(keepingCapacity: true)
        for e in context.routedExperts {
            if context.isAvailable(layer: layer, expert: e) { cachedTokens.append(context.tokens(expert: e)) } else { uncached.append(e) }
        }
        missedInOrder = uncached
        for e in uncached { plan[e] = .load }
        guard !uncached.isEmpty, context.cpuAvailable else { return }
        plannedLayers += 1
        // PCIe and GPU take the highest loads, the CPU the lowest; equal loads keep access order (stable sorts).
        uncached = stableSorted(uncached) { context.tokens(expert: $0) > context.tokens(expert: $1) }
        cachedTokens = stableSorted(cachedTokens, by: >)
        var gpuCachedDone = context.routedAt
        for s in cachedTokens { gpuCachedDone += context.gpuSeconds(tokens: s, lowPrecision: false) }
        let loadSeconds = context.loadSeconds(lowPrecision: false)
        var bestK = 0
        var bestCost = Double.infinity
        let linkFree = max(context.linkFreeAt, context.routedAt)
        for k in 0...uncached.count {
            for (i, e) in uncached.enumerated() { toCPU[e] = i >= k }
            var link = linkFree
            var gpu = gpuCachedDone
            var cpuFree = context.cpuFreeAt
            var cpuReady = context.routedAt
            for e in missedInOrder {
                let s = context.tokens(expert: e)
                if toCPU[e] {
                    let r = context.cpuResultsReady(tokens: s, cpuFree: cpuFree)
                    cpuFree = r.cpuFree
                    cpuReady = max(cpuReady, r.ready)
                } else {
                    link += loadSeconds
                    gpu = max(gpu, link) + context.gpuSeconds(tokens: s, lowPrecision: false)
                }
            }
            let cost = max(gpu, cpuReady)
            if cost < bestCost {
                bestCost = cost
                bestK = k
            }
        }
        for e in uncached.suffix(uncached.count - bestK) { plan[e] = .cpu }
    }

    public func decide(layer: Int, expert: Int, context: MissContext) -> MissAction {
        guard context.cpuAvailable else {
            unavailableCPU += 1
            return .load
        }
        if planStep == context.passIndex * context.layers + layer && uncached.contains(expert) { return plan[expert] }
        // Evicted by an earlier load of this layer after the plan was made: the cheaper finish alone.
        unplannedMisses += 1
        let s = context.tokens(expert: expert)
        let loaded = max(context.linkFreeAt, context.routedAt) + context.loadSeconds(lowPrecision: false) + context.gpuSeconds(tokens: s, lowPrecision: false)
        return context.cpuResultsReady(tokens: s, cpuFree: context.cpuFreeAt).ready <= loaded ? .cpu : .load
    }

    public var notes: [String] {
        var out: [String] = []
        if unplannedMisses > 0 { out.append("\(unplannedMisses) misses arose after their layer's plan (an earlier load of the layer evicted them) and were decided alone") }
        if unavailableCPU > 0 { out.append("\(unavailableCPU) misses loaded: offloaded experts live on storage here, so the CPU holds no copy to run") }
        return out
    }
}

/// `values` sorted by `areInIncreasingOrder`, equal elements in their original order.
func stableSorted<T>(_ values: [T], by areInIncreasingOrder: (T, T) -> Bool) -> [T] {
    values.enumerated().sorted { a, b in
        areInIncreasingOrder(a.element, b.element) || (!areInIncreasingOrder(b.element, a.element) && a.offset < b.offset)
    }.map(\.element)
}
