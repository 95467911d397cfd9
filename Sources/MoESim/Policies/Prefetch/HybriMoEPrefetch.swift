/// HybriMoE's impact-driven prefetch (Zhong et al., arXiv 2504.05897; papers.md §1.8, peers.md §1.12): at layer l the
/// gates of layers l+1..l+3 are applied to layer l's hidden state, the benefit of prefetching each predicted expert is
/// simulated, and the highest-impact ones are prefetched greedily.
///
/// Predictions per (token, layer ahead) come from the trace's recorded `ahead` lists where present, else from the
/// noisy oracle of `NextLayerPredictor` (the model's measured per-layer accuracy where it has one, else `accuracy=`,
/// default 0.866: AdapMoE's Mixtral mean, papers.md §1.6.1, borrowed). Impact: an expert made resident saves, for each
/// token that uses it, the time the miss would otherwise cost (at batch-1 decode its CPU time: every routed expert
/// of a model has the same size), discounted by the chance the prediction is still right that far ahead, so
/// impact = tokens predicted to use it x (1 - depth-loss x (d - 1)) for a layer d ahead (depth-loss 0.05: ProMoE's
/// ~5 % per extra layer, peers.md R1, UNCONFIRMED). Equal impact goes to the nearer layer, then the predictor's order.
/// Up to `issue=N` (default: the model's top-k) are issued per layer, skipping experts cached, staged or arriving.
///
/// Deviations: the paper's benefit simulation replays its CPU/GPU/PCIe timelines per candidate; here the impact is the
/// closed form above (same ranking at batch 1, where all candidates cost the same). Defaults: admit=cache (into the MRS
/// cache, evicting its lowest score), link=fifo (one copy stream), wait=off, decode and prefill.
public final class HybriMoEPrefetch: PrefetchPolicy {
    static let options = ["depth=1..3", "issue=N", "predict=auto|ahead|noisy", "accuracy=profile|NUMBER", "depth-loss=NUMBER"]
        + PrefetchSetup.engineOptionHelp
    public static let summary = "HybriMoE's impact-driven prefetch (papers.md §1.8): layers l+1..l+3 predicted from layer l (the trace's `ahead`, else a noisy oracle), each candidate's impact = tokens predicted x (1 - 0.05 per extra layer), the highest issued first, up to top-k per layer, into the cache. Options: \(options.joined(separator: ", "))"

    public let name = "hybrimoe"
    public let speculates = true
    public let engine: PrefetchEngineOptions
    public let depth: Int
    public let issueLimit: Int
    public let depthLoss: Double
    let predictor: NextLayerPredictor
    private let accuracyText: String
    private var predicted: [Int32] = []
    private var candidates: [(layer: Int, expert: Int, impact: Double, order: Int)] = []
    /// Tokens predicted per expert of the layer being scored.
    private let votes: FixedArray<Int>

    public init(setup: PrefetchSetup) throws {
        try setup.accept(only: HybriMoEPrefetch.options)
        let layers = setup.header.layers, experts = setup.header.experts
        depth = try setup.integer("depth", in: 1...TokenRecord.maxAheadDepth).flatMap { $0 } ?? min(3, TokenRecord.maxAheadDepth)
        issueLimit = try setup.integer("issue", in: 1...Int.max).flatMap { $0 } ?? setup.header.topK
        depthLoss = try setup.predictorDepthLoss()
        let source = NextLayerPredictor.Source(rawValue: try setup.choice("predict", NextLayerPredictor.Source.allCases.map(\.rawValue)) ?? "auto")!
        let resolved = try setup.predictorAccuracy(layers: layers, standIn: PrefetchSetup.standInPredictorAccuracy)
        let accuracy = resolved.values!
        accuracyText = resolved.text
        engine = try setup.engineOptions(defaults: PrefetchEngineOptions(link: .fifo, admission: .cache, waitsForPreviousPrefetch: false))
        predictor = NextLayerPredictor(layers: layers, experts: experts, top: setup.header.topK, source: source, accuracy: accuracy,
                                       depthLoss: depthLoss, seed: setup.seed)
        votes = FixedArray(repeating: 0, count: experts)
    }

    public func afterRouting(layer: Int, context: PrefetchContext) {
        let tokens = context.passTokens
        if predictor.usesPopularity { predictor.observe(layer: layer, tokens: tokens) }
        candidates.removeAll(keepingCapacity: true)
        for d in 1...depth {
            let target = layer + d
            guard target < context.layers else { break }
            let weight = max(0, 1 - depthLoss * Double(d - 1))
            predicted.removeAll(keepingCapacity: true)
            for (i, token) in tokens.enumerated() {
                let start = predicted.count
                predictor.predict(token: token, tokenIndex: i, pass: context.passIndex, sourceLayer: layer, depth: d, into: &predicted)
                for e in predicted[start...] { votes[Int(e)] += 1 }
            }
            for e in predicted where votes[Int(e)] > 0 {
                if !context.isAvailable(layer: target, expert: Int(e)) {
                    candidates.append((target, Int(e), weight * Double(votes[Int(e)]), candidates.count))
                }
                votes[Int(e)] = 0
            }
        }
        candidates.sort { $0.impact > $1.impact || ($0.impact == $1.impact && ($0.layer < $1.layer || ($0.layer == $1.layer && $0.order < $1.order))) }
        var issued = 0
        for c in candidates where issued < issueLimit {
            guard context.freeStagingBuffers > 0 else { return }
            if context.prefetch(layer: c.layer, expert: c.expert) { issued += 1 }
        }
    }

    public var notes: [String] {
        var parts: [String] = []
        if predictor.fromAhead > 0 { parts.append("\(predictor.fromAhead) from the trace's recorded `ahead`") }
        if predictor.fromNoisy > 0 { parts.append("\(predictor.fromNoisy) from the noisy oracle (\(accuracyText), seed \(predictor.seed))") }
        if predictor.unavailable > 0 { parts.append("\(predictor.unavailable) unavailable (no `ahead` recorded)") }
        return parts.isEmpty ? [] : ["predictions per (token, predicted layer): " + parts.joined(separator: "; ")]
    }
}
