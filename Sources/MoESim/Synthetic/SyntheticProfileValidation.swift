import Foundation

extension SyntheticProfile {
    /// Shares that should sum to 1 may be off by this much (they are rounded when written).
    static let shareSumTolerance = 1e-3
    static let phases = ["decode", "prefill", "all"]

    /// Checks every rule the generator relies on; errors name the file and the field.
    public func validate(file: String) throws {
        func fail(_ field: String, _ message: String) -> MoESimError { MoESimError(file: file, field: field, message) }
        guard schema == SyntheticProfile.schemaTag else {
            throw fail("schema", "expected \"\(SyntheticProfile.schemaTag)\", found \"\(schema)\"")
        }
        guard moeLayers >= 1 else { throw fail("moeLayers", "must be at least 1, found \(moeLayers)") }
        guard experts >= 1 else { throw fail("experts", "must be at least 1, found \(experts)") }
        guard (1...experts).contains(topK) else { throw fail("topK", "must be in 1...experts (\(experts)), found \(topK)") }
        guard SyntheticProfile.phases.contains(phase) else {
            throw fail("phase", "expected one of \(SyntheticProfile.phases.joined(separator: ", ")), found \"\(phase)\"")
        }
        guard perLayer.count == moeLayers else {
            throw fail("perLayer", "has \(perLayer.count) entries, expected moeLayers = \(moeLayers)")
        }
        for (l, layer) in perLayer.enumerated() {
            let m = "perLayer[\(l)].measured.", g = "perLayer[\(l)].generator."
            try checkShares(layer.measured.selectionShareByRank, count: experts, field: m + "selectionShareByRank", fail)
            try checkShares(layer.measured.stackDepthShare, count: experts, field: m + "stackDepthShare", fail, allowEmpty: true)
            for (name, value) in [("reuse", layer.measured.reuse), ("successorShare", layer.measured.successorShare),
                                  ("meanTopWeight", layer.measured.meanTopWeight)] {
                if let value, !(value.isFinite && (0...1).contains(value)) { throw fail(m + name, "must be a fraction in [0, 1], found \(value)") }
            }
            let ids = layer.generator.expertByRank
            guard ids.count == experts, Set(ids).count == experts, ids.allSatisfy({ (0..<experts).contains($0) }) else {
                throw fail(g + "expertByRank", "must list each expert id 0..<\(experts) exactly once")
            }
            try checkShares(layer.generator.propensityByRank, count: experts, field: g + "propensityByRank", fail)
            let recency = layer.generator.recencyByStackDepth
            guard recency.count == experts else { throw fail(g + "recencyByStackDepth", "has \(recency.count) entries, expected experts = \(experts)") }
            if let i = recency.firstIndex(where: { !($0.isFinite && $0 > 0) }) {
                throw fail(g + "recencyByStackDepth[\(i)]", "must be a positive finite number, found \(recency[i])")
            }
            if l == 0 {
                guard layer.generator.successorRankByRank == nil else { throw fail(g + "successorRankByRank", "must be null for layer 0 (no previous layer)") }
            } else if let successors = layer.generator.successorRankByRank {
                guard successors.count == experts, successors.allSatisfy({ (0..<experts).contains($0) }) else {
                    throw fail(g + "successorRankByRank", "must have \(experts) ranks, each in 0..<\(experts)")
                }
            }
            let boost = layer.generator.successorBoost
            guard boost.isFinite && boost > 0 else { throw fail(g + "successorBoost", "must be a positive finite number, found \(boost)") }
            if let histogram = layer.generator.topWeightHistogram {
                try checkShares(histogram, count: nil, field: g + "topWeightHistogram", fail)
            }
            let slots = layer.generator.slotWeightMeans
            guard slots.count == topK, slots.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
                throw fail(g + "slotWeightMeans", "must have topK = \(topK) numbers >= 0")
            }
        }
        // The generator lays the histograms out in one table: all layers need the same bins, or none.
        let binCounts = Set(perLayer.map { $0.generator.topWeightHistogram?.count ?? 0 })
        guard binCounts.count == 1 else {
            throw fail("perLayer[].generator.topWeightHistogram", "every layer needs the same number of bins (or all null); found \(binCounts.sorted())")
        }
        try requests.outputTokens.map { try $0.validate(field: "requests.outputTokens", fail) }
        try requests.promptTokens.map { try $0.validate(field: "requests.promptTokens", fail) }
        for (i, t) in requests.tasks.enumerated() where !(t.share.isFinite && (0...1).contains(t.share)) {
            throw fail("requests.tasks[\(i)].share", "must be a fraction in [0, 1], found \(t.share)")
        }
    }

    private func checkShares(_ values: [Double], count: Int?, field: String, _ fail: (String, String) -> MoESimError, allowEmpty: Bool = false) throws {
        if allowEmpty && values.allSatisfy({ $0 == 0 }) && values.count == count { return }
        if let count, values.count != count { throw fail(field, "has \(values.count) entries, expected \(count)") }
        guard !values.isEmpty else { throw fail(field, "must not be empty") }
        if let i = values.firstIndex(where: { !($0.isFinite && $0 >= 0) }) { throw fail("\(field)[\(i)]", "must be a finite number >= 0, found \(values[i])") }
        let sum = values.reduce(0, +)
        guard abs(sum - 1) <= SyntheticProfile.shareSumTolerance else { throw fail(field, "must sum to 1, sums to \(sum)") }
    }
}

extension SyntheticProfile.LengthDistribution {
    /// Tokens one request may have: beyond any model's context window (a length is drawn as an Int).
    static let maxTokens = 1 << 24

    func validate(field: String, _ fail: (String, String) -> MoESimError) throws {
        guard count >= 1, min >= 0, max >= min else { throw fail(field, "needs count >= 1 and 0 <= min <= max") }
        guard max <= Self.maxTokens else { throw fail(field + ".max", "\(max) tokens is more than moe-sim synthesizes per request (at most \(Self.maxTokens))") }
        guard quantiles.count >= 2 else { throw fail(field + ".quantiles", "needs at least 2 values (probabilities 0 and 1)") }
        for i in 0..<quantiles.count where !(quantiles[i].isFinite && quantiles[i] >= 0 && quantiles[i] <= Double(Self.maxTokens)) {
            throw fail(field + ".quantiles[\(i)]", "must be a token count in [0, \(Self.maxTokens)], found \(quantiles[i])")
        }
        for i in 1..<quantiles.count where !(quantiles[i] >= quantiles[i - 1]) {
            throw fail(field + ".quantiles[\(i)]", "quantiles must be finite and non-decreasing")
        }
    }
}
