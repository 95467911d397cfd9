/// eMoE's expert loading (papers.md §2.4.2-§2.4.4): every p-th request (eMoE-E: every request) the predictor runs
/// for it and its prediction becomes the frequency f of the request's task label; whenever requests are admitted,
/// Eq. 2 over the running requests picks the top L experts of each layer, loads the missing ones (issued at once,
/// serialised per host link) and drops the rest. Misses are rerouted, never loaded (`MissHandling.rerouteRanked`).
///
/// Timing: a predictor call stalls serving for its measured per-call time (papers.md §2.4.3: prediction plus moving
/// the predicted experts); the loads it triggers are issued at the start of that stall and run beside it, so a
/// layer waits for an expert only if its copy outlasts the stall. Loads after an admission without a call do not
/// stall; a layer whose new expert is still in flight waits for it (eMoE's per-layer CUDA events, §2.4.6).
///
/// Choices where the paper is silent: request 0 makes no prediction (it "loads all experts"), so every expert stays
/// until the first prediction; a task with no prediction of its own uses the latest prediction of any task; a call
/// is skipped (no cost, no change of f) when the label's task is insensitive at every layer ("skip prediction for
/// less-sensitive tasks"), unless loading is task-agnostic.
public final class EMoELoader: ExpertLoadingPolicy {
    public let name: String
    public let missHandling = MissHandling.rerouteRanked
    public let variant: EMoEVariant
    public let invocation: PeriodicInvocation
    public let predictor: ExpertPredictor
    public let callSeconds: Double
    public let budget: [Int]
    public let taskAware: Bool
    public var steadyResidentExperts: Int { budget.reduce(0, +) }
    public var observesTokens: Bool { predictor.observesTokens }
    public func observeToken(_ routing: UnsafePointer<Int32>, slots: Int) { predictor.observe(routing, slots: slots) }
    public var predictorParams: Double { EMoEConstants.predictorParams.value }
    public var usesExpertBudget: Bool { true }
    public var period: Int? { invocation.period }
    public var predictorActivity: PredictorActivity? {
        PredictorActivity(predictor: predictor.name, taskAware: taskAware, calls: calls, skippedInsensitive: skippedInsensitive, seconds: predictorSeconds, firedOn: Array(firedOn.prefix(8)),
                          callSeconds: callSeconds)
    }
    public private(set) var warmedUp = false
    public private(set) var rerouteRanking: FixedArray<Int32>?

    /// f per task label, `layer * experts + expert`.
    var frequency: [[Double]?] = []
    var latest: [Double]?
    /// Requests the predictor was scheduled to fire on (in admission order).
    public private(set) var firedOn: [Int] = []
    public private(set) var calls = 0
    public private(set) var skippedInsensitive = 0
    public private(set) var predictorSeconds = 0.0

    public init(variant: EMoEVariant, period: Int, predictor: ExpertPredictor, callSeconds: Double, budget: [Int], taskAware: Bool) throws {
        self.variant = variant
        invocation = try PeriodicInvocation(period: variant == .everyRequest ? 1 : period)
        self.predictor = predictor
        self.callSeconds = callSeconds
        self.budget = budget
        self.taskAware = taskAware
        name = variant.rawValue + (taskAware ? "" : " (task-agnostic)")
    }

    public func start(_ state: ServingState) {
        frequency = Array(repeating: nil, count: state.tasks.tasks.count)
        for key in 0..<(state.layers * state.experts) { state.residency.place(key) }
        let ranking = FixedArray<Int32>(repeating: 0, count: state.layers * state.experts)
        for key in 0..<(state.layers * state.experts) { ranking[key] = Int32(key % state.experts) }
        rerouteRanking = ranking
    }

    public func admitted(_ request: ServingRequest, state: ServingState) -> Double {
        var stall = 0.0
        if invocation.fires(requestIndex: request.index) {
            firedOn.append(request.index)
            let sensitive = !taskAware || state.sensitivity[request.label].contains(true)
            if request.index == 0 {
                // The first request loads all experts: nothing to predict from.
            } else if !sensitive {
                skippedInsensitive += 1
            } else {
                let input = PredictionInput(layers: state.layers, experts: state.experts, layerByLayer: variant == .layerByLayer,
                                            previous: state.previousRequestCounts(), target: { state.routing.selectionCounts(for: request) })
                if let f = predictor.predict(input) {
                    frequency[request.label] = f
                    latest = f
                    calls += 1
                    stall = callSeconds
                    predictorSeconds += callSeconds
                }
            }
        }
        reselect(state: state)
        return stall
    }

    /// Eq. 2 over the running requests grouped by label, or nil while no prediction exists.
    func expected(running: [ServingRequest], state: ServingState) -> [Double]? {
        guard latest != nil else { return nil }
        var loads: [Int: TaskAwareLoading.TaskLoad] = [:]
        for r in running {
            loads[r.label, default: TaskAwareLoading.TaskLoad(task: r.label, requests: 0, inputTokens: 0)].requests += 1
            loads[r.label]!.inputTokens += Double(r.promptTokens)
        }
        return TaskAwareLoading.expectedTokens(loads: loads.keys.sorted().map { loads[$0]! }, expectedOutputTokens: state.expectedOutputTokens,
                                               sensitivity: state.sensitivity, frequency: { self.frequency[$0] ?? self.latest },
                                               layers: state.layers, experts: state.experts)
    }

    func reselect(state: ServingState) {
        guard let n = expected(running: state.running, state: state) else { return }
        let residency = state.residency
        let ranking = TaskAwareLoading.ranking(expected: n, layers: state.layers, experts: state.experts, resident: residency.isResident)
        let keep = TaskAwareLoading.selection(ranking: ranking, budget: budget, experts: state.experts)
        for key in 0..<(state.layers * state.experts) where residency.isResident(key) && !keep.contains(key) { residency.evict(key) }
        // Layer by layer, best first: eMoE loads layer i+1 only after layer i (§2.4.6), which per-link FIFO gives.
        for (l, order) in ranking.enumerated() {
            for e in order.prefix(budget[l]) where !residency.isResident(l * state.experts + Int(e)) {
                residency.load(l * state.experts + Int(e), at: state.now, cost: state.cost, rebalance: true)
            }
        }
        for (l, order) in ranking.enumerated() {
            for (r, e) in order.enumerated() { rerouteRanking![l * state.experts + r] = e }
        }
        if residency.count <= steadyResidentExperts { warmedUp = true }
    }

    public func loadingSecondsIfAdmitted(label: Int, inputTokens: Int, state: ServingState) -> Double {
        var hypothetical = state.running
        hypothetical.append(ServingRequest(index: -1, id: "candidate", task: label, label: label, arrivalSeconds: state.now, promptTokens: inputTokens,
                                           outputTokens: 1, sloTTFTSeconds: 1, sloE2ESeconds: 1))
        guard let n = expected(running: hypothetical, state: state) else { return 0 }
        let residency = state.residency
        let ranking = TaskAwareLoading.ranking(expected: n, layers: state.layers, experts: state.experts, resident: residency.isResident)
        var loads = 0
        for (l, order) in ranking.enumerated() {
            for e in order.prefix(budget[l]) where !residency.isResident(l * state.experts + Int(e)) { loads += 1 }
        }
        // Loads spread over the devices' links (expert parallel) or share one wide link (tensor parallel).
        let perLink = state.cost.parallelism == .expert ? (loads + state.cost.gpus - 1) / state.cost.gpus : loads
        return Double(perLink) * state.cost.expertLoadSeconds
    }
}
