/// Predicts which experts a later layer's gate will pick for a token, as a cross-layer prefetcher would at run time:
/// from the trace's recorded lookahead predictions (`ahead`, trace-format.md), used exactly, or, where the trace has
/// none, from a noisy oracle with a per-layer accuracy a_l.
///
/// The noisy oracle (peers.md R1: "noisy-oracle predictor parameterised by per-layer recall"): a_l is a per-expert
/// recall (AdapMoE's `accs`, papers.md §1.6.1: each value x 588 is an integer, 294 decode tokens x 2 experts), so each
/// of the token's recorded experts at the target layer, rank by rank, is predicted right independently with
/// probability a (then it is that true expert, in its rank); otherwise the slot gets a wrong expert drawn from the
/// target layer's popularity SO FAR IN THE RUN (recorded selections of passes already routed there, plus one for
/// every expert so that an unseen expert can be drawn), excluding the true experts and those already predicted.
/// Slots beyond the recorded experts (top > top_k) are drawn from the same popularity, excluding only those already
/// predicted. The future is read only to decide "right" (the true experts of the target layer), never to aim a wrong
/// guess. For depth d > 1 the accuracy is a_t - depthLoss x (d - 1) (ProMoE's "~5 % accuracy loss per extra layer of
/// distance", peers.md R1, UNCONFIRMED), at least 0.
///
/// Randomness: each (pass, target layer, depth, token) draws from its own generator seeded from the run's seed and
/// those indices, so the predictions do not depend on cache or link options (common random numbers across runs).
final class NextLayerPredictor {
    enum Source: String, CaseIterable {
        /// The trace's `ahead` where the token has it for that depth and layer, else the noisy oracle.
        case auto
        /// Only the trace's `ahead`; nothing is predicted where it is missing.
        case ahead
        /// Only the noisy oracle.
        case noisy
    }

    let layers: Int
    let experts: Int
    let top: Int
    let source: Source
    /// a_t per target layer; nil when only `ahead` is used.
    let accuracy: [Double]?
    let depthLoss: Double
    let seed: UInt64
    /// Recorded selections per (layer, expert) over the passes routed so far.
    private let popularity: FixedArray<Int>
    private let isTrue: FixedArray<Bool>
    private let isPredicted: FixedArray<Bool>

    private(set) var fromAhead = 0
    private(set) var fromNoisy = 0
    private(set) var unavailable = 0

    init(layers: Int, experts: Int, top: Int, source: Source, accuracy: [Double]?, depthLoss: Double, seed: UInt64) {
        self.layers = layers
        self.experts = experts
        self.top = top
        self.source = source
        self.accuracy = accuracy
        self.depthLoss = depthLoss
        self.seed = seed
        popularity = FixedArray(repeating: 0, count: layers * experts)
        isTrue = FixedArray(repeating: false, count: experts)
        isPredicted = FixedArray(repeating: false, count: experts)
    }

    var usesPopularity: Bool { source != .ahead }

    /// Counts the recorded selections of `layer` for the pass's tokens (known once the layer's router has run).
    func observe(layer: Int, tokens: ArraySlice<TokenRecord>) {
        for token in tokens {
            let n = Int(token.counts[layer])
            guard n > 0 else { continue }
            let base = layer * token.slotsPerLayer
            for i in 0..<n { popularity[layer * experts + Int(token.experts[base + i])] += 1 }
        }
    }

    /// Seeds a generator from the run's seed and up to four indices (SplitMix64 steps, so nearby indices give
    /// unrelated streams).
    static func streamSeed(_ seed: UInt64, _ a: Int, _ b: Int, _ c: Int, _ d: Int) -> UInt64 {
        func step(_ h: UInt64, _ v: Int) -> UInt64 {
            var g = SeededGenerator(seed: h ^ UInt64(bitPattern: Int64(v)))
            return g.next()
        }
        return step(step(step(step(seed, a), b), c), d)
    }

    /// Appends to `out` up to `top` ranked predictions for `token` (index `tokenIndex` in pass `pass`) at layer
    /// `source + depth`, made at layer `source`.
    func predict(token: TokenRecord, tokenIndex: Int, pass: Int, sourceLayer: Int, depth: Int, into out: inout [Int32]) {
        let target = sourceLayer + depth
        if self.source != .noisy, depth <= token.aheadCounts.count, !token.aheadCounts[depth - 1].isEmpty {
            let n = Int(token.aheadCounts[depth - 1][sourceLayer])
            if n >= 0 {
                let base = sourceLayer * token.aheadSlotsPerLayer
                for i in 0..<min(n, top) { out.append(token.aheadExperts[depth - 1][base + i]) }
                fromAhead += 1
                return
            }
        }
        guard self.source != .ahead, let accuracy else { unavailable += 1; return }
        fromNoisy += 1
        let a = max(0, accuracy[target] - depthLoss * Double(depth - 1))
        var rng = SeededGenerator(seed: NextLayerPredictor.streamSeed(seed, pass, target, depth, tokenIndex))
        let n = max(0, Int(token.counts[target]))
        let base = target * token.slotsPerLayer
        for i in 0..<n { isTrue[Int(token.experts[base + i])] = true }
        let start = out.count
        for slot in 0..<top {
            var pick = -1
            if slot < n {
                if rng.nextUnit() < a {
                    pick = Int(token.experts[base + slot])
                } else {
                    pick = draw(layer: target, excludingTrue: true, &rng)
                }
            } else {
                pick = draw(layer: target, excludingTrue: false, &rng)
            }
            guard pick >= 0 else { continue }
            isPredicted[pick] = true
            out.append(Int32(pick))
        }
        for i in 0..<n { isTrue[Int(token.experts[base + i])] = false }
        for i in start..<out.count { isPredicted[Int(out[i])] = false }
    }

    /// An expert of `layer` drawn with probability proportional to (selections so far + 1), skipping those already
    /// predicted (and the true ones, for a wrong guess); -1 when none is left.
    private func draw(layer: Int, excludingTrue: Bool, _ rng: inout SeededGenerator) -> Int {
        var total = 0
        for e in 0..<experts where !isPredicted[e] && !(excludingTrue && isTrue[e]) { total += popularity[layer * experts + e] + 1 }
        guard total > 0 else { return -1 }
        var r = rng.nextInt(below: total)
        for e in 0..<experts where !isPredicted[e] && !(excludingTrue && isTrue[e]) {
            r -= popularity[layer * experts + e] + 1
            if r < 0 { return e }
        }
        return -1
    }
}

extension PrefetchSetup {
    /// AdapMoE's Mixtral mean next-layer accuracy (papers.md §1.6.1, over layers 1-31): the stand-in a_l for models
    /// without a measured profile, UNCONFIRMED for any other model or predictor.
    public static let standInPredictorAccuracy = 0.866

    /// `depth-loss=`: accuracy lost per extra layer of distance (default 0.05: ProMoE's ~5 %, peers.md §1.8, UNCONFIRMED).
    func predictorDepthLoss() throws -> Double {
        if case let .number(v)? = try numberOrWord("depth-loss", in: 0...1, words: []) { return v }
        return 0.05
    }

    /// A noisy predictor's per-layer accuracy a_l: `accuracy=NUMBER`, else the model's AdapMoE profile, else
    /// `standIn` at every layer (nil: none; the caller decides whether that is an error). With a line for the report.
    func predictorAccuracy(layers: Int, standIn: Double?) throws -> (values: [Double]?, text: String) {
        if case let .number(v)? = try numberOrWord("accuracy", in: 0...1, words: ["profile"]) {
            return (Array(repeating: v, count: layers), "a = \(v) at every layer")
        }
        if let profile = model.adapmoeProfile, profile.prefetchAccuracy.count == layers {
            let mean = profile.prefetchAccuracy.dropFirst().reduce(0, +) / Double(max(1, layers - 1))
            return (profile.prefetchAccuracy,
                    "a_l from model '\(model.name)' adapmoeProfile (mean over layers 1-\(layers - 1): \((mean * 1000).rounded() / 1000))")
        }
        guard let standIn else { return (nil, "") }
        return (Array(repeating: standIn, count: layers),
                "a = \(standIn) at every layer: model '\(model.name)' has no AdapMoE profile, so AdapMoE's Mixtral mean stands in (UNCONFIRMED for this model)")
    }
}
