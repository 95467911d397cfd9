import Foundation

/// The statistics of a routing workload, fitted from a recorded trace by `sim trace fit` and read by
/// `sim trace synth --profile`. Schema `moe-sim/synth-profile/1`; shipped profiles live in `Resources/profiles/`.
///
/// Per layer, `measured` holds what the fit counted in the trace (the calibration's targets, kept for checks),
/// and `generator` holds everything `ProfiledRoutingGenerator` reads. Units: shares and rates are fractions of
/// selections (one selection = one expert in one token's cell); ranks order a layer's experts by how often they
/// were selected, 0 the most used; stack depth d = the number of distinct experts of the layer used since the
/// expert's previous use (an LRU cache of capacity c hits exactly the accesses with d < c).
public struct SyntheticProfile: Codable, Sendable {
    public static let schemaTag = "moe-sim/synth-profile/1"

    public var schema: String
    public var name: String
    public var aliases: [String]?
    /// Which trace the numbers come from and the exact command that fitted them.
    public var source: String
    public var notes: String?
    /// The fitted trace's shape: generation for another model adapts the curves (`ProfileShapeAdapter`).
    public var model: String
    public var moeLayers: Int
    public var experts: Int
    public var topK: Int
    /// Token phase the routing statistics were fitted on: `decode`, `prefill` or `all`.
    public var phase: String
    public var fittedTokens: Int
    public var perLayer: [Layer]
    public var requests: Requests
    public var calibration: Calibration

    public struct Layer: Codable, Sendable {
        public var measured: Measured
        public var generator: Generator
    }

    /// What the fit counted at one layer.
    public struct Measured: Codable, Sendable {
        /// Share of the layer's selections taken by each popularity rank (descending; sums to 1).
        public var selectionShareByRank: [Double]
        /// Fraction of the experts at token t also chosen at token t-1 of the same request (nil: no such pair).
        public var reuse: Double?
        /// Share of the layer's warm accesses (the expert was used before) at each LRU stack depth 0..<experts.
        public var stackDepthShare: [Double]
        /// Share of the layer's selections equal to `generator.successorRankByRank[r]`, r the rank of the previous
        /// layer's top-1 expert in the same token (in-sample; nil for layer 0).
        public var successorShare: Double?
        /// Mean router weight of the top-1 expert, renormalised over the cell's listed experts (nil: no weights).
        public var meanTopWeight: Double?
    }

    /// Everything the generator reads for one layer.
    public struct Generator: Codable, Sendable {
        /// Expert id holding each popularity rank in the fitted trace (used when the expert count matches).
        public var expertByRank: [Int]
        /// Calibrated selection propensity of each rank (sums to 1); see `ProfiledRoutingGenerator`.
        public var propensityByRank: [Double]
        /// Calibrated multiplier for choosing the expert at each LRU stack depth 0..<experts (mean 1).
        public var recencyByStackDepth: [Double]
        /// For each rank r of the previous layer's top-1 expert: the rank that most often followed it here
        /// (nil for layer 0).
        public var successorRankByRank: [Int]?
        /// Calibrated multiplier for choosing that successor (1: no cross-layer correlation).
        public var successorBoost: Double
        /// Distribution of the top-1 weight's position u in [0, 1] between uniform (1/k) and certain (1):
        /// w1 = 1/k + u (1 - 1/k). Share of cells per equal-width bin of u; nil when the trace had no weights.
        public var topWeightHistogram: [Double]?
        /// Mean renormalised weight of each slot 0..<topK, highest first; the generator splits 1 - w1 over
        /// slots 1..<topK in these proportions.
        public var slotWeightMeans: [Double]
    }

    public struct Requests: Codable, Sendable {
        public var count: Int
        /// Task names with their share of requests, most frequent first.
        public var tasks: [TaskShare]
        /// Prompt (prefill) tokens per request; nil when the trace tells nothing about prompts.
        public var promptTokens: LengthDistribution?
        /// Generated (decode) tokens per request; nil when the trace had no decode tokens.
        public var outputTokens: LengthDistribution?
    }

    public struct TaskShare: Codable, Sendable, Equatable {
        public var task: String
        public var share: Double
    }

    /// Token counts per request, as an empirical distribution.
    public struct LengthDistribution: Codable, Sendable, Equatable {
        public var count: Int
        public var mean: Double
        public var min: Int
        public var max: Int
        /// Values at evenly spaced cumulative probabilities 0, 1/(n-1), ..., 1 (linear interpolation between
        /// sorted observations); the generator draws by inverse CDF over them.
        public var quantiles: [Double]
    }

    /// How the generator's parameters were calibrated against `measured` (the method of simulated moments).
    public struct Calibration: Codable, Sendable {
        public var seed: UInt64
        public var rounds: Int
        /// Tokens the generator simulated in the last round (earlier rounds were shorter).
        public var finalRoundTokens: Int
        /// Largest |generator's expected share - measured share| over layers and ranks in the last round (before
        /// its update: the parameters written are one update further, so usually a little closer).
        public var maxSelectionShareError: Double
        /// The same over layers and stack depths.
        public var maxStackDepthShareError: Double
        /// The same for the successor share over layers (0 when no layer has one).
        public var maxSuccessorShareError: Double
    }
}
