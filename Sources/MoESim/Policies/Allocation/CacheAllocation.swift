/// How a per-layer cache's total is divided among its layers when not evenly: AdapMoE's DP (papers.md §1.3.C)
/// fed with the model's published a_l and r_l, with or without the adaptive-gating statistics r_l, or with both
/// measured on a profiling prefix of the trace. The alternatives are an equal split (`lru-per-layer:N`,
/// `...:total=N`) and one global pool (`lru-global:total=N`).
public enum CacheAllocation: Sendable, Equatable {
    /// Published a_l and r_l (`ModelSpec.adapmoeProfile`); `gatingStatistics: false` sets r_l to 0 (`dp.py`
    /// without `--adapgate`).
    case adapmoeDP(gatingStatistics: Bool)
    /// a_l and r_l measured on the first `prefixTokens` decode tokens (`MeasuredAdapMoEProfile`); r_l is the
    /// run's own gating policy's single-expert ratio there.
    case adapmoeDPMeasured(prefixTokens: Int)

    /// The `--cache` spec heads, longest first (so `adapmoe-dp` does not swallow the others).
    public static let heads: [(String, CacheAllocation?)] = [
        ("adapmoe-dp-nogating", .adapmoeDP(gatingStatistics: false)),
        ("adapmoe-dp-measured", nil),
        ("adapmoe-dp", .adapmoeDP(gatingStatistics: true)),
    ]

    public var name: String {
        switch self {
        case .adapmoeDP(true): "adapmoe-dp"
        case .adapmoeDP(false): "adapmoe-dp-nogating"
        case .adapmoeDPMeasured: "adapmoe-dp-measured"
        }
    }

    /// The DP's inputs for this allocation.
    public func inputs(context: CacheAllocationContext, layers: Int) throws -> AllocationInputs {
        switch self {
        case let .adapmoeDP(gatingStatistics):
            guard let model = context.model else {
                throw MoESimError(field: "--cache", "\(name) reads the model's published AdapMoE profile, but the model is not known", hint: "pass --model NAME|FILE")
            }
            guard let profile = model.adapmoeProfile else {
                throw MoESimError(field: "--cache", "model '\(model.name)' has no published AdapMoE profile (a_l, r_l)",
                                  hint: "AdapMoE published one for mixtral-8x7b only; use adapmoe-dp-measured:total=N,prefix=K, or add \"adapmoeProfile\" to a model JSON and pass --model FILE")
            }
            guard profile.prefetchAccuracy.count == layers else {
                throw MoESimError(field: "--cache", "model '\(model.name)' has an AdapMoE profile for \(profile.prefetchAccuracy.count) layers, the trace has \(layers)")
            }
            return AllocationInputs(prefetchAccuracy: profile.prefetchAccuracy,
                                    singleExpertRatio: gatingStatistics ? profile.singleExpertRatio : Array(repeating: 0, count: layers),
                                    provenance: "published a_l" + (gatingStatistics ? " and r_l" : ", r_l set to 0 (no adaptive gating)") + ": \(profile.source)")
        case let .adapmoeDPMeasured(prefixTokens):
            guard let makeSource = context.source else {
                throw MoESimError(field: "--cache", "\(name) measures a_l and r_l on the trace; this command has none", hint: "give --trace")
            }
            let source = try makeSource()
            let measured = try MeasuredAdapMoEProfile.measure(source: source, gating: try context.gating(), prefixTokens: prefixTokens)
            return AllocationInputs(prefetchAccuracy: measured.prefetchAccuracy, singleExpertRatio: measured.singleExpertRatio,
                                    provenance: "measured on the first \(measured.decodeTokens) decode tokens of \(source.sourceName): r_l with gating \(context.gatingText), a_l with an in-sample next-layer co-occurrence predictor (MeasuredAdapMoEProfile)",
                                    measuredDecodeTokens: measured.decodeTokens)
        }
    }

    /// Per-layer capacities for `total` experts in all.
    public func capacities(total: Int, layers: Int, experts: Int, context: CacheAllocationContext) throws -> [Int] {
        guard context.topK == AdapMoEAllocation.modelledTopK else {
            throw MoESimError(field: "--cache", "\(name): AdapMoE's allocation objective models top-\(AdapMoEAllocation.modelledTopK) routing; this model routes top-\(context.topK)",
                              hint: "use POLICY-per-layer:total=N (equal split) or POLICY-global:total=N")
        }
        let inputs: AllocationInputs = try inputs(context: context, layers: layers)
        return AdapMoEAllocation.capacities(total: total, experts: experts, prefetchAccuracy: inputs.prefetchAccuracy,
                                            singleExpertRatio: inputs.singleExpertRatio)
    }
}

/// The DP's per-layer inputs and where they came from.
public struct AllocationInputs: Sendable {
    public var prefetchAccuracy: [Double]
    public var singleExpertRatio: [Double]
    public var provenance: String
    public var measuredDecodeTokens: Int?
}

/// What an allocation may read: the model (published profile) and, for a measured one, the trace and the run's
/// gating policy.
public struct CacheAllocationContext {
    public var model: ModelSpec?
    /// Experts each token routes to (the trace's or model's top-k).
    public var topK: Int
    /// A fresh stream over the trace from its start; nil when there is no trace.
    public var source: (() throws -> PassSource)?
    /// A fresh instance of the run's gating policy, and its spec (for reports).
    public var gating: () throws -> GatingPolicy
    public var gatingText: String

    public init(model: ModelSpec?, topK: Int, source: (() throws -> PassSource)?,
                gating: @escaping () throws -> GatingPolicy = { TopKReplayGating() }, gatingText: String = "topk") {
        self.model = model
        self.topK = topK
        self.source = source
        self.gating = gating
        self.gatingText = gatingText
    }
}
