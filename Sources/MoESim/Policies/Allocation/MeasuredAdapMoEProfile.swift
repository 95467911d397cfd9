/// AdapMoE's DP inputs a_l and r_l measured on a profiling prefix of the trace, instead of the published numbers
/// (papers.md §1.3.F: AdapMoE profiles them offline; its scripts are not released).
///
/// Both are measured on the first `prefixTokens` decode tokens (prefill is skipped: AdapMoE gates and prefetches
/// only in decode, and its published profile is a decode profile):
/// * r_l: the fraction of recorded cells at layer l that the run's gating policy runs with fewer experts
///   (with `topk` gating, 0: the allocation without adaptive-gating statistics).
/// * a_l: the fraction of layer l's recorded experts that a next-layer predictor names among its top-k guesses;
///   a_0 = 0, as in `dp.py` (no predecessor).
///
/// Deviation: AdapMoE predicts layer l's experts by applying layer l's gate to layer l-1's hidden state, which a
/// trace does not record. This predictor counts, over the prefix, how often each expert of layer l followed each
/// expert of layer l-1 in the same token, and guesses the top-k experts by summed counts over the token's layer
/// l-1 experts (ties to the lower id). It is fitted and scored on the same prefix (in-sample), so a_l is
/// optimistic for this predictor, and it is a different predictor from AdapMoE's.
public struct MeasuredAdapMoEProfile: Sendable {
    public var prefetchAccuracy: [Double]
    public var singleExpertRatio: [Double]
    /// Decode tokens actually measured (fewer than asked when the trace is shorter).
    public var decodeTokens: Int

    public static func measure(source: PassSource, gating: GatingPolicy, prefixTokens: Int) throws -> MeasuredAdapMoEProfile {
        let header = source.header
        let layers = header.layers, experts = header.experts, width = header.topK
        let weightsAreFull = header.weights == .full
        let selected = FixedArray<Int32>(repeating: 0, count: experts)
        // The prefix's recorded cells, `width` slots per (token, layer); -1 pads short or null cells.
        var cells: [Int32] = []
        var recorded = [Int](repeating: 0, count: layers)
        var reduced = [Int](repeating: 0, count: layers)
        var tokens = 0
        var pass = Pass()
        while tokens < prefixTokens, try source.nextPass(into: &pass) {
            guard pass.phase == .decode else { continue }
            for t in 0..<pass.tokenCount where tokens < prefixTokens {
                let record = pass.tokens[t]
                for l in 0..<layers {
                    let base = cells.count
                    cells.append(contentsOf: repeatElement(-1, count: width))
                    _ = RoutingCell.with(record, layer: l, weightsAreFull: weightsAreFull) { cell in
                        for i in 0..<min(width, cell.experts.count) { cells[base + i] = cell.experts[i] }
                        recorded[l] += 1
                        if gating.select(cell, into: selected) < cell.experts.count { reduced[l] += 1 }
                    }
                }
                tokens += 1
            }
        }
        guard tokens > 0 else {
            throw MoESimError(file: source.sourceName, "the trace has no decode tokens to measure AdapMoE's a_l and r_l on",
                              hint: "use adapmoe-dp (published profile) or a trace with decode tokens")
        }
        func cell(_ token: Int, _ layer: Int) -> ArraySlice<Int32> {
            let base = (token * layers + layer) * width
            return cells[base..<(base + width)]
        }
        // Fit: follows[(l * experts + from) * experts + to] counts layer l-1 expert `from` followed by layer l expert `to`.
        var follows = [Int](repeating: 0, count: layers * experts * experts)
        for token in 0..<tokens {
            for l in 1..<max(1, layers) {
                for from in cell(token, l - 1) where from >= 0 {
                    for to in cell(token, l) where to >= 0 { follows[(l * experts + Int(from)) * experts + Int(to)] += 1 }
                }
            }
        }
        // Score: the fraction of recorded experts among the top-`width` guesses.
        var hits = [Int](repeating: 0, count: layers), needed = [Int](repeating: 0, count: layers)
        var score = [Int](repeating: 0, count: experts)
        for token in 0..<tokens {
            for l in 1..<max(1, layers) {
                let previous = cell(token, l - 1), current = cell(token, l)
                guard previous.contains(where: { $0 >= 0 }), current.contains(where: { $0 >= 0 }) else { continue }
                for e in 0..<experts { score[e] = 0 }
                for from in previous where from >= 0 {
                    for e in 0..<experts { score[e] += follows[(l * experts + Int(from)) * experts + e] }
                }
                let guesses = (0..<experts).sorted { score[$0] != score[$1] ? score[$0] > score[$1] : $0 < $1 }.prefix(width)
                for e in current where e >= 0 {
                    needed[l] += 1
                    if guesses.contains(Int(e)) { hits[l] += 1 }
                }
            }
        }
        func ratio(_ a: Int, _ b: Int) -> Double { b > 0 ? Double(a) / Double(b) : 0 }
        return MeasuredAdapMoEProfile(prefetchAccuracy: (0..<layers).map { ratio(hits[$0], needed[$0]) },
                                      singleExpertRatio: (0..<layers).map { ratio(reduced[$0], recorded[$0]) },
                                      decodeTokens: tokens)
    }
}
