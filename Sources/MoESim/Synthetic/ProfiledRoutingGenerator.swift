/// Routing drawn from a fitted `SyntheticProfile`, token by token, in constant memory.
///
/// Each layer keeps its experts in an LRU stack (most recently used first). A token's k experts are chosen one
/// slot at a time, without replacement, with probability proportional to
///
///     propensity[rank(e)] x recency[depth(e)] x (successorBoost if e is the successor of the previous layer's top-1)
///
/// and each chosen expert moves to the top of the stack, exactly as an LRU cache would see it. Propensity
/// sets the popularity skew, recency the temporal reuse (and so the per-layer LRU hit-rate curve, which is a
/// function of the stack depths alone), the boost the cross-layer correlation. The three are calibrated jointly
/// (`ProfileCalibration`) because each changes the others' statistics. The top-1 weight is drawn from the
/// profile's histogram; the remainder is split over the other slots in the profile's mean proportions.
/// The state lives in reference-type arrays (as in `SyntheticTraceGenerator`): copies share it.
public struct ProfiledRoutingGenerator {
    public let layers: Int
    public let experts: Int
    public let topK: Int
    public let tables: ProfiledRoutingTables
    private var rng: SeededGenerator
    private let propensity: FixedArray<Double>
    private let recency: FixedArray<Double>
    private let successor: FixedArray<Int32>
    private let expertOfRank: FixedArray<Int32>
    /// `stack[layer * experts + depth]`: the rank at that LRU depth.
    private let stack: FixedArray<Int32>
    private let scratch: FixedArray<Double>
    /// Ranks chosen at the current layer, slot order.
    private let chosen: FixedArray<Int32>
    /// Weight of each slot in units of 1e-4, while it is being split.
    private let weightUnits: FixedArray<Int>

    public init(tables: ProfiledRoutingTables, seed: UInt64) {
        self.tables = tables
        layers = tables.layers
        experts = tables.experts
        topK = tables.topK
        rng = SeededGenerator(seed: seed)
        propensity = ProfiledRoutingGenerator.fixed(tables.propensity)
        recency = ProfiledRoutingGenerator.fixed(tables.recency)
        successor = ProfiledRoutingGenerator.fixed(tables.successor)
        expertOfRank = ProfiledRoutingGenerator.fixed(tables.expertOfRank)
        stack = FixedArray(repeating: 0, count: layers * experts)
        // Start as if the hottest experts had just been used: the stack's initial order only affects the first
        // few tokens, and popularity order is the state the process is most often near.
        for l in 0..<layers {
            for d in 0..<experts { stack[l * experts + d] = Int32(d) }
        }
        scratch = FixedArray(repeating: 0, count: experts)
        chosen = FixedArray(repeating: 0, count: topK)
        weightUnits = FixedArray(repeating: 0, count: topK)
    }

    static func fixed<T>(_ values: [T]) -> FixedArray<T> {
        let array = FixedArray(repeating: values.first!, count: values.count)
        for (i, v) in values.enumerated() { array[i] = v }
        return array
    }

    public func makeRecord() -> TokenRecord {
        TokenRecord(layers: layers, slotsPerLayer: topK, weightsPerLayer: topK, aheadSlotsPerLayer: 0)
    }

    /// Fills `record`'s experts and weights for the next token (phase and position are the caller's).
    public mutating func next(into record: inout TokenRecord) {
        var previousTop: Int32 = -1
        for l in 0..<layers {
            chooseRanks(layer: l, previousTop: previousTop, tally: nil)
            previousTop = chosen[0]
            let base = l * topK
            for i in 0..<topK { record.experts[base + i] = expertOfRank[l * experts + Int(chosen[i])] }
            record.counts[l] = Int8(topK)
            writeWeights(layer: l, into: &record)
        }
    }

    /// Runs one token without writing a record, adding the choice probabilities to `tally` (calibration).
    mutating func simulateToken(tally: CalibrationTally) {
        var previousTop: Int32 = -1
        for l in 0..<layers {
            chooseRanks(layer: l, previousTop: previousTop, tally: tally)
            previousTop = chosen[0]
        }
    }

    /// Picks `topK` distinct ranks at layer `l` into `chosen`, updating the layer's LRU stack.
    /// Raw pointers and `while` loops: calibration runs this tens of thousands of times per layer, and debug
    /// builds (where the tests fit a profile) pay for every checked subscript and range iterator.
    private mutating func chooseRanks(layer l: Int, previousTop: Int32, tally: CalibrationTally?) {
        let base = l * experts
        let stack = self.stack.base + base
        let propensity = self.propensity.base + base
        let recency = self.recency.base + base
        let weights = scratch.base
        let target: Int32 = previousTop >= 0 ? successor[base + Int(previousTop)] : -1
        let boost = tables.successorBoost[l]
        let depthMass = tally.map { $0.depthMass.base + base }
        let rankMass = tally.map { $0.rankMass.base + base }
        var slot = 0
        while slot < topK {
            // Ranks chosen for earlier slots sit at depths 0..<slot after their move to front: skipping those
            // depths draws without replacement.
            var total = 0.0
            var targetWeight = 0.0
            var d = slot
            while d < experts {
                let r = stack[d]
                var w = propensity[Int(r)] * recency[d]
                if r == target {
                    w *= boost
                    targetWeight = w
                }
                weights[d] = w
                total += w
                d += 1
            }
            let u = rng.nextUnit() * total
            var pick = -1
            var running = 0.0
            d = slot
            if let depthMass, let rankMass, let tally, total > 0 {
                // Calibration: the same draw, plus every candidate's probability (see `CalibrationTally`).
                let scale = 1 / total
                while d < experts {
                    let w = weights[d]
                    running += w
                    if pick < 0 && u < running { pick = d }
                    let p = w * scale
                    depthMass[d] += p
                    rankMass[Int(stack[d])] += p
                    d += 1
                }
                tally.successorMass[l] += targetWeight * scale
                tally.selections[l] += 1
            } else {
                while d < experts {
                    running += weights[d]
                    if u < running { pick = d; break }
                    d += 1
                }
            }
            if pick < 0 { pick = experts - 1 }
            let r = stack[pick]
            d = pick
            while d > 0 {
                stack[d] = stack[d - 1]
                d -= 1
            }
            stack[0] = r
            chosen[slot] = r
            slot += 1
        }
    }

    private mutating func writeWeights(layer l: Int, into record: inout TokenRecord) {
        let base = l * topK
        guard topK > 1 else { record.weights[base] = 1; return }
        let bins = tables.topWeightBins
        var position = rng.nextUnit()
        if !tables.topWeightCDF.isEmpty {
            let v = rng.nextUnit()
            var bin = bins - 1
            for b in 0..<bins where v < tables.topWeightCDF[l * bins + b] { bin = b; break }
            position = (Double(bin) + position) / Double(bins)
        }
        // Weights are whole units of 1e-4 (the writer's resolution) so that they sum to exactly 1.
        let unit = Int(SyntheticTraceGenerator.weightResolution)
        let uniform = 1 / Double(topK)
        let top = Int((uniform + position * (1 - uniform)) * Double(unit) + 0.5)
        let rest = unit - top
        record.weights[base] = Float(top) / Float(unit)
        // Weights are listed highest first. Each later slot takes the floor of its share of the rest and the
        // leftover units go one each to the earliest slots, which keeps them non-increasing; if the profile's
        // proportions would still put slot 1 above the top-1 (possible when w1 is near 1/k), the rest is split
        // evenly, which never exceeds w1 because w1 >= 1/k.
        if !splitRest(rest, top: top, even: false, base: base, into: &record) {
            _ = splitRest(rest, top: top, even: true, base: base, into: &record)
        }
    }

    /// Writes slots 1..<topK; false (nothing written) if they would not be listed highest first after the top-1.
    private func splitRest(_ rest: Int, top: Int, even: Bool, base: Int, into record: inout TokenRecord) -> Bool {
        let unit = Float(SyntheticTraceGenerator.weightResolution)
        var assigned = 0
        let units = weightUnits
        for i in 1..<topK {
            let share = even ? 1 / Double(topK - 1) : tables.restShare[base + i]
            units[i] = Int(Double(rest) * share)
            assigned += units[i]
        }
        var i = 1
        while assigned < rest {
            units[i] += 1
            assigned += 1
            i = i + 1 < topK ? i + 1 : 1
        }
        guard units[1] <= top else { return false }
        for i in 2..<max(2, topK) where units[i] > units[i - 1] { return false }
        for i in 1..<topK { record.weights[base + i] = Float(units[i]) / unit }
        return true
    }
}
