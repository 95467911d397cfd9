/// EdgeMoE's offline statistical profile (Yi et al., arXiv 2308.14352 §III-C; peers.md §1.4): a dictionary keyed by
/// the experts a token activated at the two previous MoE layers, whose value is how often each expert of the next
/// layer was activated after that key, measured on a profiling set (here: the first `prefixTokens` tokens of the
/// trace, prefill and decode alike).
///
/// Lookup backs off when the key was never profiled (the paper does not say what happens then; UNCONFIRMED): first
/// to the key of the previous layer alone, then to the layer's overall popularity in the profile. With top-k > 1
/// (Mixtral top-2, fine-grained top-8) exact keys rarely repeat, so the back-offs answer most lookups; the
/// prefetcher's notes count which level answered. Keys list a layer's experts sorted by id (a set, as activation is).
struct EdgeMoEProfile {
    enum Level: Int, CaseIterable {
        case twoLayers, oneLayer, popularity, none
        var name: String { ["two-layer key", "one-layer key", "layer popularity", "nothing profiled"][rawValue] }
    }

    let layers: Int
    let experts: Int
    /// Tokens profiled.
    private(set) var tokens = 0
    /// Key -> (tokens with that key, next-layer activation counts by expert).
    private var twoLayer: [[Int32]: (tokens: Int, counts: [Int32: Int])] = [:]
    private var oneLayer: [[Int32]: (tokens: Int, counts: [Int32: Int])] = [:]
    /// Activations per (layer, expert), and tokens routed per layer.
    private var popularity: [Int]
    private var routedTokens: [Int]

    init(layers: Int, experts: Int) {
        self.layers = layers
        self.experts = experts
        popularity = Array(repeating: 0, count: layers * experts)
        routedTokens = Array(repeating: 0, count: layers)
    }

    /// The token's experts at `layer`, sorted; nil for a missing (null) cell.
    static func cell(_ token: TokenRecord, _ layer: Int) -> [Int32]? {
        let n = Int(token.counts[layer])
        guard n >= 0 else { return nil }
        let base = layer * token.slotsPerLayer
        return token.experts[base..<(base + n)].sorted()
    }

    /// The lookup keys for predicting `target` from the token's routing at `target - 2` and `target - 1`.
    static func keys(_ token: TokenRecord, target: Int) -> (two: [Int32]?, one: [Int32]?) {
        guard target >= 1, let previous = cell(token, target - 1) else { return (nil, nil) }
        let one = [Int32(target)] + previous
        guard target >= 2, let earlier = cell(token, target - 2) else { return (nil, one) }
        return ([Int32(target)] + earlier + [-1] + previous, one)
    }

    mutating func add(_ token: TokenRecord) {
        tokens += 1
        for l in 0..<layers {
            guard let next = EdgeMoEProfile.cell(token, l) else { continue }
            routedTokens[l] += 1
            for e in next { popularity[l * experts + Int(e)] += 1 }
            let (two, one) = EdgeMoEProfile.keys(token, target: l)
            func count(_ key: [Int32]?, in table: inout [[Int32]: (tokens: Int, counts: [Int32: Int])]) {
                guard let key else { return }
                var entry = table[key] ?? (0, [:])
                entry.tokens += 1
                for e in next { entry.counts[e, default: 0] += 1 }
                table[key] = entry
            }
            count(two, in: &twoLayer)
            count(one, in: &oneLayer)
        }
    }

    /// Profiles the first `prefixTokens` tokens of `source` (nil: all of it).
    static func measure(source: PassSource, prefixTokens: Int?) throws -> EdgeMoEProfile {
        var profile = EdgeMoEProfile(layers: source.header.layers, experts: source.header.experts)
        var pass = Pass()
        while prefixTokens.map({ profile.tokens < $0 }) ?? true, try source.nextPass(into: &pass) {
            for t in 0..<pass.tokenCount where prefixTokens.map({ profile.tokens < $0 }) ?? true { profile.add(pass.tokens[t]) }
        }
        return profile
    }

    /// Adds to `score` the profiled probability of each expert of `target` for this token; returns the level that
    /// answered.
    func addProbabilities(for token: TokenRecord, target: Int, into score: inout [Double]) -> Level {
        let (two, one) = EdgeMoEProfile.keys(token, target: target)
        if let two, let entry = twoLayer[two] {
            for (e, c) in entry.counts { score[Int(e)] += Double(c) / Double(entry.tokens) }
            return .twoLayers
        }
        if let one, let entry = oneLayer[one] {
            for (e, c) in entry.counts { score[Int(e)] += Double(c) / Double(entry.tokens) }
            return .oneLayer
        }
        guard routedTokens[target] > 0 else { return .none }
        for e in 0..<experts { score[e] += Double(popularity[target * experts + e]) / Double(routedTokens[target]) }
        return .popularity
    }
}
