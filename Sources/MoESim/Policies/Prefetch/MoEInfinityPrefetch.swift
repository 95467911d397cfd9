/// MoE-Infinity's activation-aware prefetch (Xue et al., arXiv 2401.14361; peers.md §1.2, open-source
/// `expert_tracer.py`, `expert_predictor.py`, `expert_prefetcher.py`).
///
/// * Each request builds an Expert Activation Matrix (EAM), layers x experts, +1 per token routed to an expert
///   (`update_entry`), over its prefill and decode passes. When the next request starts, the finished matrix enters
///   a bounded collection (`capacity=N`, default 1000 as `trace_capacity`, UNCONFIRMED; replacement of the
///   least-accessed entry; `ExpertActivationCollection`).
/// * At every MoE layer l of every pass (prefill too), the stored EAM most similar to the current one
///   (`match=seen`: rows 0...l, the default; `match=code`: rows l+1..L-1 as the released code effectively compares)
///   is taken, each later layer i's row is scaled by the linear decay 1 - (i-l)/(L+1), and every expert with a score
///   > 0 is requested, highest score first (ties: nearer layer, then lower id), while staging buffers last.
/// * Defaults `admit=cache` (prefetched experts go straight into the GPU expert pool, evicting by the cache policy,
///   `min-visit` in the `moe-infinity` system) and `link=low-priority` (an on-demand fetch goes before queued
///   prefetches: the released code reprioritises its prefetch queue on a miss).
///
/// Deviations: the stored row l (the current layer, already being fetched on demand) is not requested; the code's
/// `+ 1e-8` on every score, which would enqueue every expert of the remaining layers after the positive ones, is
/// dropped (only experts the matched EAM saw are requested); nothing is prefetched for the first request (empty
/// collection; the code would match an all-zero slot and fetch everything in layer order); there are no persistent
/// (pre-loaded) entries; a request's EAM is stored when the next request's first pass starts (the trace marks
/// request boundaries by the token's request). The paper's prefetch priority also weighs expert frequency in the
/// cache; the released code does not, nor does this. Quality: exact (nothing is dropped or substituted).
public final class MoEInfinityPrefetch: PrefetchPolicy {
    static let options = ["capacity=N", "match=seen|code"] + PrefetchSetup.engineOptionHelp

    public static let summary = "MoE-Infinity's activation-aware prefetch (peers.md §1.2): a per-request Expert Activation Matrix (layers x experts token counts) is matched by cosine similarity against the EAMs of earlier requests (bounded collection, least-accessed replaced), and every expert the best match used in the remaining layers is requested, highest count x decay 1-(i-l)/(L+1) first. Defaults capacity=1000, match=seen (rows 0..l; match=code: the later rows, as the released code), link=low-priority, admit=cache. Options: \(options.joined(separator: ", "))"

    public let name = "moe-infinity"
    public let speculates = true
    public let engine: PrefetchEngineOptions
    let rows: ExpertActivationCollection.Rows
    private(set) var collection: ExpertActivationCollection
    private let layers: Int
    private let experts: Int
    /// The current request's EAM and the norm of each of its rows.
    private var current: [Double]
    private var currentNorms: [Double]
    private var currentRequest = -1
    private var lastPass = -1
    private var candidates: [(priority: Double, layer: Int, expert: Int)] = []
    private(set) var matches = 0
    private(set) var unmatchedLayers = 0

    init(layers: Int, experts: Int, capacity: Int, rows: ExpertActivationCollection.Rows, engine: PrefetchEngineOptions) {
        self.layers = layers
        self.experts = experts
        self.rows = rows
        self.engine = engine
        collection = ExpertActivationCollection(capacity: capacity, layers: layers, experts: experts)
        current = Array(repeating: 0, count: layers * experts)
        currentNorms = Array(repeating: 0, count: layers)
    }

    convenience init(setup: PrefetchSetup) throws {
        try setup.accept(only: MoEInfinityPrefetch.options)
        let capacity = try setup.integer("capacity", in: 1...1_000_000).flatMap { $0 } ?? 1000
        let rows = ExpertActivationCollection.Rows(rawValue: try setup.choice("match", ExpertActivationCollection.Rows.allCases.map(\.rawValue)) ?? "seen")!
        self.init(layers: setup.header.layers, experts: setup.header.experts, capacity: capacity, rows: rows,
                  engine: try setup.engineOptions(defaults: PrefetchEngineOptions(link: .lowPriority, admission: .cache)))
    }

    /// Decay of layer i's scores seen from layer l: 1 - (i - l) / (L + 1) (`ExpertPredictor.layer_decay_func`).
    static func decay(layer i: Int, from l: Int, layers: Int) -> Double { 1 - Double(i - l) / Double(layers + 1) }

    public func afterRouting(layer: Int, context: PrefetchContext) {
        let tokens = context.passTokens
        if context.passIndex != lastPass {
            lastPass = context.passIndex
            if let request = tokens.first?.request, request != currentRequest {
                if currentRequest >= 0 { collection.store(current) }
                currentRequest = request
                for i in current.indices { current[i] = 0 }
                for l in 0..<layers { currentNorms[l] = 0 }
            }
            // Rows other than this one are as the earlier passes left them; refresh all once per pass.
            collection.refresh(current, currentNorms: currentNorms, rows: 0..<layers)
        }
        let base = layer * experts
        for token in tokens {
            let n = Int(token.counts[layer])
            guard n > 0 else { continue }
            for i in 0..<n { current[base + Int(token.experts[layer * token.slotsPerLayer + i])] += 1 }
        }
        currentNorms[layer] = ExpertActivationCollection.norm(current, row: layer, experts: experts)
        collection.refresh(current, currentNorms: currentNorms, rows: layer..<(layer + 1))

        guard layer + 1 < layers else { return }
        guard let slot = collection.bestMatch(layer: layer, rows: rows) else { unmatchedLayers += 1; return }
        matches += 1
        guard context.freeStagingBuffers > 0 else { return }
        let matched = collection.matrices[slot]
        // Only experts not resident can be requested, so only they are ranked.
        candidates.removeAll(keepingCapacity: true)
        for i in (layer + 1)..<layers {
            let decay = MoEInfinityPrefetch.decay(layer: i, from: layer, layers: layers)
            for e in 0..<experts where matched[i * experts + e] > 0 && !context.isAvailable(layer: i, expert: e) {
                candidates.append((matched[i * experts + e] * decay, i, e))
            }
        }
        // Highest first, while buffers last: select the next best each time (buffers are few, candidates many).
        var taken = 0
        while taken < candidates.count, context.freeStagingBuffers > 0 {
            var best = taken
            for j in (taken + 1)..<candidates.count where MoEInfinityPrefetch.precedes(candidates[j], candidates[best]) { best = j }
            candidates.swapAt(taken, best)
            context.prefetch(layer: candidates[taken].layer, expert: candidates[taken].expert)
            taken += 1
        }
    }

    /// Request order: higher priority, then the nearer layer, then the lower expert id.
    static func precedes(_ a: (priority: Double, layer: Int, expert: Int), _ b: (priority: Double, layer: Int, expert: Int)) -> Bool {
        a.priority != b.priority ? a.priority > b.priority : (a.layer != b.layer ? a.layer < b.layer : a.expert < b.expert)
    }

    public var notes: [String] {
        ["EAM collection: \(collection.stored) request matrices stored (\(collection.replaced) replaced), capacity \(collection.capacity), match=\(rows.rawValue); \(matches) layer matches, \(unmatchedLayers) layers with nothing to match (no earlier request finished)"]
    }
}
