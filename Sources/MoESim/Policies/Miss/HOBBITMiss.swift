/// HOBBIT's token-level dynamic loading (Tang et al., arXiv 2411.01433; peers.md §1.7): for a missing expert e_i in a
/// token's top-k list sorted by gate weight, s = the summed gate weight of the experts ranked above it; s <= 0.6 loads
/// it in high precision, 0.6 < s <= 0.9 loads a low-precision copy (up to 4x fewer bytes), s > 0.9 skips it. The miss
/// cost of a low-precision copy is its bytes' share of a full load (the paper's (B_low / B_high) x C).
///
/// Weights are the recorded router weights renormalised over the experts the token runs (so the top-1 has s = 0 and
/// always loads in high precision). With several tokens routed to one expert (prefill), the smallest s decides: the
/// expert is loaded at the precision its most important use needs, and skipped only if every token would skip it.
///
/// The low-precision copy is quantization `low` (default: about a quarter of the main format's bits: hqq4 below
/// fp16, hqq2 below 8- or fewer-bit formats); its bytes come from the quantization catalog. Options `load=S1`,
/// `skip=S2` move the thresholds (`skip=1` never skips).
///
/// Deviations: HOBBIT keeps separate high- and low-precision caches with a mixed LRU/LFU/LHU/layer-distance eviction;
/// here a low-precision copy is used once from its load buffer and never cached, and the cache policy is the run's
/// (`lru` in the `hobbit` system preset). HOBBIT's stacked-gate multi-layer prefetch and its mixed-precision prefetches
/// are not modelled by this policy (the preset prefetches full-precision experts one layer ahead).
public final class HOBBITMiss: MissPolicy {
    public static let options = ["load=S1", "skip=S2", "low=QUANT"]
    public static let summary = "HOBBIT's token-level dynamic loading (peers.md §1.7): with s = the gate weight of the experts a token ranks above the missing one, s <= 0.6 loads it, 0.6 < s <= 0.9 loads a low-precision copy (not cached), s > 0.9 skips it. Options: load=0.6, skip=0.9, low=QUANT (default hqq4 below fp16, else hqq2). Reports a quality proxy"

    public static let defaultLoadThreshold = 0.6
    public static let defaultSkipThreshold = 0.9

    public let name = "hobbit"
    public let requirements: MissRequirements
    public let loadThreshold: Double
    public let skipThreshold: Double
    public let lowPrecision: Quantization
    private(set) var withoutWeights = 0

    public init(setup: MissSetup) throws {
        try setup.accept(only: HOBBITMiss.options)
        try setup.requireWeights("HOBBIT ranks a token's experts by gate weight")
        loadThreshold = try setup.number("load", in: 0...1) ?? HOBBITMiss.defaultLoadThreshold
        skipThreshold = try setup.number("skip", in: 0...1) ?? HOBBITMiss.defaultSkipThreshold
        guard loadThreshold <= skipThreshold else {
            throw setup.error("load=\(loadThreshold) must not exceed skip=\(skipThreshold)", hint: "s <= load loads in high precision; load < s <= skip loads the low-precision copy")
        }
        let lowName = try setup.text("low") ?? HOBBITMiss.defaultLowPrecision(below: setup.quantization)
        let low: Quantization
        do { low = try QuantizationCatalog.resolve(lowName) } catch let error as MoESimError {
            throw setup.error("low=\(lowName): " + error.message, hint: error.hint)
        }
        let lowBytes = low.expertBytes(setup.model), mainBytes = setup.quantization.expertBytes(setup.model)
        guard lowBytes < mainBytes else {
            throw setup.error("the low-precision copy (\(low.name), \(ByteSize.format(Double(lowBytes))) per expert) is not smaller than the run's experts (\(setup.quantization.name), \(ByteSize.format(Double(mainBytes))))",
                              hint: "choose a smaller low=QUANT (e.g. hqq2) or a larger --quant")
        }
        lowPrecision = low
        requirements = MissRequirements(gateStatistics: true, lowPrecision: low, approximates: true)
    }

    /// About a quarter of the main format's bits (HOBBIT: FP16 -> INT4, INT8 -> INT2; peers.md §1.7 "up to 4x fewer bytes").
    static func defaultLowPrecision(below main: Quantization) -> String {
        if case let .float(bytesPerParam, _) = main.expertFormat, bytesPerParam >= 2 { return "hqq4" }
        return "hqq2"
    }

    public func decide(layer: Int, expert: Int, context: MissContext) -> MissAction {
        guard let gate = context.gate(expert: expert) else {
            withoutWeights += 1
            return .load
        }
        if gate.priorMass <= loadThreshold { return .load }
        return gate.priorMass <= skipThreshold ? .loadLowPrecision : .skip
    }

    public var notes: [String] {
        var out = ["thresholds: s <= \(loadThreshold) loads, s <= \(skipThreshold) loads \(lowPrecision.name), else skips"]
        if withoutWeights > 0 { out.append("\(withoutWeights) misses loaded in high precision: none of their tokens had recorded weights") }
        return out
    }
}
