/// BuddyMoE's cache-aware substitution (Wang et al., arXiv 2511.10054; peers.md §1.18): "buddy" experts are found
/// offline from co-activation patterns; at run time, when an expert misses and would be loaded on demand, a CACHED
/// buddy runs in its place. peers.md has only the abstract: the paper's "three-metric runtime policy" is not known
/// here, so this follows the abstract with two stated rules and one assumption:
/// * buddies: the experts most often selected together with it by the same token at its layer over a profiling
///   prefix of `prefix=N` tokens of this trace (`CoActivationProfile`; read ahead of the run, standing in for
///   BuddyMoE's offline profiling), at most `buddies=K` of them;
/// * the first of those buddies that is cached, not itself routed at this layer in this pass and not already standing in
///   for another miss of the layer (a token must not get one expert's output twice) substitutes for the missing
///   expert, for all its tokens;
/// * ASSUMPTION (the gate-weight metric): an expert is substituted only where every token ranks it `rank=R` or lower
///   (default 1: a token's top-1 expert is never substituted); otherwise, or without a cached buddy, it is loaded.
/// Reports the substituted fraction of routed (token, expert) cells and of gate-weight mass as a quality proxy.
public final class BuddyMoEMiss: MissPolicy {
    public static let options = ["prefix=N", "buddies=K", "rank=R"]
    public static let summary = "BuddyMoE (peers.md §1.18): substitute a missing expert by a cached buddy (the experts most co-activated with it over a profiling prefix of the trace) unless it is some token's top-1; else load. Options: prefix=256 tokens, buddies=2, rank=1 (never substitute a token's top-R). Reports a quality proxy"

    public static let defaultPrefixTokens = 256
    public static let defaultBuddies = 2
    public static let defaultRank = 1

    public let name = "buddymoe"
    public let requirements = MissRequirements(gateStatistics: true, approximates: true)
    public let profile: CoActivationProfile
    public let minimumRank: Int
    private(set) var keptForRank = 0
    private(set) var noBuddyCached = 0
    /// The step (pass x layers + layer) at which each buddy of the current layer last stood in.
    private var usedAtStep: [Int]

    public init(setup: MissSetup) throws {
        try setup.accept(only: BuddyMoEMiss.options)
        let prefix = try setup.integer("prefix", in: 1...Int.max) ?? BuddyMoEMiss.defaultPrefixTokens
        let buddies = try setup.integer("buddies", in: 1...Int.max) ?? BuddyMoEMiss.defaultBuddies
        minimumRank = try setup.integer("rank", in: 0...Int.max) ?? BuddyMoEMiss.defaultRank
        if minimumRank > 0 { try setup.requireWeights("rank=\(minimumRank) keeps a token's top-ranked experts exact; rank=0 needs none") }
        profile = try CoActivationProfile(source: try setup.reopenSource(), prefixTokens: prefix, maxBuddies: buddies)
        usedAtStep = Array(repeating: -1, count: setup.model.experts)
    }

    public func decide(layer: Int, expert: Int, context: MissContext) -> MissAction {
        if minimumRank > 0 {
            guard let gate = context.gate(expert: expert), gate.bestRank >= minimumRank else {
                keptForRank += 1
                return .load
            }
        }
        let step = context.passIndex * context.layers + layer
        for buddy in profile.buddies[layer * profile.experts + expert]
        where usedAtStep[buddy] != step && context.isCached(layer: layer, expert: buddy) && context.tokens(expert: buddy) == 0 {
            usedAtStep[buddy] = step
            return .substitute(expert: buddy)
        }
        noBuddyCached += 1
        return .load
    }

    public var notes: [String] {
        ["buddies from co-activation over the trace's first \(profile.tokens) tokens; \(keptForRank) misses loaded because they are in some token's top \(minimumRank), \(noBuddyCached) because no buddy was cached"]
    }
}
