/// EdgeMoE's expert preloading (Yi et al., arXiv 2308.14352 §III-C; peers.md §1.4): from an offline statistical
/// profile keyed by the experts activated at the two previous MoE layers (`EdgeMoEProfile`), preload the next layer's
/// most probable experts, in descending probability, 1-3 per layer.
///
/// Here: after layer l's routing, each token of the pass looks up its key (its experts at l-1 and l) for layer l+1;
/// the probabilities are summed over the pass's tokens and the `top=N` highest (default min(3, top_k); ties to the
/// lower id) that are not resident are requested, in that order, while staging buffers last. Layer 1 is predicted
/// from layer 0 alone; nothing is predicted for layer 0. The profile is the first `prefix=K` tokens of the trace
/// (default 64; `prefix=all` profiles the whole trace, in hindsight), read through the run's own look-ahead copy,
/// like `adapmoe-dp-measured`; the run then replays every token, so the profiled prefix is predicted in-sample.
/// Defaults `admit=cache` (preloaded experts enter EdgeMoE's expert buffer, evicting by its policy) and
/// `link=low-priority` (an on-demand load goes first: EdgeMoE preloads only until the router has decided).
///
/// Deviations: EdgeMoE starts a layer's preload before that layer's router runs; here it is issued one expert
/// computation earlier, after the previous layer's routing (the engine's prefetch point). The profile comes from a
/// prefix of the replayed trace, not from a separate dataset. Unseen keys back off (see `EdgeMoEProfile`).
/// EdgeMoE's expert-wise bit-width adaptation (APPROX) is not modelled: experts move at the run's quantization.
/// Quality: exact (nothing is dropped or substituted).
public final class EdgeMoEPrefetch: PrefetchPolicy {
    static let options = ["top=N", "prefix=K|all"] + PrefetchSetup.engineOptionHelp

    public static let summary = "EdgeMoE's preloading (peers.md §1.4): a statistical profile of the first prefix=K tokens (default 64; all: the whole trace) maps the experts a token activated at the two previous layers to next-layer activation probabilities (unseen keys back off to the previous layer alone, then to layer popularity); after each layer the top=N most probable next-layer experts (default min(3, top_k)) are preloaded. Defaults link=low-priority, admit=cache. Options: \(options.joined(separator: ", "))"

    public let name = "edgemoe"
    public let speculates = true
    public let engine: PrefetchEngineOptions
    public let top: Int
    let profile: EdgeMoEProfile
    let prefixText: String
    private var score: [Double]
    private var ranked: [Int] = []
    private(set) var answeredBy = [Int](repeating: 0, count: EdgeMoEProfile.Level.allCases.count)

    init(profile: EdgeMoEProfile, top: Int, prefixText: String, engine: PrefetchEngineOptions) {
        self.profile = profile
        self.top = top
        self.prefixText = prefixText
        self.engine = engine
        score = Array(repeating: 0, count: profile.experts)
    }

    convenience init(setup: PrefetchSetup) throws {
        try setup.accept(only: EdgeMoEPrefetch.options)
        let experts = setup.header.experts
        let top = try setup.integer("top", in: 1...experts).flatMap { $0 } ?? min(3, setup.header.topK)
        let prefix: Int? = try setup.integer("prefix", in: 1...Int.max, allowsAll: true) ?? 64
        let profile = try EdgeMoEProfile.measure(source: try setup.reopenSource(), prefixTokens: prefix)
        guard profile.tokens > 0 else { throw setup.error("the trace has no tokens to profile") }
        self.init(profile: profile, top: top, prefixText: prefix != nil ? "the first \(profile.tokens) tokens" : "the whole trace (\(profile.tokens) tokens, hindsight)",
                  engine: try setup.engineOptions(defaults: PrefetchEngineOptions(link: .lowPriority, admission: .cache)))
    }

    /// The experts of `target` to preload for `tokens`, most probable first (at most `top`).
    func predict(tokens: ArraySlice<TokenRecord>, target: Int) -> [Int] {
        for e in score.indices { score[e] = 0 }
        for token in tokens { answeredBy[profile.addProbabilities(for: token, target: target, into: &score).rawValue] += 1 }
        // The `top` best by selection (top is 1-3 in EdgeMoE, experts up to 128).
        ranked.removeAll(keepingCapacity: true)
        while ranked.count < top {
            var best = -1
            for e in score.indices where score[e] > 0 && (best < 0 || score[e] > score[best]) && !ranked.contains(e) { best = e }
            guard best >= 0 else { break }
            ranked.append(best)
        }
        return ranked
    }

    public func afterRouting(layer: Int, context: PrefetchContext) {
        let target = layer + 1
        guard target < context.layers else { return }
        for e in predict(tokens: context.passTokens, target: target) where !context.isAvailable(layer: target, expert: e) {
            guard context.freeStagingBuffers > 0 else { return }
            context.prefetch(layer: target, expert: e)
        }
    }

    public var notes: [String] {
        let levels = EdgeMoEProfile.Level.allCases.filter { answeredBy[$0.rawValue] > 0 }.map { "\(answeredBy[$0.rawValue]) by \($0.name)" }
        return ["profile of \(prefixText); lookups per (token, predicted layer): " + (levels.isEmpty ? "none" : levels.joined(separator: ", "))]
    }
}
