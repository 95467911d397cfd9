/// Counts, in one streaming pass over a trace's token lines, everything a `SyntheticProfile` is fitted to.
/// Memory is per layer and expert (the successor table is per layer, expert and expert), plus the last token
/// and two lengths per request; it does not grow with the number of tokens.
///
/// Stack depths are measured token by token in slot order (a prefill batch is seen as its token sequence),
/// over the whole file in order, so they describe the token stream the generator produces.
public final class ProfileMeasurement {
    public enum PhaseFilter: String, Sendable, CaseIterable {
        case decode, prefill, all

        func includes(_ phase: Phase) -> Bool {
            switch self {
            case .all: return true
            case .decode: return phase == .decode
            case .prefill: return phase == .prefill
            }
        }
    }

    /// Equal-width bins of the top-1 weight's position in [1/k, 1]: ten keeps about 30 cells per bin and layer
    /// even on a 300-token trace, so the histogram is not mostly noise.
    public static let topWeightBins = 10
    /// Evenly spaced quantiles kept of each request-length distribution (deciles).
    public static let lengthQuantiles = 11

    public let layers: Int
    public let experts: Int
    public let topK: Int
    public let phase: PhaseFilter
    let weightsKind: TraceHeader.WeightsKind
    private var counts: [Int]
    private var stacks: [Int32]
    private var stackSizes: [Int]
    private var depthCounts: [Int]
    private var reuseHits: [Int]
    private var reuseCells: [Int]
    /// `((layer - 1) * experts + previous layer's top-1) * experts + expert`, for layers 1..<layers.
    private var transitions: [Int]
    private var topWeightBinCounts: [Int]
    private var topWeightSum: [Double]
    private var topWeightCells: [Int]
    private var slotWeightSum: [Double]
    private var slotWeightCells: [Int]
    /// Last included token's experts per request (`layer * topK + slot`; -1 for a lost cell).
    private var lastToken: [Int: [Int32]] = [:]
    private var prefillTokens: [Int: Int] = [:]
    private var decodeTokens: [Int: Int] = [:]
    public private(set) var fittedTokens = 0

    public init(header: TraceHeader, phase: PhaseFilter) {
        layers = header.layers
        experts = header.experts
        topK = header.topK
        self.phase = phase
        weightsKind = header.weights
        counts = Array(repeating: 0, count: layers * experts)
        stacks = Array(repeating: -1, count: layers * experts)
        stackSizes = Array(repeating: 0, count: layers)
        depthCounts = Array(repeating: 0, count: layers * experts)
        reuseHits = Array(repeating: 0, count: layers)
        reuseCells = Array(repeating: 0, count: layers)
        transitions = Array(repeating: 0, count: max(0, layers - 1) * experts * experts)
        topWeightBinCounts = Array(repeating: 0, count: layers * ProfileMeasurement.topWeightBins)
        topWeightSum = Array(repeating: 0, count: layers)
        topWeightCells = Array(repeating: 0, count: layers)
        slotWeightSum = Array(repeating: 0, count: layers * topK)
        slotWeightCells = Array(repeating: 0, count: layers)
    }

    /// Adds one token line (every phase counts toward request lengths; only `phase` toward routing).
    public func add(_ token: TokenRecord) {
        if token.phase == .prefill { prefillTokens[token.request, default: 0] += 1 } else { decodeTokens[token.request, default: 0] += 1 }
        guard phase.includes(token.phase) else { return }
        fittedTokens += 1
        let previous = lastToken[token.request]
        var current = [Int32](repeating: -1, count: layers * topK)
        for l in 0..<layers {
            let n = min(Int(token.counts[l]), topK)
            guard n > 0 else { continue }
            let base = l * token.slotsPerLayer
            for i in 0..<n {
                let e = Int(token.experts[base + i])
                counts[l * experts + e] += 1
                current[l * topK + i] = Int32(e)
                access(layer: l, expert: Int32(e))
            }
            if let previous, previous[l * topK] >= 0 {
                reuseCells[l] += n
                for i in 0..<n where (0..<topK).contains(where: { previous[l * topK + $0] == token.experts[base + i] }) { reuseHits[l] += 1 }
            }
            if l > 0 && token.counts[l - 1] > 0 {
                let from = Int(token.experts[(l - 1) * token.slotsPerLayer])
                for i in 0..<n { transitions[((l - 1) * experts + from) * experts + Int(token.experts[base + i])] += 1 }
            }
            _ = RoutingCell.with(token, layer: l, weightsAreFull: weightsKind == .full) { addWeights($0, layer: l, listed: n) }
        }
        lastToken[token.request] = current
    }

    private func access(layer: Int, expert: Int32) {
        let base = layer * experts
        let size = stackSizes[layer]
        var d = 0
        while d < size && stacks[base + d] != expert { d += 1 }
        if d < size { depthCounts[base + d] += 1 } else { stackSizes[layer] = size + 1 }
        while d > 0 {
            stacks[base + d] = stacks[base + d - 1]
            d -= 1
        }
        stacks[base] = expert
    }

    private func addWeights(_ cell: RoutingCell, layer l: Int, listed n: Int) {
        guard !cell.weights.isEmpty else { return }
        var sum = 0.0
        for i in 0..<n { sum += Double(cell.weight(of: Int(cell.experts[i]))) }
        guard sum > 0 else { return }
        let top = Double(cell.weight(of: Int(cell.experts[0]))) / sum
        topWeightSum[l] += top
        topWeightCells[l] += 1
        if n >= 2 {
            let uniform = 1 / Double(n)
            let position = min(1, max(0, (top - uniform) / (1 - uniform)))
            let bins = ProfileMeasurement.topWeightBins
            topWeightBinCounts[l * bins + min(bins - 1, Int(position * Double(bins)))] += 1
        }
        if n == topK {
            for i in 0..<n { slotWeightSum[l * topK + i] += Double(cell.weight(of: Int(cell.experts[i]))) / sum }
            slotWeightCells[l] += 1
        }
    }

    /// The measured statistics per layer, with the generator's fixed (uncalibrated) parts filled in; the
    /// calibrated parts start at their neutral values.
    public func layerProfiles() -> [SyntheticProfile.Layer] {
        var ranksOfPrevious: [Int] = []
        return (0..<layers).map { l in
            let row = Array(counts[(l * experts)..<((l + 1) * experts)])
            let total = row.reduce(0, +)
            // Popularity ranks: most selected first; ties go to the lower expert id so the order is reproducible.
            let expertByRank = (0..<experts).sorted { row[$0] != row[$1] ? row[$0] > row[$1] : $0 < $1 }
            var rankOfExpert = Array(repeating: 0, count: experts)
            for (r, e) in expertByRank.enumerated() { rankOfExpert[e] = r }
            let selectionShare = expertByRank.map { total > 0 ? Double(row[$0]) / Double(total) : 1 / Double(experts) }
            let depths = Array(depthCounts[(l * experts)..<((l + 1) * experts)])
            let warm = depths.reduce(0, +)
            var successorRanks: [Int]?
            var successorShare: Double?
            if l > 0 {
                var ranks = Array(repeating: 0, count: experts)
                var hits = 0, cells = 0
                for from in 0..<experts {
                    let start = ((l - 1) * experts + from) * experts
                    let followers = transitions[start..<(start + experts)]
                    let best = (0..<experts).max { followers[start + $0] != followers[start + $1] ? followers[start + $0] < followers[start + $1] : $0 > $1 }!
                    hits += followers[start + best]
                    cells += followers.reduce(0, +)
                    ranks[ranksOfPrevious[from]] = rankOfExpert[best]
                }
                successorRanks = ranks
                successorShare = cells > 0 ? Double(hits) / Double(cells) : nil
            }
            ranksOfPrevious = rankOfExpert
            let bins = ProfileMeasurement.topWeightBins
            let binRow = topWeightBinCounts[(l * bins)..<((l + 1) * bins)]
            let binTotal = binRow.reduce(0, +)
            let slotCells = slotWeightCells[l]
            let slotMeans = (0..<topK).map { slotCells > 0 ? slotWeightSum[l * topK + $0] / Double(slotCells) : ($0 == 0 ? 1 : 0) }
            let measured = SyntheticProfile.Measured(
                selectionShareByRank: selectionShare,
                reuse: reuseCells[l] > 0 ? Double(reuseHits[l]) / Double(reuseCells[l]) : nil,
                stackDepthShare: depths.map { warm > 0 ? Double($0) / Double(warm) : 0 },
                successorShare: successorShare,
                meanTopWeight: topWeightCells[l] > 0 ? topWeightSum[l] / Double(topWeightCells[l]) : nil)
            let generator = SyntheticProfile.Generator(
                expertByRank: expertByRank, propensityByRank: selectionShare,
                recencyByStackDepth: Array(repeating: 1, count: experts), successorRankByRank: successorRanks, successorBoost: 1,
                topWeightHistogram: binTotal > 0 ? binRow.map { Double($0) / Double(binTotal) } : nil,
                slotWeightMeans: slotMeans)
            return SyntheticProfile.Layer(measured: measured, generator: generator)
        }
    }

    /// Request structure: tasks and lengths, from the request lines and the token lines counted.
    public func requestProfile(_ requests: [RequestInfo]) -> SyntheticProfile.Requests {
        var prompts: [Int] = [], outputs: [Int] = []
        var tasks: [String: Int] = [:]
        for (i, request) in requests.enumerated() {
            if let p = prefillTokens[i] { prompts.append(p) } else if let p = request.promptTokens { prompts.append(p) }
            if let d = decodeTokens[i] { outputs.append(d) } else if let o = request.outputTokens { outputs.append(o) }
            if let t = request.task { tasks[t, default: 0] += 1 }
        }
        let named = tasks.values.reduce(0, +)
        let shares = tasks.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map { SyntheticProfile.TaskShare(task: $0.key, share: Double($0.value) / Double(named)) }
        return SyntheticProfile.Requests(count: requests.count, tasks: shares,
                                         promptTokens: ProfileMeasurement.distribution(prompts), outputTokens: ProfileMeasurement.distribution(outputs))
    }

    static func distribution(_ values: [Int]) -> SyntheticProfile.LengthDistribution? {
        guard !values.isEmpty else { return nil }
        let sorted = values.sorted()
        let quantiles = (0..<lengthQuantiles).map { q -> Double in
            let position = Double(q) / Double(lengthQuantiles - 1) * Double(sorted.count - 1)
            let lower = Int(position), upper = min(sorted.count - 1, lower + 1)
            return Double(sorted[lower]) + (position - Double(lower)) * Double(sorted[upper] - sorted[lower])
        }
        return SyntheticProfile.LengthDistribution(count: sorted.count, mean: Double(sorted.reduce(0, +)) / Double(sorted.count),
                                                   min: sorted.first!, max: sorted.last!, quantiles: quantiles)
    }
}
