/// The random-selection baseline (eMoE's "Random", after Zuo et al.'s stochastic experts; papers.md §2.5): each
/// layer keeps L experts drawn at random, redrawn every p requests, and a token whose choice is absent goes to a
/// random resident expert. No predictor, no predictor cost; what it loses shows in the rerouted fraction.
public final class RandomLoader: ExpertLoadingPolicy {
    public let name = "random"
    public let missHandling = MissHandling.rerouteRandom
    public let budget: [Int]
    public let invocation: PeriodicInvocation
    var rng: SeededGenerator
    /// Resident experts per layer, for the random reroute.
    public private(set) var residentLists: [[Int32]] = []
    public var steadyResidentExperts: Int { budget.reduce(0, +) }
    public var rerouteCandidates: [[Int32]]? { residentLists }
    public var usesExpertBudget: Bool { true }
    public var period: Int? { invocation.period }

    public init(budget: [Int], period: Int, seed: UInt64) throws {
        self.budget = budget
        invocation = try PeriodicInvocation(period: period)
        rng = SeededGenerator(seed: seed ^ 0x5241_4E44)
    }

    public func start(_ state: ServingState) { redraw(state: state, initial: true) }

    public func admitted(_ request: ServingRequest, state: ServingState) -> Double {
        if request.index > 0 && invocation.fires(requestIndex: request.index) { redraw(state: state, initial: false) }
        return 0
    }

    func redraw(state: ServingState, initial: Bool) {
        let e = state.experts
        residentLists = []
        for l in 0..<state.layers {
            var ids = Array(0..<e)
            for i in stride(from: e - 1, to: 0, by: -1) { ids.swapAt(i, rng.nextInt(below: i + 1)) }
            let keep = Set(ids.prefix(budget[l]))
            for x in 0..<e where state.residency.isResident(l * e + x) && !keep.contains(x) { state.residency.evict(l * e + x) }
            for x in keep.sorted() where !state.residency.isResident(l * e + x) {
                if initial { state.residency.place(l * e + x, rebalance: true) } else { state.residency.load(l * e + x, at: state.now, cost: state.cost, rebalance: true) }
            }
            residentLists.append(keep.sorted().map(Int32.init))
        }
    }
}
