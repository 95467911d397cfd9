/// Lays a profile's generator parameters out for a model shape, adapting them when the model is not the one
/// the profile was fitted on (so `--model` can be any model in `sim models`):
///
/// - layers: model layer l takes the profile layer at the same relative depth, round(l (L_p - 1) / (L - 1));
/// - experts: the per-rank curves (propensity, successor ranks) are resampled on relative rank (r + 0.5) / E by
///   linear interpolation, so the hottest expert stays as many times above uniform as in the profile; expert ids
///   are a seeded shuffle per layer instead of the fitted ids;
/// - top-k: recency multipliers are resampled on stack depth measured in tokens (depth / k: a token fills k
///   depths), so "reuse the previous token's experts" keeps its strength; depths beyond the profile's reach take
///   its deepest value. Slot weight proportions are resampled on relative slot position.
///
/// The calibration holds only for the fitted shape: adapted statistics are an extrapolation, and the trace
/// header says so (`ProfiledRoutingTables.adaptation`). Shared experts need nothing: they are never routed.
public enum ProfileShapeAdapter {
    /// Salt for the seeded expert-id shuffle, so it does not reuse the routing stream's first numbers.
    static let shuffleSalt: UInt64 = 0x5348_5546

    public static func tables(for profile: SyntheticProfile, layers: Int, experts: Int, topK: Int, seed: UInt64) -> ProfiledRoutingTables {
        let (pl, pe, pk) = (profile.moeLayers, profile.experts, profile.topK)
        let sameShape = layers == pl && experts == pe && topK == pk
        let adaptation = sameShape ? nil
            : "profile \(profile.name) fitted on \(pl) layers x \(pe) experts, top-\(pk); resampled to \(layers) x \(experts), top-\(topK) (not calibrated for this shape)"
        let hasWeights = profile.perLayer.allSatisfy { $0.generator.topWeightHistogram != nil }
        let bins = hasWeights ? profile.perLayer[0].generator.topWeightHistogram!.count : 0
        var t = ProfiledRoutingTables(layers: layers, experts: experts, topK: topK, topWeightBins: bins, adaptation: adaptation)
        var shuffle = SeededGenerator(seed: seed ^ shuffleSalt)
        for l in 0..<layers {
            let source = layers == 1 ? 0 : Int((Double(l) * Double(pl - 1) / Double(layers - 1)).rounded())
            let g = profile.perLayer[source].generator
            let propensity = experts == pe ? g.propensityByRank : resample(g.propensityByRank, count: experts)
            let propensityTotal = propensity.reduce(0, +)
            for r in 0..<experts { t.propensity[l * experts + r] = propensity[r] / propensityTotal }
            for d in 0..<experts {
                // Depth d of this shape is d / k tokens back; in the profile that is depth d k_p / k.
                let position = topK == pk ? Double(d) : Double(d) * Double(pk) / Double(topK)
                t.recency[l * experts + d] = interpolate(g.recencyByStackDepth, at: position)
            }
            if l > 0, let successors = g.successorRankByRank {
                t.successorBoost[l] = g.successorBoost
                for r in 0..<experts {
                    if experts == pe {
                        t.successor[l * experts + r] = Int32(successors[r])
                    } else {
                        // The profile rank at the same relative rank, its successor, scaled back to this rank range.
                        let p = min(pe - 1, r * pe / experts)
                        t.successor[l * experts + r] = Int32(min(experts - 1, successors[p] * experts / pe))
                    }
                }
            }
            if experts == pe {
                for r in 0..<experts { t.expertOfRank[l * experts + r] = Int32(g.expertByRank[r]) }
            } else {
                var ids = (0..<experts).map(Int32.init)
                for i in stride(from: experts - 1, to: 0, by: -1) { ids.swapAt(i, shuffle.nextInt(below: i + 1)) }
                for r in 0..<experts { t.expertOfRank[l * experts + r] = ids[r] }
            }
            if hasWeights {
                var running = 0.0
                for (b, share) in g.topWeightHistogram!.enumerated() {
                    running += share
                    t.topWeightCDF[l * bins + b] = running
                }
                // Guard against rounding leaving the last bin's cumulative share a hair below 1.
                t.topWeightCDF[l * bins + bins - 1] = 1
            } else {
                t.topWeightCDF = []
            }
            let rest = topK == pk ? Array(g.slotWeightMeans.dropFirst()) : resample(Array(g.slotWeightMeans.dropFirst()), count: topK - 1)
            let restTotal = rest.reduce(0, +)
            for i in 1..<max(1, topK) { t.restShare[l * topK + i] = restTotal > 0 ? rest[i - 1] / restTotal : 1 / Double(topK - 1) }
        }
        return t
    }

    /// Linear interpolation at a fractional index, clamped to the ends.
    static func interpolate(_ values: [Double], at position: Double) -> Double {
        guard let last = values.last else { return 1 }
        if position <= 0 { return values[0] }
        if position >= Double(values.count - 1) { return last }
        let i = Int(position)
        let f = position - Double(i)
        return values[i] * (1 - f) + values[i + 1] * f
    }

    /// Resamples a curve over n points onto `count` points at the same relative positions (i + 0.5) / n.
    static func resample(_ values: [Double], count: Int) -> [Double] {
        guard !values.isEmpty, count > 0 else { return Array(repeating: 1, count: max(0, count)) }
        return (0..<count).map { i in
            interpolate(values, at: (Double(i) + 0.5) / Double(count) * Double(values.count) - 0.5)
        }
    }
}
