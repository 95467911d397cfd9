import Foundation

/// Fits a profile's generator parameters to its measured statistics by the method of simulated moments: run the
/// generator, compare its expected selection shares by rank, by LRU stack depth and of the cross-layer successor
/// with the measured ones, and scale each parameter by the ratio (iterative proportional fitting). Every round
/// reuses the same seed, so calibration is deterministic and its result does not wander with sampling noise.
public enum ProfileCalibration {
    public struct Settings: Sendable {
        /// Fixed, so that the same trace always calibrates to the same bytes.
        public var seed: UInt64 = 0xCA11B
        /// Rounds of updates: on the Mixtral traces the shares reach their noise floor in 5-6; the rest lengthen
        /// the simulation, which lowers that floor.
        public var rounds = 10
        /// Tokens simulated in the last round. Earlier rounds are shorter by `growth` per round (at least
        /// `minimumRoundTokens`): they only need to get close, and the last rounds' length sets the precision
        /// (about 0.01 in a selection share at 2,400 Mixtral tokens). Total: about 3x this.
        public var finalRoundTokens = 2400
        public var growth = 1.5
        public var minimumRoundTokens = 200
        /// Exponent of each multiplicative update: below 1 damps the oscillation between parameters that
        /// pull on the same statistic (propensity and recency both move the stack-depth shares).
        public var step = 0.8
        public init() {}

        /// Tokens simulated in round `round` (0-based).
        public func tokens(round: Int) -> Int {
            max(minimumRoundTokens, Int(Double(finalRoundTokens) / pow(growth, Double(rounds - 1 - round))))
        }
    }

    /// Parameters never go below this (relative to their mean), so every expert and depth stays reachable and
    /// the updates stay finite where a target share is 0.
    static let floor = 1e-6
    /// Cross-layer boost is kept within these bounds: past them the successor is chosen almost always or never,
    /// and the ratio updates stop being informative.
    static let boostRange = 1e-3...1e3

    /// Calibrates `profile`'s generator fields in place and records the result in `profile.calibration`.
    public static func calibrate(_ profile: inout SyntheticProfile, settings: Settings = Settings()) {
        let (layers, experts) = (profile.moeLayers, profile.experts)
        var errors = (selection: 0.0, depth: 0.0, successor: 0.0)
        initialiseSuccessorBoosts(&profile)
        for round in 0..<settings.rounds {
            let tables = ProfileShapeAdapter.tables(for: profile, layers: layers, experts: experts, topK: profile.topK, seed: settings.seed)
            var generator = ProfiledRoutingGenerator(tables: tables, seed: settings.seed)
            let tally = CalibrationTally(layers: layers, experts: experts)
            for _ in 0..<settings.tokens(round: round) { generator.simulateToken(tally: tally) }
            errors = (0, 0, 0)
            for l in 0..<layers {
                let measured = profile.perLayer[l].measured
                var g = profile.perLayer[l].generator
                let rankShares = tally.shares(tally.rankMass, layer: l)
                let depthShares = tally.shares(tally.depthMass, layer: l)
                let successorShare = tally.selections[l] > 0 ? tally.successorMass[l] / tally.selections[l] : 0
                errors.selection = max(errors.selection, zip(rankShares, measured.selectionShareByRank).map { abs($0 - $1) }.max() ?? 0)
                let hasDepths = measured.stackDepthShare.contains { $0 > 0 }
                if hasDepths {
                    errors.depth = max(errors.depth, zip(depthShares, measured.stackDepthShare).map { abs($0 - $1) }.max() ?? 0)
                }
                let successorTarget = g.successorRankByRank != nil ? measured.successorShare : nil
                if let successorTarget { errors.successor = max(errors.successor, abs(successorShare - successorTarget)) }
                g.propensityByRank = normalised(update(g.propensityByRank, target: measured.selectionShareByRank, achieved: rankShares, step: settings.step), toMean: 1 / Double(experts))
                if hasDepths {
                    g.recencyByStackDepth = normalised(update(g.recencyByStackDepth, target: measured.stackDepthShare, achieved: depthShares, step: settings.step), toMean: 1)
                }
                if let successorTarget {
                    let ratio = max(successorTarget, floor) / max(successorShare, floor)
                    g.successorBoost = min(boostRange.upperBound, max(boostRange.lowerBound, g.successorBoost * pow(ratio, settings.step)))
                }
                profile.perLayer[l].generator = g
            }
        }
        profile.calibration = SyntheticProfile.Calibration(seed: settings.seed, rounds: settings.rounds, finalRoundTokens: settings.finalRoundTokens,
                                                           maxSelectionShareError: errors.selection, maxStackDepthShareError: errors.depth,
                                                           maxSuccessorShareError: errors.successor)
    }

    /// Starts each boost at the odds ratio between the measured successor share and the share the successor
    /// ranks would get from popularity alone, so the rounds start near the answer instead of at 1.
    static func initialiseSuccessorBoosts(_ profile: inout SyntheticProfile) {
        for l in 1..<max(1, profile.moeLayers) {
            guard let successors = profile.perLayer[l].generator.successorRankByRank, let target = profile.perLayer[l].measured.successorShare else { continue }
            let previous = profile.perLayer[l - 1].measured.selectionShareByRank
            let here = profile.perLayer[l].measured.selectionShareByRank
            let base = zip(previous, successors).reduce(0) { $0 + $1.0 * here[$1.1] }
            func odds(_ p: Double) -> Double { min(max(p, floor), 1 - floor) / (1 - min(max(p, floor), 1 - floor)) }
            profile.perLayer[l].generator.successorBoost = min(boostRange.upperBound, max(boostRange.lowerBound, odds(target) / odds(base)))
        }
    }

    static func update(_ values: [Double], target: [Double], achieved: [Double], step: Double) -> [Double] {
        zip(values, zip(target, achieved)).map { v, pair in
            v * pow(max(pair.0, floor) / max(pair.1, floor), step)
        }
    }



    /// Scales to the given mean, then lifts anything below `floor` (relative to that mean).
    static func normalised(_ values: [Double], toMean mean: Double) -> [Double] {
        let current = values.reduce(0, +) / Double(values.count)
        guard current > 0 else { return Array(repeating: mean, count: values.count) }
        return values.map { max($0 / current * mean, floor * mean) }
    }
}
