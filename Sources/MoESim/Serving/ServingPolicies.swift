/// `--policy` names: how experts get onto the devices.
public enum ServingPolicies {
    public static let entries: [(name: String, summary: String)] = [
        ("all-resident", "every expert on the devices (DeepSpeed-FastGen / vLLM; eMoE's Baseline)"),
        ("on-demand", "nothing cached: each layer loads the experts it needs and drops them after (eMoE's dynamic loading)"),
        ("emoe-a", "eMoE: predictor every --period requests from the previous request's routing, Eq. 2 top-L per layer, misses rerouted"),
        ("emoe-l", "eMoE layer by layer: layer i predicted from layer i-1 of the same request (costlier calls)"),
        ("emoe-e", "eMoE-A invoked for every request (the paper's ablation)"),
        ("random", "L random experts per layer, redrawn every --period requests; misses go to a random resident expert"),
        ("moe-infinity", "activation-matrix prefetch into an LFU expert cache of --experts-loaded; misses load on demand"),
        ("pre-gated", "no cache; each layer's experts fetched exactly one layer ahead (Pre-gated MoE as a next-layer oracle)"),
    ]
    public static var names: [String] { entries.map(\.name) }

    public static func make(_ config: ServingConfig) throws -> ExpertLoadingPolicy {
        let m = config.model
        let budget = { try ExpertBudget.perLayer(fraction: config.expertsLoadedFraction, layers: m.moeLayers, experts: m.experts) }
        switch config.policy.lowercased() {
        case "all-resident": return AllResidentLoader()
        case "on-demand": return OnDemandLoader(nextLayer: false)
        case "pre-gated": return OnDemandLoader(nextLayer: true)
        case "random": return try RandomLoader(budget: budget(), period: config.period, seed: config.seed)
        case "moe-infinity": return MoEInfinityLoader(capacity: try budget().reduce(0, +))
        case let name:
            guard let variant = EMoEVariant(rawValue: name) else {
                let suggestion = NameMatching.closest(to: name, among: names)
                throw MoESimError(field: "--policy", "unknown policy '\(config.policy)'",
                                  hint: (suggestion.map { "did you mean '\($0)'? " } ?? "") + "known: \(names.joined(separator: ", "))")
            }
            let predictor = try ExpertPredictorSpec.make(config.predictor, layers: m.moeLayers, experts: m.experts, seed: config.seed)
            let call = config.predictorCallSeconds ?? EMoEConstants.callSeconds(variant).value
            guard call.isFinite, call >= 0 else { throw MoESimError(field: "--predictor-cost", "expected seconds >= 0, found \(call)") }
            return try EMoELoader(variant: variant, period: config.period, predictor: predictor, callSeconds: call, budget: budget(), taskAware: config.taskAware)
        }
    }
}

/// `sim serve --system NAME`: a published serving system as a policy and a scheduler (explicit options override).
public enum ServingSystems {
    public static let entries: [(name: String, policy: String, scheduler: String, summary: String)] = [
        ("deepspeed-fastgen", "all-resident", "fcfs", "all experts resident, first come first served (eMoE's DeepSpeed-FastGen baseline)"),
        ("emoe", "emoe-a", "emoe", "eMoE: eMoE-A loading with its task-aware scheduler (Algorithm 1)"),
        ("emoe-fcfs", "emoe-a", "fcfs", "eMoE-A loading with first come first served (the scheduler's contribution, which the paper does not isolate)"),
    ]

    public static func resolve(_ name: String) throws -> (policy: String, scheduler: String) {
        guard let entry = entries.first(where: { $0.name == name.lowercased() }) else {
            let suggestion = NameMatching.closest(to: name, among: entries.map(\.name))
            throw MoESimError(field: "--system", "unknown serving system '\(name)'",
                              hint: (suggestion.map { "did you mean '\($0)'? " } ?? "") + "known: \(entries.map(\.name).joined(separator: ", "))")
        }
        return (entry.policy, entry.scheduler)
    }
}
