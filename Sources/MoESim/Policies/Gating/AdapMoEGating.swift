/// AdapMoE's sensitivity-based adaptive gating (papers.md §1.3.A; constants §1.6.3): at layer l, a token runs
/// only its top-1 expert iff H_l * w2^2 < T, where w2 is the normalised 2nd weight (`RoutingCell.normalisedSecondWeight`)
/// and H_l the layer's sensitivity (the model's `gateSensitivity`, §1.6.1 / §1.6.2). Otherwise both experts run.
///
/// As the released code (`custom_layers.py`): only decode tokens are gated unless `gatesPrefill`; cells with
/// other than two recorded experts (null rows, wider cells) replay unchanged.
///
/// Deviations: the code compares w2 < sqrt(T / H_l); this uses the equivalent H_l * w2^2 < T (the form),
/// which can differ from it only in the last bit of a tie. The code's single-expert path runs expert id 0 instead
/// of the top-1 (issue #4, §1.3.A); that bug is reproduced only with `runsExpertZeroBug`.
public final class AdapMoEGating: GatingPolicy {
    /// run.py's T (papers.md §1.6.3).
    public static let defaultThreshold = 0.005
    /// The normalised 2nd weight never exceeds 1/2 (the 1st expert has the higher weight), so a layer with
    /// H_l * (1/2)^2 < T drops the 2nd expert for every token.
    public static let maximumSecondWeight = 0.5
    /// The expert the released code runs on its single-expert path (issue #4).
    static let buggyExpert: Int32 = 0

    public static let summary = "AdapMoE (papers.md §1.3.A): run only the top-1 expert at layer l iff H_l * w2^2 < T (w2: normalised 2nd weight, H_l: the model's sensitivities). Options: T=\(defaultThreshold) (default), prefill (also gate prefill tokens; default: decode only, as the released code), expert0-bug (run expert 0 instead of the top-1 when dropping, as the released code does; only to reproduce its measurements)"

    public let name = "adapmoe"
    public var dropsExperts: Bool { true }
    /// T: the sensitivity budget per cell.
    public let threshold: Double
    /// H_l, one per layer.
    public let sensitivity: [Double]
    public let gatesPrefill: Bool
    public let runsExpertZeroBug: Bool

    public init(sensitivity: [Double], threshold: Double = AdapMoEGating.defaultThreshold, gatesPrefill: Bool = false,
                runsExpertZeroBug: Bool = false) {
        self.sensitivity = sensitivity
        self.threshold = threshold
        self.gatesPrefill = gatesPrefill
        self.runsExpertZeroBug = runsExpertZeroBug
    }

    convenience init(context: GatingContext) throws {
        try context.accept(only: ["T=NUMBER", "prefill", "expert0-bug"])
        try context.requireTopTwoWithWeights()
        self.init(sensitivity: try context.requireSensitivities(), threshold: try context.number("t") ?? AdapMoEGating.defaultThreshold,
                  gatesPrefill: try context.flag("prefill"), runsExpertZeroBug: try context.flag("expert0-bug"))
    }

    /// Whether AdapMoE's rule drops the 2nd expert of a cell at `layer` with normalised 2nd weight `w2`.
    @inline(__always) public static func dropsSecond(sensitivity h: Double, secondWeight w2: Double, threshold: Double) -> Bool {
        h * w2 * w2 < threshold
    }

    /// The runtime's per-layer cut-off on w2, sqrt(T / H_l) (papers.md §1.6.1 "thr_l").
    public static func secondWeightThresholds(sensitivity: [Double], threshold: Double) -> [Double] {
        sensitivity.map { (threshold / $0).squareRoot() }
    }

    /// Layers where every token runs a single expert: H_l * (1/2)^2 < T (papers.md §1.3.A).
    public static func alwaysSingleExpertLayers(sensitivity: [Double], threshold: Double) -> [Int] {
        sensitivity.indices.filter { dropsSecond(sensitivity: sensitivity[$0], secondWeight: maximumSecondWeight, threshold: threshold) }
    }

    public func select(_ cell: RoutingCell, into selected: FixedArray<Int32>) -> Int {
        let n = cell.experts.count
        if n == 2, cell.phase == .decode || gatesPrefill,
           AdapMoEGating.dropsSecond(sensitivity: sensitivity[cell.layer], secondWeight: cell.normalisedSecondWeight, threshold: threshold) {
            selected[0] = runsExpertZeroBug ? AdapMoEGating.buggyExpert : cell.experts[0]
            return 1
        }
        for i in 0..<n { selected[i] = cell.experts[i] }
        return n
    }
}
