/// Cross-layer gate prefetching: at layer l, apply layer l+1's gate to layer l's MoE input and prefetch the experts it
/// picks. Predictions come from the trace's recorded `ahead` lists where present, else from a noisy oracle with
/// per-layer accuracy a_l (`NextLayerPredictor`, which says exactly what it reads).
///
/// `next-layer-gate` defaults = AdapMoE's RELEASED CODE (papers.md §1.3.B "Code implementation", §1.6.3; `custom_layers.py`,
/// `linear_cache.py`):
/// * decode passes only (step 1); `prefill` also prefetches in prefill passes (each token's predictions, rank by rank);
/// * before layer l's experts run, the GPU waits for the prefetch issued at layer l-1 (step 2, `wait=on`);
/// * the top-2 of the predicted next-layer gate (`top=2`, fixed, not adaptive; step 2);
/// * the FIRST predicted expert that is not resident, at most one per layer (`issue=1`), for layer l+1 only
///   (`depth=1`; step 3);
/// * issued after layer l's on-demand loads on the same single copy stream (`link=fifo`; step 4);
/// * into a spare buffer, entering layer l+1's cache (evicting its LRU entry) only if used, dropped otherwise
///   (`admit=buffer`; step 5). The staging pool is the runtime's buffer pool size (`buffers=N` to change).
/// * a_l: the model's `adapmoeProfile.prefetchAccuracy` (papers.md §1.6.1, dp.py `accs`: layer 0 = 0, mean 0.866 over
///   layers 1-31), used when the trace has no `ahead` (`accuracy=NUMBER` for one value at every layer).
///
/// AdapMoE's PAPER variant (§1.3.B "Paper idea", §4.4; UNCONFIRMED in detail), `next-layer-gate:depth=3,issue=all`:
/// every predicted expert not resident, and when layer l+1's predicted experts are all resident, the transfer slot goes
/// to layers l+2 or l+3: `depth=3` goes deeper only past layers whose predictions are all available, and stops at the
/// first layer that had something missing. It keeps the code's `wait=on` (add `wait=off` to drop it). Not modelled: the paper's optional
/// layer-0 auxiliary gate (not in the released code; a_0 = 0), and conditioning candidates on the adaptive-gating
/// decision of layer l+1 (its details are unconfirmed; the code does not do it).
///
/// `mixtral-offloading` (peers.md §1.1; the paper's speculative loading, which its repository never shipped):
/// next layer's gate on the current hidden state, its top experts loaded INTO THE LRU CACHE while the current layer
/// computes, lookahead one layer. Defaults: `top=2,issue=all,depth=1,link=fifo,admit=cache,wait=off`. The paper does
/// not say how many experts it speculates on (its Fig. 2 measures recall for 1, 2 and 10 layers ahead): top-2, the
/// router's own top_k, is this simulator's choice; `top=1` is the other plausible reading.
///
/// `promoe` (ProMoE, Song et al., arXiv 2410.22134; peers.md §1.8): STRIDE prefetching, `stride=2`: at layer l the
/// predictor targets layer l+2 (the copy of l+1's experts, predicted at l-1, overlaps layer l), at depth 2, so the
/// noisy oracle loses `depth-loss` = 0.05 of accuracy (ProMoE's "~5 % per extra layer of distance", UNCONFIRMED);
/// at layer 0 it also targets layer 1, which no earlier layer could (this simulator's choice). ProMoE's learned
/// predictor reads hidden states, so it is this noisy oracle (peers.md R1). Its transfer engine maps to
/// `link=preempt` (on-demand loads go first and suspend a speculative copy in flight: the limit of its two-priority
/// queue with per-matrix chunks; the chunks themselves are the `tuned` runtime's per-matrix transfers) and its LRU
/// cache fed by prefetches to `admit=cache`. Defaults: `stride=2,top=TOP_K,issue=all,depth=1,link=preempt,admit=cache,
/// wait=off,prefill` (prefill passes always, as ProMoE reports prefill speedups). a_l: the model's AdapMoE profile where it has one, else `accuracy=0.866` (that profile's
/// mean, papers.md §1.6.1) as a stand-in, UNCONFIRMED for other models (the notes say which). It is this class
/// with fixed defaults; every option above still applies. Quality: exact (nothing is dropped or substituted).
///
/// Deviations from all three: an expert is "resident" when it is cached, staged or already on its way (the engine cannot
/// prefetch what is already coming). With `admit=cache` the expert enters the cache when it lands, not when issued.
public final class NextLayerGatePrefetch: PrefetchPolicy {
    public enum Variant: Sendable {
        case adapmoe
        case mixtralOffloading
        case promoe
    }


    static let options = ["top=K", "issue=N|all", "depth=1..3", "predict=auto|ahead|noisy", "accuracy=profile|NUMBER", "depth-loss=NUMBER",
                          "prefill", "wait=on|off", "stride=1..3"] + PrefetchSetup.engineOptionHelp

    public static let summary = "AdapMoE's cross-layer prefetch (papers.md §1.3.B): at layer l, layer l+1's gate on layer l's input predicts its experts (the trace's `ahead` where recorded, else a noisy oracle right with probability a_l: the model's AdapMoE profile, mean 0.866). Defaults = the released code: top=2 predicted, issue=1 (the first one not resident), depth=1, link=fifo (after the layer's on-demand loads), admit=buffer (cached only if used), wait=on (the GPU waits for the previous prefetch), decode only. Options: \(options.joined(separator: ", ")); depth=3 goes deeper only when layer l+1's predictions are all resident (the paper); predict=noisy ignores `ahead`; depth-loss=0.05 accuracy lost per extra layer; buffers=N staging buffers"

    public static let promoeSummary = "ProMoE's stride prefetch (peers.md §1.8): at layer l, predict layer l+2 (noisy oracle, 0.05 accuracy lost per extra layer of distance) and load its experts on a preemptible low-priority link into the cache. = next-layer-gate:stride=2,top=TOP_K,issue=all,link=preempt,admit=cache,wait=off,prefill (a_l: the model's AdapMoE profile, else 0.866); takes the same options; chunked transfers come from the runtime (tuned)"

    public static let mixtralOffloadingSummary = "mixtral-offloading's speculative loading (peers.md §1.1): next layer's gate on the current hidden state, its top experts loaded into the LRU cache. = next-layer-gate:top=2,issue=all,admit=cache,wait=off (a_l: the model's AdapMoE profile, else 0.866); takes the same options"

    public let name: String
    public let speculates = true
    public let engine: PrefetchEngineOptions
    /// Experts issued per layer at most (nil: every predicted one that is missing).
    public let issueLimit: Int?
    public let depth: Int
    /// The first layer targeted from layer l is l + stride (ProMoE: 2).
    public let stride: Int
    public let prefetchesInPrefill: Bool
    let predictor: NextLayerPredictor
    private let accuracyText: String
    private var candidates: [Int32] = []
    private var perToken: [[Int32]] = []
    private let seen: FixedArray<Bool>

    init(name: String, layers: Int, experts: Int, top: Int, issueLimit: Int?, depth: Int, stride: Int = 1, source: NextLayerPredictor.Source,
         accuracy: [Double]?, accuracyText: String, depthLoss: Double, prefill: Bool, engine: PrefetchEngineOptions, seed: UInt64) {
        self.name = name
        self.issueLimit = issueLimit
        self.depth = depth
        self.stride = stride
        self.prefetchesInPrefill = prefill
        self.engine = engine
        self.accuracyText = accuracyText
        predictor = NextLayerPredictor(layers: layers, experts: experts, top: top, source: source, accuracy: accuracy,
                                       depthLoss: depthLoss, seed: seed)
        seen = FixedArray(repeating: false, count: experts)
    }

    convenience init(setup: PrefetchSetup, variant: Variant) throws {
        try setup.accept(only: NextLayerGatePrefetch.options)
        let layers = setup.header.layers, experts = setup.header.experts
        let mixtral = variant == .mixtralOffloading, promoe = variant == .promoe
        let top = try setup.integer("top", in: 1...experts).flatMap { $0 } ?? (promoe ? setup.header.topK : 2)
        let issue: Int?? = try setup.integer("issue", in: 1...Int.max, allowsAll: true)
        let issueLimit: Int? = issue ?? (mixtral || promoe ? nil : 1)
        let depth = try setup.integer("depth", in: 1...TokenRecord.maxAheadDepth).flatMap { $0 } ?? 1
        let stride = try setup.integer("stride", in: 1...TokenRecord.maxAheadDepth).flatMap { $0 } ?? (promoe ? 2 : 1)
        let source = NextLayerPredictor.Source(rawValue: try setup.choice("predict", NextLayerPredictor.Source.allCases.map(\.rawValue)) ?? "auto")!
        let depthLoss = try setup.predictorDepthLoss()
        let resolved = try setup.predictorAccuracy(layers: layers, standIn: (promoe || mixtral) && source != .ahead ? PrefetchSetup.standInPredictorAccuracy : nil)
        let accuracy = resolved.values
        if accuracy == nil && source != .ahead {
            throw setup.error("the noisy predictor needs per-layer accuracies a_l, and model '\(setup.model.name)' has no adapmoeProfile.prefetchAccuracy",
                              hint: "give accuracy=NUMBER (e.g. accuracy=0.866), or predict=ahead to use only the trace's recorded `ahead` predictions")
        }
        let accuracyText = resolved.text
        let prefill = try setup.flag("prefill") || promoe
        var defaults = PrefetchEngineOptions(link: promoe ? .preempt : .fifo, admission: mixtral || promoe ? .cache : .buffer,
                                             waitsForPreviousPrefetch: !mixtral && !promoe)
        if let wait = try setup.choice("wait", ["on", "off"]) { defaults.waitsForPreviousPrefetch = wait == "on" }
        let engine = try setup.engineOptions(defaults: defaults)
        self.init(name: setup.spec.name, layers: layers, experts: experts, top: top, issueLimit: issueLimit, depth: depth, stride: stride,
                  source: source, accuracy: accuracy, accuracyText: accuracyText, depthLoss: depthLoss, prefill: prefill,
                  engine: engine, seed: setup.seed)
    }

    public func afterRouting(layer: Int, context: PrefetchContext) {
        let tokens = context.passTokens
        if predictor.usesPopularity { predictor.observe(layer: layer, tokens: tokens) }
        guard context.passPhase == .decode || prefetchesInPrefill else { return }
        var budget = issueLimit ?? Int.max
        let pass = context.passIndex
        // Layers 1..<stride: no earlier layer targets them, so layer 0 does (stride 1: none).
        if layer == 0 {
            for d in 1..<stride where d < context.layers {
                if issue(tokens: tokens, pass: pass, layer: layer, depth: d, budget: &budget, context: context) == .stop { return }
            }
        }
        for d in stride..<(stride + depth) {
            guard layer + d < context.layers else { return }
            // Deeper only while every prediction so far is already resident (the paper's rule).
            guard issue(tokens: tokens, pass: pass, layer: layer, depth: d, budget: &budget, context: context) == .allResident else { return }
        }
    }

    private enum Issued { case allResident, someMissing, stop }

    /// Requests the predictions for `layer + depth` that are not resident, within `budget` and the staging buffers.
    private func issue(tokens: ArraySlice<TokenRecord>, pass: Int, layer: Int, depth: Int, budget: inout Int, context: PrefetchContext) -> Issued {
        let target = layer + depth
        collect(tokens: tokens, pass: pass, sourceLayer: layer, depth: depth)
        var missing = false
        for e in candidates where !context.isAvailable(layer: target, expert: Int(e)) {
            missing = true
            guard budget > 0, context.freeStagingBuffers > 0 else { return .stop }
            if context.prefetch(layer: target, expert: Int(e)) { budget -= 1 }
        }
        return missing ? .someMissing : .allResident
    }

    /// The predictions for `sourceLayer + depth` of every token, rank by rank across tokens, without repeats.
    private func collect(tokens: ArraySlice<TokenRecord>, pass: Int, sourceLayer: Int, depth: Int) {
        candidates.removeAll(keepingCapacity: true)
        if tokens.count == 1 {
            predictor.predict(token: tokens[tokens.startIndex], tokenIndex: 0, pass: pass, sourceLayer: sourceLayer, depth: depth, into: &candidates)
            return
        }
        while perToken.count < tokens.count { perToken.append([]) }
        var longest = 0
        for (i, token) in tokens.enumerated() {
            perToken[i].removeAll(keepingCapacity: true)
            predictor.predict(token: token, tokenIndex: i, pass: pass, sourceLayer: sourceLayer, depth: depth, into: &perToken[i])
            longest = max(longest, perToken[i].count)
        }
        for rank in 0..<longest {
            for i in 0..<tokens.count where rank < perToken[i].count {
                let e = perToken[i][rank]
                if !seen[Int(e)] { seen[Int(e)] = true; candidates.append(e) }
            }
        }
        for e in candidates { seen[Int(e)] = false }
    }

    public var notes: [String] {
        var parts: [String] = []
        if predictor.fromAhead > 0 { parts.append("\(predictor.fromAhead) from the trace's recorded `ahead`") }
        if predictor.fromNoisy > 0 { parts.append("\(predictor.fromNoisy) from the noisy oracle (\(accuracyText), wrong guesses by popularity so far, seed \(predictor.seed))") }
        if predictor.unavailable > 0 { parts.append("\(predictor.unavailable) unavailable (no `ahead` recorded; nothing prefetched for them)") }
        return parts.isEmpty ? [] : ["predictions per (token, predicted layer): " + parts.joined(separator: "; ")]
    }
}
