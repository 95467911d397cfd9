/// AdapMoE's per-layer cache allocation (papers.md §1.3.C; the released `src/dp.py`): given a total number of
/// cached experts, choose each layer's capacity s_l to minimise the expected on-demand loads per token,
/// sum over layers of f(l, s_l), by dynamic programming.
///
/// f assumes top-2 routing with uniformly random experts (a needed expert is cached with probability s/E) and a
/// prefetcher that fixes at most one miss, with probability a_l; with probability r_l the token runs one expert.
/// The recurrence keeps `dp.py`'s quirks, so its allocations are reproduced exactly (tested against the table in
/// §1.3.C): dp[i][0] gives every layer up to i nothing, but for j >= 1 each layer gets k >= 1 slots; ties keep
/// the smallest k (strict `<`); capacities above E cost as E. `dp.py` hard-codes E = 8; here E is a parameter,
/// with E = 8 computing exactly `dp.py`'s numbers. Deviation: the search starts from +infinity instead of
/// `dp.py`'s 10000 (the same for any sum of f below 10000, i.e. below 5000 layers).
public enum AdapMoEAllocation {
    /// Experts a top-2 token needs at most, which is what f is written for.
    public static let modelledTopK = 2

    /// f(l, s): expected on-demand loads at one layer holding `cached` of its `experts` experts, with prefetch
    /// accuracy `a` and single-expert probability `r`. Written in `dp.py`'s order of operations, so the
    /// floating-point results, and with them the DP's tie-breaks, are `dp.py`'s.
    public static func expectedLoads(cached: Int, experts: Int, prefetchAccuracy a: Double, singleExpertRatio r: Double) -> Double {
        let s = min(cached, experts)
        let pairs = Double(experts * (experts - 1))
        // One expert needed: a load unless it is cached or was prefetched.
        let f1 = (1 - Double(s) / Double(experts)) * (1 - a)
        // Two needed, both uncached: two loads if the prefetch missed, one if it hit.
        let bothUncached = max(0, Double((experts - s) * (experts - 1 - s)) / pairs)
        let f2 = 2 * bothUncached * (1 - a)
        let f3 = bothUncached * a
        // Two needed, exactly one uncached, prefetch wrong: one load.
        let f4 = Double(2 * (experts - s) * s) / pairs * (1 - a)
        return r * f1 + (1 - r) * (f2 + f3 + f4)
    }

    /// The capacities s_l (layer 0 first) that minimise sum_l f(l, s_l) with sum_l s_l = `total`.
    /// `singleExpertRatio`: r_l, or all zeros for the mode without adaptive-gating statistics.
    public static func capacities(total: Int, experts: Int, prefetchAccuracy: [Double], singleExpertRatio: [Double]) -> [Int] {
        let layers = prefetchAccuracy.count
        precondition(singleExpertRatio.count == layers && total >= 0 && experts >= 2)
        guard layers > 0 else { return [] }
        // f(l, k) for k = 0...experts; larger k costs as `experts`.
        let width = experts + 1
        var cost = [Double](repeating: 0, count: layers * width)
        for l in 0..<layers {
            for k in 0...experts {
                cost[l * width + k] = expectedLoads(cached: k, experts: experts, prefetchAccuracy: prefetchAccuracy[l],
                                                    singleExpertRatio: singleExpertRatio[l])
            }
        }
        // dp[i][j]: least cost of layers 0..<i with j slots; choice[i][j]: the k given to layer i-1.
        var dp = [Double](repeating: 0, count: (layers + 1) * (total + 1))
        var choice = [Int](repeating: 0, count: (layers + 1) * (total + 1))
        let row = total + 1
        for i in 1...layers { dp[i * row] = dp[(i - 1) * row] + cost[(i - 1) * width] }
        cost.withUnsafeBufferPointer { cost in
            dp.withUnsafeMutableBufferPointer { dp in
                choice.withUnsafeMutableBufferPointer { choice in
                    for i in 1...layers {
                        let layerCost = (i - 1) * width, previous = (i - 1) * row
                        for j in stride(from: 1, through: total, by: 1) {
                            var best = Double.infinity, bestK = 0
                            for k in 1...j {
                                let value = dp[previous + j - k] + cost[layerCost + min(k, experts)]
                                if value < best { best = value; bestK = k }
                            }
                            dp[i * row + j] = best
                            choice[i * row + j] = bestK
                        }
                    }
                }
            }
        }
        var sizes = [Int](repeating: 0, count: layers)
        var remaining = total
        for i in stride(from: layers, to: 0, by: -1) {
            sizes[i - 1] = choice[i * row + remaining]
            remaining -= sizes[i - 1]
        }
        return sizes
    }

    /// The objective: expected on-demand loads per token summed over layers, for any capacities.
    public static func expectedLoads(capacities: [Int], experts: Int, prefetchAccuracy: [Double], singleExpertRatio: [Double]) -> Double {
        capacities.indices.reduce(0) {
            $0 + expectedLoads(cached: capacities[$1], experts: experts, prefetchAccuracy: prefetchAccuracy[$1],
                               singleExpertRatio: singleExpertRatio[$1])
        }
    }
}
