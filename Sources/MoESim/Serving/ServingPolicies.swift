/// Makes a serving loading policy from the run's configuration.
public typealias ServingPolicyFactory = @Sendable (ServingConfig) throws -> ExpertLoadingPolicy

/// `--policy` of `sim serve`: how experts get onto the devices. Adding a policy = one type + one line here.
public let servingPolicies = NamedRegistry<ServingPolicyFactory>(option: "--policy", [
    .init(name: "all-resident", summary: "every expert on the devices (DeepSpeed-FastGen / vLLM; eMoE's Baseline)") { _ in AllResidentLoader() },
    .init(name: "on-demand", summary: "nothing cached: each layer loads the experts it needs and drops them after (eMoE's dynamic loading)") { _ in
        OnDemandLoader(nextLayer: false)
    },
    .init(name: "emoe-a", summary: "eMoE: predictor every --period requests from the previous request's routing, Eq. 2 top-L per layer, misses rerouted") {
        try EMoELoader.make(.allLayers, config: $0)
    },
    .init(name: "emoe-l", summary: "eMoE layer by layer: layer i predicted from layer i-1 of the same request (costlier calls)") {
        try EMoELoader.make(.layerByLayer, config: $0)
    },
    .init(name: "emoe-e", summary: "eMoE-A invoked for every request (the paper's ablation)") { try EMoELoader.make(.everyRequest, config: $0) },
    .init(name: "random", summary: "L random experts per layer, redrawn every --period requests; misses go to a random resident expert") { config in
        try RandomLoader(budget: config.expertBudget(), period: config.period, seed: config.seed)
    },
    .init(name: "moe-infinity", summary: "activation-matrix prefetch into an LFU expert cache of --experts-loaded; misses load on demand") { config in
        MoEInfinityLoader(capacity: try config.expertBudget().reduce(0, +))
    },
    .init(name: "pre-gated", summary: "no cache; each layer's experts fetched exactly one layer ahead (Pre-gated MoE as a next-layer oracle)") { _ in
        OnDemandLoader(nextLayer: true)
    },
])

extension ServingConfig {
    /// Experts kept per layer under `--experts-loaded`.
    func expertBudget() throws -> [Int] {
        try ExpertBudget.perLayer(fraction: expertsLoadedFraction, layers: model.moeLayers, experts: model.experts)
    }
}

extension EMoELoader {
    /// eMoE's loader for `variant` with the run's predictor, its call cost and the expert budget.
    static func make(_ variant: EMoEVariant, config: ServingConfig) throws -> EMoELoader {
        let m = config.model
        let predictor = try ExpertPredictorSpec.make(config.predictor, layers: m.moeLayers, experts: m.experts, seed: config.seed)
        let call = config.predictorCallSeconds ?? EMoEConstants.callSeconds(variant).value
        guard call.isFinite, call >= 0 else { throw MoESimError(field: "--predictor-cost", "expected seconds >= 0, found \(call)") }
        return try EMoELoader(variant: variant, period: config.period, predictor: predictor, callSeconds: call, budget: config.expertBudget(),
                              taskAware: config.taskAware)
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
