import Foundation

/// What a trace looks like, in one streaming pass: size, popularity skew, temporal reuse, cross-layer
/// predictability, router confidence, and what AdapMoE's adaptive gating would do to it.
/// Memory is per layer and expert (plus the last token of each request), not per token.
public struct TraceStatistics: Codable, Sendable {
    public struct Layer: Codable, Sendable {
        /// Share of the layer's selections taken by its most used expert (uniform: 1 / experts).
        public var hottestShare: Double?
        /// Gini coefficient of the layer's per-expert selection counts (0: even, toward 1: concentrated).
        public var gini: Double?
        /// Fraction of the layer's experts at decode token t that were also chosen at token t-1 (same request).
        public var reuse: Double?
        /// Mean weight of the highest-weighted expert (`topk` and `full` traces).
        public var meanTopWeight: Double?
        /// In-sample accuracy of predicting the next layer's experts from this layer's top-1 expert
        /// (the next layer's k most frequent successors); nil for the last layer.
        public var transitionAccuracy: Double?
        /// Fraction of decode cells where AdapMoE's rule H_l * w2^2 < T would drop the 2nd expert.
        public var singleExpertRatio: Double?
        /// Fraction of the layer's decode selections that are among its k most used experts over the decode tokens
        /// (k: the widest decode cell), in sample: a static hot list at the same budget as the previous token's k.
        public var staticOverlap: Double? = nil
        /// Distinct experts the layer's decode tokens selected.
        public var distinctDecodeExperts: Int? = nil
    }

    public var file: String
    public var model: String
    public var layers: Int
    public var experts: Int
    public var topK: Int
    public var weights: String
    public var tokens: Int
    public var prefillTokens: Int
    public var decodeTokens: Int
    public var requests: Int
    public var nullCells: Int
    public var perLayer: [Layer]
    /// Means over layers (transition accuracy over layer pairs), ignoring layers without data.
    public var hottestShare: Double?
    public var gini: Double?
    public var reuse: Double?
    /// Reuse two experts drawn uniformly at random would show: top_k / experts.
    public var reuseIfUniform: Double
    public var meanTopWeight: Double?
    public var transitionAccuracy: Double?
    /// Accuracy a uniform guess of top_k experts would have: top_k / experts.
    public var transitionAccuracyIfUniform: Double
    /// Share of all selections covered by the hottest 10 %, 25 % and 50 % of (layer, expert) pairs.
    public var coverageOfHottest: [String: Double]
    /// AdapMoE adaptive gating at `adapmoeThreshold` with the model's H_l (nil when the model has none).
    public var adapmoeThreshold: Double?
    public var singleExpertRatio: Double?
    public var sensitivitySource: String?
    /// Pooled over layers (each layer's k hottest decode experts); see `Layer.staticOverlap`.
    public var staticOverlap: Double? = nil
    /// What a uniform router would give the static list and consecutive reuse: k / experts, k the widest decode cell.
    public var staticOverlapIfUniform: Double? = nil
    /// Distinct decode experts per layer: mean, min and max over layers with decode tokens.
    public var distinctDecodeExpertsMean: Double? = nil
    public var distinctDecodeExpertsMin: Int? = nil
    public var distinctDecodeExpertsMax: Int? = nil
}

/// Accumulates `TraceStatistics` from a `TraceReader`.
public final class TraceStatisticsCollector {
    let layers: Int
    let experts: Int
    let topK: Int
    let sensitivity: [Double]?
    let threshold: Double
    private var counts: [Int]
    /// Next-layer successor counts, row `l * experts + from`: dense when small, else sparse (experts x experts per
    /// layer would not fit in memory for tens of thousands of experts).
    private var transitions: [Int]
    private var sparseTransitions: [Int: [Int: Int]]?
    static let denseTransitionLimit = 1 << 22
    private var reuseHits: [Int]
    private var reuseCells: [Int]
    private var topWeightSum: [Double]
    private var topWeightCells: [Int]
    private var singleCells: [Int]
    private var gatedCells: [Int]
    private var lastToken: [Int: [Int32]] = [:]
    private var decodeCounts: [Int]
    private var decodeWidth: [Int]
    private var tokens = 0, prefill = 0, decode = 0

    static let coverageFractions = [0.10, 0.25, 0.50]
    /// AdapMoE's default threshold T (run.py; papers.md §1.6.3).
    public static let defaultAdapMoEThreshold = 0.005

    public init(header: TraceHeader, sensitivity: [Double]?, threshold: Double = TraceStatisticsCollector.defaultAdapMoEThreshold) {
        layers = header.layers
        experts = header.experts
        topK = header.topK
        self.sensitivity = sensitivity?.count == header.layers ? sensitivity : nil
        self.threshold = threshold
        counts = Array(repeating: 0, count: layers * experts)
        decodeCounts = Array(repeating: 0, count: layers * experts)
        decodeWidth = Array(repeating: 0, count: layers)
        let dense = max(0, layers - 1) * experts * experts
        transitions = dense <= TraceStatisticsCollector.denseTransitionLimit ? Array(repeating: 0, count: dense) : []
        sparseTransitions = dense <= TraceStatisticsCollector.denseTransitionLimit ? nil : [:]
        reuseHits = Array(repeating: 0, count: layers)
        reuseCells = Array(repeating: 0, count: layers)
        topWeightSum = Array(repeating: 0, count: layers)
        topWeightCells = Array(repeating: 0, count: layers)
        singleCells = Array(repeating: 0, count: layers)
        gatedCells = Array(repeating: 0, count: layers)
    }

    /// Adds one token line.
    public func add(_ token: TokenRecord, weightsAreFull: Bool) {
        tokens += 1
        if token.phase == .prefill { prefill += 1 } else { decode += 1 }
        let previous = token.phase == .decode ? lastToken[token.request] : nil
        var current = [Int32](repeating: -1, count: layers * topK)
        for l in 0..<layers {
            let n = Int(token.counts[l])
            guard n >= 0 else { continue }
            if token.phase == .decode { decodeWidth[l] = max(decodeWidth[l], n) }
            let base = l * token.slotsPerLayer
            for i in 0..<n {
                let e = Int(token.experts[base + i])
                counts[l * experts + e] += 1
                if token.phase == .decode { decodeCounts[l * experts + e] += 1 }
                if i < topK { current[l * topK + i] = Int32(e) }
            }
            if n > 0 && l + 1 < layers && token.counts[l + 1] > 0 {
                let from = Int(token.experts[base])
                let nextBase = (l + 1) * token.slotsPerLayer
                for j in 0..<Int(token.counts[l + 1]) {
                    let to = Int(token.experts[nextBase + j])
                    if sparseTransitions != nil {
                        sparseTransitions![l * experts + from, default: [:]][to, default: 0] += 1
                    } else {
                        transitions[(l * experts + from) * experts + to] += 1
                    }
                }
            }
            if let previous, n > 0, previous[l * topK] >= 0 {
                reuseCells[l] += n
                for i in 0..<n where (0..<topK).contains(where: { previous[l * topK + $0] == token.experts[base + i] }) { reuseHits[l] += 1 }
            }
            _ = RoutingCell.with(token, layer: l, weightsAreFull: weightsAreFull) { cell in
                guard !cell.weights.isEmpty, n > 0 else { return }
                let w1 = Double(cell.weight(of: Int(cell.experts[0])))
                topWeightSum[l] += w1
                topWeightCells[l] += 1
                // AdapMoE decides on decode tokens only (released code) from the normalised second weight.
                if token.phase == .decode, n >= 2, let h = sensitivity?[l] {
                    let w2 = Double(cell.weight(of: Int(cell.experts[1])))
                    let normalised = w2 / max(w1 + w2, .leastNonzeroMagnitude)
                    gatedCells[l] += 1
                    if h * normalised * normalised < threshold { singleCells[l] += 1 }
                }
            }
        }
        if token.phase == .decode { lastToken[token.request] = current } else { lastToken[token.request] = nil }
    }

    static func ratio(_ a: Double, _ b: Double) -> Double? { b > 0 ? a / b : nil }
    static func mean(_ values: [Double?]) -> Double? {
        let known = values.compactMap { $0 }
        return known.isEmpty ? nil : known.reduce(0, +) / Double(known.count)
    }

    /// Gini coefficient of non-negative counts.
    static func gini(_ values: [Int]) -> Double? {
        let total = values.reduce(0, +)
        guard total > 0 else { return nil }
        let sorted = values.sorted()
        let n = Double(sorted.count)
        var weighted = 0.0
        for (i, x) in sorted.enumerated() { weighted += (2 * Double(i + 1) - n - 1) * Double(x) }
        return weighted / (n * Double(total))
    }

    public func finish(file: String, header: TraceHeader, requests: Int, nullCells: Int, sensitivitySource: String?) -> TraceStatistics {
        var perLayer: [TraceStatistics.Layer] = []
        var staticHits = 0, decodeSelections = 0
        for l in 0..<layers {
            let row = Array(counts[(l * experts)..<((l + 1) * experts)])
            let decodeRow = Array(decodeCounts[(l * experts)..<((l + 1) * experts)])
            let selected = decodeRow.reduce(0, +)
            // The k hottest: most selections first, ties to the lower expert id.
            let hot = decodeRow.enumerated().sorted { $0.element > $1.element || ($0.element == $1.element && $0.offset < $1.offset) }
                .prefix(decodeWidth[l]).reduce(0) { $0 + $1.element }
            staticHits += hot
            decodeSelections += selected
            let total = row.reduce(0, +)
            var accuracy: Double?
            if l + 1 < layers {
                var hits = 0, cells = 0
                for from in 0..<experts {
                    let row = l * experts + from
                    let successors = sparseTransitions.map { Array(($0[row] ?? [:]).values) }
                        ?? Array(transitions[(row * experts)..<((row + 1) * experts)])
                    cells += successors.reduce(0, +)
                    hits += successors.sorted(by: >).prefix(topK).reduce(0, +)
                }
                accuracy = TraceStatisticsCollector.ratio(Double(hits), Double(cells))
            }
            perLayer.append(.init(hottestShare: TraceStatisticsCollector.ratio(Double(row.max() ?? 0), Double(total)),
                                  gini: TraceStatisticsCollector.gini(row),
                                  reuse: TraceStatisticsCollector.ratio(Double(reuseHits[l]), Double(reuseCells[l])),
                                  meanTopWeight: TraceStatisticsCollector.ratio(topWeightSum[l], Double(topWeightCells[l])),
                                  transitionAccuracy: accuracy,
                                  singleExpertRatio: sensitivity == nil ? nil : TraceStatisticsCollector.ratio(Double(singleCells[l]), Double(gatedCells[l])),
                                  staticOverlap: TraceStatisticsCollector.ratio(Double(hot), Double(selected)),
                                  distinctDecodeExperts: selected > 0 ? decodeRow.filter { $0 > 0 }.count : nil))
        }
        let distinct = perLayer.compactMap(\.distinctDecodeExperts)
        let width = decodeWidth.max() ?? 0
        let all = counts.sorted(by: >)
        let selections = Double(all.reduce(0, +))
        var coverage: [String: Double] = [:]
        for f in TraceStatisticsCollector.coverageFractions where selections > 0 {
            let top = max(1, Int((f * Double(all.count)).rounded(.up)))
            coverage["\(Int(f * 100))%"] = Double(all.prefix(top).reduce(0, +)) / selections
        }
        // Uniform baselines at the width the trace routes (a run may force fewer than the model's top-k).
        let uniform = Double(width > 0 ? width : topK) / Double(experts)
        var stats = TraceStatistics(
            file: file, model: header.model, layers: layers, experts: experts, topK: topK, weights: header.weights.rawValue,
            tokens: tokens, prefillTokens: prefill, decodeTokens: decode, requests: requests, nullCells: nullCells, perLayer: perLayer,
            hottestShare: TraceStatisticsCollector.mean(perLayer.map(\.hottestShare)), gini: TraceStatisticsCollector.mean(perLayer.map(\.gini)),
            reuse: TraceStatisticsCollector.ratio(Double(reuseHits.reduce(0, +)), Double(reuseCells.reduce(0, +))), reuseIfUniform: uniform,
            meanTopWeight: TraceStatisticsCollector.ratio(topWeightSum.reduce(0, +), Double(topWeightCells.reduce(0, +))),
            transitionAccuracy: TraceStatisticsCollector.mean(perLayer.map(\.transitionAccuracy)), transitionAccuracyIfUniform: uniform,
            coverageOfHottest: coverage,
            adapmoeThreshold: sensitivity == nil ? nil : threshold,
            singleExpertRatio: sensitivity == nil ? nil : TraceStatisticsCollector.ratio(Double(singleCells.reduce(0, +)), Double(gatedCells.reduce(0, +))),
            sensitivitySource: sensitivity == nil ? nil : sensitivitySource)
        stats.staticOverlap = TraceStatisticsCollector.ratio(Double(staticHits), Double(decodeSelections))
        stats.staticOverlapIfUniform = width > 0 ? uniform : nil
        stats.distinctDecodeExpertsMean = distinct.isEmpty ? nil : Double(distinct.reduce(0, +)) / Double(distinct.count)
        stats.distinctDecodeExpertsMin = distinct.min()
        stats.distinctDecodeExpertsMax = distinct.max()
        return stats
    }
}
