/// What a predictor may look at when eMoE invokes it for request r (papers.md §2.4.2).
public struct PredictionInput {
    public let layers: Int
    public let experts: Int
    /// eMoE-L predicts layer i from layer i-1 of the same request; eMoE-A (and -E) every layer from the previous request.
    public let layerByLayer: Bool
    /// Selection counts of the previous request (per layer, expert), nil when none has run.
    public let previous: [Double]?
    /// The request's true selection counts (what an oracle knows; eMoE-L also sees layer i-1 of it at run time).
    public let target: () -> [Double]

    public init(layers: Int, experts: Int, layerByLayer: Bool, previous: [Double]?, target: @escaping () -> [Double]) {
        self.layers = layers
        self.experts = experts
        self.layerByLayer = layerByLayer
        self.previous = previous
        self.target = target
    }
}

/// eMoE's expert predictor, pluggable (paper: an XLNet sequence model, 71 % accurate on Mixtral; papers.md §2.4.2).
/// A prediction is f: per layer a distribution over experts (`layer * experts + expert`, each layer summing to 1),
/// or nil when there is nothing to predict from.
public protocol ExpertPredictor: AnyObject {
    var name: String { get }
    func predict(_ input: PredictionInput) -> [Double]?
    /// Whether the serving loop should show it every token's routing (`observe`).
    var observesTokens: Bool { get }
    /// One token's choices, `layers * slots` ids, -1 for none.
    func observe(_ token: UnsafePointer<Int32>, slots: Int)
}

extension ExpertPredictor {
    public var observesTokens: Bool { false }
    public func observe(_ token: UnsafePointer<Int32>, slots: Int) {}

    /// Counts to per-layer frequencies; a layer with no selections becomes uniform.
    static func normalized(_ counts: [Double], layers: Int, experts: Int) -> [Double] {
        var f = counts
        for l in 0..<layers {
            let total = counts[(l * experts)..<((l + 1) * experts)].reduce(0, +)
            for e in 0..<experts { f[l * experts + e] = total > 0 ? counts[l * experts + e] / total : 1 / Double(experts) }
        }
        return f
    }
}

/// Knows the request's routing exactly: the upper bound of any predictor.
public final class OraclePredictor: ExpertPredictor {
    public let name = "oracle"
    public init() {}
    public func predict(_ input: PredictionInput) -> [Double]? {
        Self.normalized(input.target(), layers: input.layers, experts: input.experts)
    }
}

/// The previous request's routing, unchanged (eMoE's observation that consecutive prompts share experts:
/// 0.75-0.95 correlation on Mixtral, papers.md §2.3). Has no layer model, so eMoE-L predicts as eMoE-A.
public final class PreviousRequestPredictor: ExpertPredictor {
    public let name = "previous-request"
    public init() {}
    public func predict(_ input: PredictionInput) -> [Double]? {
        input.previous.map { Self.normalized($0, layers: input.layers, experts: input.experts) }
    }
}

/// A layer-to-layer transition model (eMoE Fig. 3's heatmap of expert i at layer l -> expert j at layer l+1):
/// counts of (expert at l-1, expert at l) pairs over every token seen. Layer 0 is the previous request's; each later
/// layer is the layer before, pushed through the counts. eMoE-A pushes its own prediction forward; eMoE-L pushes the
/// request's actual layer l-1 (which it observes at run time).
public final class TransitionFrequencyPredictor: ExpertPredictor {
    public let name = "transition"
    public let observesTokens = true
    let layers: Int
    let experts: Int
    /// `(layer * experts + from) * experts + to`, for layers 1...
    var transitions: [Double]

    public init(layers: Int, experts: Int) {
        self.layers = layers
        self.experts = experts
        transitions = Array(repeating: 0, count: layers * experts * experts)
    }

    public func observe(_ token: UnsafePointer<Int32>, slots: Int) {
        for l in 1..<max(1, layers) {
            for a in 0..<slots {
                let from = token[(l - 1) * slots + a]
                guard from >= 0 else { continue }
                for b in 0..<slots {
                    let to = token[l * slots + b]
                    if to >= 0 { transitions[(l * experts + Int(from)) * experts + Int(to)] += 1 }
                }
            }
        }
    }

    public func predict(_ input: PredictionInput) -> [Double]? {
        guard let previous = input.previous else { return nil }
        var f = Self.normalized(previous, layers: layers, experts: experts)
        let actual = input.layerByLayer ? Self.normalized(input.target(), layers: layers, experts: experts) : []
        for l in 1..<max(1, layers) {
            let source = input.layerByLayer ? Array(actual[((l - 1) * experts)..<(l * experts)]) : Array(f[((l - 1) * experts)..<(l * experts)])
            var next = Array(repeating: 0.0, count: experts)
            for a in 0..<experts where source[a] > 0 {
                let row = (l * experts + a) * experts
                let total = transitions[row..<(row + experts)].reduce(0, +)
                // An unseen predecessor keeps its own id (no evidence of a transition yet).
                if total == 0 { next[a] += source[a]; continue }
                for b in 0..<experts { next[b] += source[a] * transitions[row + b] / total }
            }
            for b in 0..<experts { f[l * experts + b] = next[b] }
        }
        return Self.normalized(f, layers: layers, experts: experts)
    }
}

/// The oracle with errors at a chosen accuracy (paper's XLNet: ~71 % on Mixtral, papers.md §2.4.2 Table 2): at each
/// layer, with probability `accuracy` the true frequencies, otherwise the same values on a random permutation of
/// the experts. Seeded.
public final class NoisyOraclePredictor: ExpertPredictor {
    public let name: String
    public let accuracy: Double
    var rng: SeededGenerator

    public init(accuracy: Double, seed: UInt64) {
        self.accuracy = accuracy
        name = "noisy-oracle:accuracy=\(accuracy)"
        rng = SeededGenerator(seed: seed ^ 0x4E4F_4953_594F)
    }

    public func predict(_ input: PredictionInput) -> [Double]? {
        var f = Self.normalized(input.target(), layers: input.layers, experts: input.experts)
        let e = input.experts
        for l in 0..<input.layers where rng.nextUnit() >= accuracy {
            var perm = Array(0..<e)
            for i in stride(from: e - 1, to: 0, by: -1) { perm.swapAt(i, rng.nextInt(below: i + 1)) }
            let row = Array(f[(l * e)..<((l + 1) * e)])
            for i in 0..<e { f[l * e + perm[i]] = row[i] }
        }
        return f
    }
}

/// `--predictor` names.
public enum ExpertPredictorSpec {
    public static let usage = "expected oracle, previous-request, transition or noisy-oracle[:accuracy=A] (A in [0, 1]; default 0.71)"
    public static let defaultAccuracy = Sourced(0.71, source: "papers.md §2.4.2 Table 2: BERT-XLNet predictor, 71 % accuracy on Mixtral routing (eMoE-L and eMoE-A)")
    public static let names = ["oracle", "previous-request", "transition", "noisy-oracle"]

    public static func make(_ text: String, layers: Int, experts: Int, seed: UInt64) throws -> ExpertPredictor {
        let spec = try PolicySpec.parse(text, option: "--predictor", usage: usage)
        func noOptions() throws {
            guard spec.options.isEmpty else { throw MoESimError(field: "--predictor", "\(spec.name) takes no options", hint: usage) }
        }
        switch spec.name {
        case "oracle": try noOptions(); return OraclePredictor()
        case "previous-request", "previous": try noOptions(); return PreviousRequestPredictor()
        case "transition", "transition-frequency": try noOptions(); return TransitionFrequencyPredictor(layers: layers, experts: experts)
        case "noisy-oracle":
            var accuracy = defaultAccuracy.value
            for option in spec.options {
                guard option.key == "accuracy", let v = option.value.flatMap(Double.init), (0...1).contains(v) else {
                    throw MoESimError(field: "--predictor", "cannot read '\(option.written)'", hint: usage)
                }
                accuracy = v
            }
            return NoisyOraclePredictor(accuracy: accuracy, seed: seed)
        default:
            let suggestion = NameMatching.closest(to: spec.name, among: names)
            throw MoESimError(field: "--predictor", "unknown predictor '\(spec.name)'", hint: (suggestion.map { "did you mean '\($0)'? " } ?? "") + usage)
        }
    }
}
