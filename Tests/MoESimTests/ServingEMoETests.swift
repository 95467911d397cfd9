import Testing
@testable import MoESim

/// eMoE's pieces worked by hand: Eq. 2 and the top-L selection, the periodic predictor, rerouting, the budget.
struct ServingEMoETests {
    /// One layer, four experts. Task 0: T = 2 requests of 100 and 50 input tokens, W_o = 30, sensitive,
    /// f = [0.5, 0.3, 0.2, 0]: N = (150 + 2 x 30) f = [105, 63, 42, 0]. Task 1 is insensitive: 0. Task 2: T = 1,
    /// W = 40, W_o = 10, f = [0, 0.1, 0.9, 0]: N = 50 f = [0, 5, 45, 0]. Sum: [105, 68, 87, 0].
    @Test func eq2ByHand() {
        #expect(TaskAwareLoading.expectedTokens(inputTokens: 150, runningRequests: 2, expectedOutputTokens: 30, sensitive: true, frequency: 0.5) == 105)
        #expect(TaskAwareLoading.expectedTokens(inputTokens: 150, runningRequests: 2, expectedOutputTokens: 30, sensitive: false, frequency: 0.5) == 0)
        let f: [[Double]] = [[0.5, 0.3, 0.2, 0], [0.25, 0.25, 0.25, 0.25], [0, 0.1, 0.9, 0]]
        let loads = [TaskAwareLoading.TaskLoad(task: 0, requests: 2, inputTokens: 150), TaskAwareLoading.TaskLoad(task: 1, requests: 3, inputTokens: 900),
                     TaskAwareLoading.TaskLoad(task: 2, requests: 1, inputTokens: 40)]
        let n = TaskAwareLoading.expectedTokens(loads: loads, expectedOutputTokens: [30, 100, 10], sensitivity: [[true], [false], [true]],
                                                frequency: { f[$0] }, layers: 1, experts: 4)
        #expect(zip(n, [105.0, 68, 87, 0]).allSatisfy { abs($0 - $1) < 1e-9 })
        // Top-2 keeps experts 0 and 2; the ranking is the reroute order.
        let ranking = TaskAwareLoading.ranking(expected: n, layers: 1, experts: 4, resident: { _ in false })
        #expect(ranking == [[0, 2, 1, 3]])
        #expect(TaskAwareLoading.selection(ranking: ranking, budget: [2], experts: 4) == [0, 2])
    }

    /// Ties keep resident experts first ("experts already loaded are kept"), then the lower id; a task without a
    /// prediction adds nothing.
    @Test func tiesPreferResidentExperts() {
        let n = TaskAwareLoading.expectedTokens(loads: [TaskAwareLoading.TaskLoad(task: 0, requests: 1, inputTokens: 10)], expectedOutputTokens: [0],
                                                sensitivity: [[true]], frequency: { _ in nil }, layers: 1, experts: 4)
        #expect(n == [0, 0, 0, 0])
        #expect(TaskAwareLoading.ranking(expected: n, layers: 1, experts: 4, resident: { $0 == 3 || $0 == 1 }) == [[1, 3, 0, 2]])
    }

    @Test func periodicPredictorFiresOnMultiplesOfP() throws {
        for p in [1, 3, 40] {
            let invocation = try PeriodicInvocation(period: p)
            let fired = (0..<200).filter { invocation.fires(requestIndex: $0) }
            #expect(fired == Array(stride(from: 0, to: 200, by: p)))
        }
        #expect(throws: MoESimError.self) { try PeriodicInvocation(period: 0) }
    }

    /// Ranking [3, 1, 0, 2], resident {1, 2}.
    @Test func reroutingPicksTheHighestRankedResidentExpert() {
        let ranking: [Int32] = [3, 1, 0, 2]
        let resident: (Int) -> Bool = { $0 == 1 || $0 == 2 }
        func reroute(_ token: [Int32], resident: @escaping (Int) -> Bool = resident) -> ([Int32], Int) {
            var slots = token
            let moved = slots.withUnsafeMutableBufferPointer { buf in
                ranking.withUnsafeBufferPointer { Rerouting.reroute(buf.baseAddress!, count: buf.count, resident: resident, ranking: $0.baseAddress!, experts: 4) }
            }
            return (slots, moved)
        }
        // 0 is absent: 3 ranks higher but is absent too, so 1.
        #expect(reroute([0, 2]) == ([1, 2], 1))
        // Both absent: slot 0 takes 1; slot 1 cannot take 1 again, so 2.
        #expect(reroute([3, 0]) == ([1, 2], 2))
        // A resident choice later in the token is not taken by an earlier reroute: 0 -> 1 would collide with nothing,
        // but 3 -> 1 must skip the 1 the token already uses.
        #expect(reroute([3, 1]) == ([2, 1], 1))
        #expect(reroute([2, 1]) == ([2, 1], 0))
        // Only one resident expert: the second slot is dropped (-1), and both count as rerouted.
        #expect(reroute([0, 1], resident: { $0 == 2 }) == ([2, -1], 2))
        // Empty slots stay empty and are not counted.
        #expect(reroute([-1, 0]) == ([-1, 1], 1))
    }

    @Test func budgetSpreadsTheFractionOverLayers() throws {
        // 0.6 x 32 x 8 = 153.6 -> 154 experts: 26 layers keep 5, 6 keep 4.
        let b = try ExpertBudget.perLayer(fraction: 0.6, layers: 32, experts: 8)
        #expect(b.reduce(0, +) == 154)
        #expect(b.filter { $0 == 5 }.count == 26 && b.filter { $0 == 4 }.count == 6)
        #expect(try ExpertBudget.perLayer(fraction: 1, layers: 2, experts: 4) == [4, 4])
        // At least one expert per layer.
        #expect(try ExpertBudget.perLayer(fraction: 0.01, layers: 2, experts: 4) == [1, 1])
        #expect(throws: MoESimError.self) { try ExpertBudget.perLayer(fraction: 0, layers: 2, experts: 4) }
        #expect(throws: MoESimError.self) { try ExpertBudget.perLayer(fraction: 1.5, layers: 2, experts: 4) }
    }

    /// Two layers, three experts. Previous request: layer 0 {0: 3, 1: 1}, layer 1 {2: 4}.
    @Test func predictorsByHand() throws {
        let previous: [Double] = [3, 1, 0, 0, 0, 4]
        let target: [Double] = [0, 0, 2, 1, 1, 0]
        let input = PredictionInput(layers: 2, experts: 3, layerByLayer: false, previous: previous, target: { target })
        #expect(OraclePredictor().predict(input)! == [0, 0, 1, 0.5, 0.5, 0])
        #expect(PreviousRequestPredictor().predict(input)! == [0.75, 0.25, 0, 0, 0, 1])
        #expect(PreviousRequestPredictor().predict(PredictionInput(layers: 2, experts: 3, layerByLayer: false, previous: nil, target: { target })) == nil)
        // Accuracy 1 is the oracle; accuracy 0 permutes every layer (same values, so each layer still sums to 1).
        #expect(NoisyOraclePredictor(accuracy: 1, seed: 3).predict(input)! == [0, 0, 1, 0.5, 0.5, 0])
        let noisy = NoisyOraclePredictor(accuracy: 0, seed: 3).predict(input)!
        #expect(noisy[0..<3].sorted() == [0, 0, 1] && noisy[3..<6].sorted() == [0, 0.5, 0.5])

        // Transitions seen: token (0 -> 2) twice and (1 -> 0) twice; slots = 1.
        let transition = TransitionFrequencyPredictor(layers: 2, experts: 3)
        for token: [Int32] in [[0, 2], [0, 2], [1, 0], [1, 0]] { token.withUnsafeBufferPointer { transition.observe($0.baseAddress!, slots: 1) } }
        // eMoE-A: layer 0 = previous [0.75, 0.25, 0]; layer 1 = 0.75 -> 2, 0.25 -> 0.
        #expect(transition.predict(input)! == [0.75, 0.25, 0, 0.25, 0, 0.75])
        // eMoE-L: layer 1 from the request's own layer 0 (expert 2, never seen as a predecessor: keeps its id).
        let layerwise = PredictionInput(layers: 2, experts: 3, layerByLayer: true, previous: previous, target: { target })
        #expect(transition.predict(layerwise)! == [0.75, 0.25, 0, 0, 0, 1])
    }

    @Test func predictorSpecErrors() throws {
        #expect(try ExpertPredictorSpec.make("noisy-oracle:accuracy=0.5", layers: 2, experts: 4, seed: 1).name == "noisy-oracle:accuracy=0.5")
        #expect(throws: MoESimError.self) { try ExpertPredictorSpec.make("noisy-oracle:accuracy=2", layers: 2, experts: 4, seed: 1) }
        #expect(throws: MoESimError.self) { try ExpertPredictorSpec.make("orcale", layers: 2, experts: 4, seed: 1) }
        #expect(throws: MoESimError.self) { try ExpertPredictorSpec.make("oracle:x=1", layers: 2, experts: 4, seed: 1) }
    }
}
