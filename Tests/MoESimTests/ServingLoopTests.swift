import Foundation
import Testing
@testable import MoESim

/// Toy inputs for serving tests: the toy model, GPU and runtime of `Fixtures` (expert 2 ms to compute, 20 ms to
/// load; attention (2e6 + 4 x (kv read + new)) / 1e9 s per layer; LM head 2 us), two tasks, fixed routing.
enum ServingToy {
    /// Task A is sensitive at both layers; task B at none.
    static let tasks = """
    {"schema":"moe-sim/serving-tasks/1","name":"toy-tasks","title":"toy","tasks":[
     {"name":"A","title":"a","share":{"value":1,"source":"test"},"promptTokens":{"value":[2,2],"source":"test"},"outputTokens":{"value":[2,2],"source":"test"},
      "sloTTFTSeconds":{"value":1,"source":"test"},"sloE2ESeconds":{"value":10,"source":"test"},"insensitiveLayerFraction":{"value":0,"source":"test"}},
     {"name":"B","title":"b","share":{"value":0,"source":"test"},"promptTokens":{"value":[4,4],"source":"test"},"outputTokens":{"value":[3,3],"source":"test"},
      "sloTTFTSeconds":{"value":1,"source":"test"},"sloE2ESeconds":{"value":10,"source":"test"},"insensitiveLayerFraction":{"value":1,"source":"test"}}]}
    """

    static func config(policy: String = "all-resident", scheduler: String = "fcfs", gpus: Int = 1) throws -> ServingConfig {
        let files = Fixtures.toyFiles()
        var c = ServingConfig(model: try ModelCatalog.load(path: files.model), hardware: try HardwareCatalog.load(path: files.hardware),
                              quantization: try QuantizationCatalog.resolve("fp16"), runtime: try RuntimeCatalog.load(path: files.runtime),
                              tasks: try ServingTaskCatalog.load(path: Fixtures.write(tasks, name: "toy-tasks.json")))
        c.policy = policy
        c.scheduler = scheduler
        c.gpus = gpus
        c.kvReserveOutputTokens = 0
        return c
    }

    static func request(_ i: Int, at arrival: Double, prompt: Int = 2, output: Int = 2, task: Int = 0) -> ServingRequest {
        ServingRequest(index: i, id: "r\(i)", task: task, label: task, arrivalSeconds: arrival, promptTokens: prompt, outputTokens: output,
                       sloTTFTSeconds: 1, sloE2ESeconds: 10)
    }
}

/// Every token of request i picks `routes[i]` (layer-major, 2 slots per layer).
final class FixedRouting: RequestRoutingModel {
    let layers = 2, experts = 4, slots = 2
    let routes: [[Int32]]
    init(_ routes: [[Int32]]) { self.routes = routes }
    func stream(for request: ServingRequest) -> RequestRoutingStream { Stream(routes[request.index % routes.count]) }
    func sourceDescription(task: Int) -> String { "fixed" }

    final class Stream: RequestRoutingStream {
        let route: [Int32]
        init(_ route: [Int32]) { self.route = route }
        func next(into buffer: UnsafeMutablePointer<Int32>) { route.withUnsafeBufferPointer { buffer.update(from: $0.baseAddress!, count: $0.count) } }
    }
}

/// The serving loop on toy inputs, timed by hand.
struct ServingLoopTests {
    static let routeA: [Int32] = [0, 1, 2, 3]

    /// One request, prompt 2, output 2, all experts resident, one GPU.
    /// Pass 1 (prefill, 2 tokens): per layer attention (2e6 + 4 x 2) / 1e9 = 2.000008 ms, then experts 0 and 1 (or 2
    /// and 3) at 2 ms each on the one device: 6.000008 ms; two layers plus the 2 us LM head: 12.002016 ms = TTFT.
    /// Pass 2 (decode, context 2): attention (2e6 + 4 x 3) / 1e9 = 2.000012 ms: 12.002024 ms more.
    @Test func iterationTimesByHand() throws {
        let loop = try ServingLoop(config: ServingToy.config(), requests: [ServingToy.request(0, at: 0)], routing: FixedRouting([ServingLoopTests.routeA]))
        let m = try loop.run()
        let ttft = 2 * (2.000008e-3 + 4e-3) + 2e-6
        let e2e = ttft + 2 * (2.000012e-3 + 4e-3) + 2e-6
        #expect(m.completed == 1 && m.iterations == 2)
        #expect(abs(m.ttft.mean! - ttft) < 1e-12)
        #expect(abs(m.endToEnd.mean! - e2e) < 1e-12)
        #expect(abs(m.tpot.mean! - (e2e - ttft)) < 1e-12)
        #expect(m.promptTokens == 2 && m.outputTokens == 2)
        // Peak memory is the prefill pass: 8 experts x 2e6 B, KV 2 tokens x 2 layers x 4 B, activations 2 tokens x
        // (4 x 1000 x 2 B hidden + 2 experts x 2 x 1000 x 2 B intermediate) + one fp32 logit (vocabulary 1).
        #expect(m.peakBreakdown.expertBytes == 8 * 2e6)
        #expect(m.peakBreakdown.kvCacheBytes == 2 * 2 * 4)
        #expect(m.peakBreakdown.activationBytes == 2 * 16_000 + 4)
    }

    /// Two GPUs, expert parallel: experts 0 and 1 sit on different devices, so each layer's experts take 2 ms, not
    /// 4; the all-to-all carries 2 tokens x 2 experts x 1000 x 2 B x 2 ways x 1/2 leaving / 2 devices over 1e8 B/s.
    @Test func expertParallelismSplitsALayer() throws {
        let loop = try ServingLoop(config: ServingToy.config(gpus: 2), requests: [ServingToy.request(0, at: 0, output: 1)],
                                   routing: FixedRouting([ServingLoopTests.routeA]))
        let m = try loop.run()
        // Tensor-parallel attention halves the weight and KV traffic.
        let attention = 2.000008e-3 / 2
        let allToAll = 2.0 * 4 * 1000 * 2 * 0.5 / 2 / 1e8
        #expect(abs(m.ttft.mean! - (2 * (attention + 2e-3 + allToAll) + 1e-6)) < 1e-12)
    }

    /// On-demand loading: each layer loads its 2 experts over the one link (20 ms each) after attention, computing
    /// the first while the second loads: attention + 20 + 20 + 2 ms per layer.
    @Test func onDemandLoadsEveryExpertItNeeds() throws {
        let loop = try ServingLoop(config: ServingToy.config(policy: "on-demand"), requests: [ServingToy.request(0, at: 0, output: 1)],
                                   routing: FixedRouting([ServingLoopTests.routeA]))
        let m = try loop.run()
        #expect(abs(m.ttft.mean! - (2 * (2.000008e-3 + 42e-3) + 2e-6)) < 1e-12)
        #expect(loop.state.residency.loads == 4)
        #expect(loop.state.residency.count == 0)
        #expect(m.transientPeakExperts == 2)
    }

    /// Pre-gated: layer 1's experts are fetched while layer 0 runs, queued behind layer 0's own loads on the one link.
    /// Layer 0: attention to 2.000008 ms, experts 0 and 1 arrive at 22.000008 and 42.000008 (computed to 44.000008);
    /// layer 1's 2 and 3 arrive at 62.000008 and 82.000008. Layer 1: attention to 46.000016, expert 2 runs 62-64,
    /// expert 3 82-84.000008 ms; plus the LM head. On demand, layer 1 would wait for both copies after its attention.
    @Test func preGatedFetchesTheNextLayerEarly() throws {
        let onDemand = try ServingLoop(config: ServingToy.config(policy: "on-demand"), requests: [ServingToy.request(0, at: 0, output: 1)],
                                       routing: FixedRouting([ServingLoopTests.routeA])).run()
        let loop = try ServingLoop(config: ServingToy.config(policy: "pre-gated"), requests: [ServingToy.request(0, at: 0, output: 1)],
                                   routing: FixedRouting([ServingLoopTests.routeA]))
        let m = try loop.run()
        #expect(abs(m.ttft.mean! - (84.000008e-3 + 2e-6)) < 1e-12)
        #expect(m.ttft.mean! < onDemand.ttft.mean!)
        #expect(loop.state.residency.loads == 4)
        // Layer 0's two loads and layer 1's two fetches are held at once.
        #expect(m.transientPeakExperts == 4)
    }

    /// eMoE-A, budget 2 of 4 experts per layer, previous-request predictor, p = 2, requests one after another.
    /// r0 and r1 pick [0,1] / [2,3]; r2 fires the predictor, which predicts r1's routing: keep {0,1} and {2,3}.
    /// r2 picks [1,3] / [0,1]: at layer 0, 3 goes to the best-ranked resident expert not used, 0; at layer 1 both
    /// go to 2 and 3. So 3 of r2's 4 choices per token are rerouted, and nothing is ever loaded.
    @Test func emoeReroutesAndNeverLoads() throws {
        var config = try ServingToy.config(policy: "emoe-a")
        config.expertsLoadedFraction = 0.5
        config.period = 2
        config.predictor = "previous-request"
        config.predictorCallSeconds = 0.25
        let requests = (0..<3).map { ServingToy.request($0, at: Double($0)) }
        let loop = try ServingLoop(config: config, requests: requests, routing: FixedRouting([[0, 1, 2, 3], [0, 1, 2, 3], [1, 3, 0, 1]]))
        let m = try loop.run()
        let emoe = try #require(loop.policy as? EMoELoader)
        #expect(emoe.firedOn == [0, 2])
        #expect(emoe.calls == 1 && emoe.predictorSeconds == 0.25 && m.stallSeconds == 0.25)
        #expect(loop.state.residency.loads == 0)
        #expect(loop.state.residency.residentExperts(layer: 0) == [0, 1] && loop.state.residency.residentExperts(layer: 1) == [2, 3])
        // r0, r1: 3 processed tokens each x 4 choices, none rerouted; r2: 3 tokens x 3 of 4 rerouted.
        #expect(m.perTask[0].selections == 36)
        #expect(m.perTask[0].rerouted == 9)
        #expect(m.perTask[0].reroutedSensitive == 9)
        #expect(emoe.warmedUp)
    }

    /// With eMoE-E every request fires; an insensitive task's call is skipped (no cost) unless loading is task-agnostic.
    @Test func insensitiveTasksSkipThePredictor() throws {
        for agnostic in [false, true] {
            var config = try ServingToy.config(policy: "emoe-e")
            config.predictor = "oracle"
            config.predictorCallSeconds = 0.1
            config.taskAware = !agnostic
            let requests = (0..<4).map { ServingToy.request($0, at: Double($0), task: $0 % 2) }
            let loop = try ServingLoop(config: config, requests: requests, routing: FixedRouting([[0, 1, 2, 3]]))
            _ = try loop.run()
            let emoe = try #require(loop.policy as? EMoELoader)
            #expect(emoe.firedOn == [0, 1, 2, 3])
            // Request 0 loads all experts; 1 and 3 are task B.
            #expect(emoe.calls == (agnostic ? 3 : 1))
            #expect(emoe.skippedInsensitive == (agnostic ? 0 : 2))
        }
    }

    /// MoE-Infinity: an LFU expert cache of 50 % (4 experts). r0 fills it on demand (4 loads, its prefill); r1, predicted
    /// from r0's stored activation matrix, finds its experts resident (no further load); r2 needs the other four and
    /// must evict to load them.
    @Test func moeInfinityCachesWithinItsCapacity() throws {
        var config = try ServingToy.config(policy: "moe-infinity")
        config.expertsLoadedFraction = 0.5
        let requests = (0..<3).map { ServingToy.request($0, at: Double($0)) }
        let loop = try ServingLoop(config: config, requests: requests, routing: FixedRouting([[0, 1, 2, 3], [0, 1, 2, 3], [2, 3, 0, 1]]))
        let m = try loop.run()
        #expect(m.completed == 3)
        #expect(loop.state.residency.count <= 4)
        // r0 and r1 cost 4 loads in all; r2 needs 4 experts that are not resident.
        #expect(loop.state.residency.loads >= 8)
        #expect(m.perTask[0].rerouted == 0)
    }

    /// Random selection keeps L random experts per layer, reroutes misses to random resident ones and loads nothing
    /// until it redraws (every p requests).
    @Test func randomSelectionReroutesWithoutLoading() throws {
        var config = try ServingToy.config(policy: "random")
        config.expertsLoadedFraction = 0.5
        config.period = 10
        let loop = try ServingLoop(config: config, requests: (0..<3).map { ServingToy.request($0, at: Double($0)) }, routing: FixedRouting([ServingLoopTests.routeA]))
        let m = try loop.run()
        #expect(loop.state.residency.loads == 0)
        #expect(loop.state.residency.perLayer == [2, 2])
        // Every choice lands on a resident expert: the rerouted ones are exactly the choices outside the drawn set.
        let drawn = (loop.policy as! RandomLoader).residentLists
        let outside = Set(drawn[0]).symmetricDifference([0, 1]).count / 2 + Set(drawn[1]).symmetricDifference([2, 3]).count / 2
        #expect(m.perTask[0].rerouted == 3 * 3 * outside)
    }

    /// Continuous batching: two requests arriving together share passes; the budget chunks a long prompt.
    @Test func batchingAndChunkedPrefill() throws {
        var config = try ServingToy.config()
        config.tokenBudget = 3
        let requests = [ServingToy.request(0, at: 0, prompt: 2, output: 3), ServingToy.request(1, at: 0, prompt: 5, output: 1)]
        let loop = try ServingLoop(config: config, requests: requests, routing: FixedRouting([ServingLoopTests.routeA]))
        let m = try loop.run()
        // FCFS admits r0 (nothing running); r1's 5 prompt tokens never fit the budget of 3 beside r0's token, so it starts
        // when r0 is done: passes r0 prefill, r0 decode x 2, then r1's prompt in chunks of 3 and 2.
        #expect(m.iterations == 5)
        #expect(m.maxBatchTokens == 3)
        #expect(m.completed == 2)
    }

    /// A request whose KV reservation can never fit is rejected, not left waiting forever.
    @Test func oversizedRequestIsRejected() throws {
        var config = try ServingToy.config()
        // Weights: 4e6 + 2000 + 8 x 2e6 = 20.002 MB; activations reserved for the 4096-token budget (16,000 B per token
        // plus a 4 B logit); then room for 100 KV tokens of 8 B. r0 reserves 10 tokens, r1 20,000.
        config.memoryCapBytes = 20.002e6 + 4096 * (16_000 + 4) + 8 * 100
        config.kvReserveOutputTokens = 0
        let requests = [ServingToy.request(0, at: 0, prompt: 10), ServingToy.request(1, at: 0, prompt: 20_000)]
        let m = try ServingLoop(config: config, requests: requests, routing: FixedRouting([ServingLoopTests.routeA])).run()
        #expect(m.completed == 1 && m.rejected == 1)
        // Why: r1's 20,000 KV tokens (160,000 B) against the 100 tokens' room (800 B) left beside the weights and activations.
        #expect(m.largestRejectedReservationBytes == 160_000)
        #expect(abs(m.memoryFreeAtRejectionBytes - 800) < 1e-3)
    }

    /// `sim serve --trace` takes the model from the trace header, as `sim run` does (issue 15).
    @Test func aReplayedTraceNamesItsModel() throws {
        let trace = Fixtures.repositoryRoot.appendingPathComponent("traces/qwen3-30b-a3b-synth.moetrace.jsonl").path
        let r = Fixtures.sim(["serve", "--trace", trace, "--trace-task", "COMP", "--requests", "2", "--gpus", "8", "--output-tokens", "2"])
        #expect(r.out.hasPrefix("moe-sim serve: qwen3-30b-a3b "), "\(r.err)")
        #expect(r.code == 0, "\(r.err)")
    }

    /// `sim serve --csv`: one header and one row, as `sim run --csv` (issue 15: one CLI grammar).
    @Test func csvIsOneHeaderAndOneRow() throws {
        let r = Fixtures.sim(["serve", "--requests", "3", "--prompt-tokens", "8", "--output-tokens", "3", "--csv"])
        #expect(r.code == 0, "\(r.err)")
        let lines = r.out.split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        let header = lines[0].split(separator: ",").map(String.init), row = lines[1].split(separator: ",", omittingEmptySubsequences: false)
        #expect(header.count == row.count)
        #expect(row[header.firstIndex(of: "completed")!] == "3")
        #expect(row[header.firstIndex(of: "policy")!] == "all-resident")
        #expect(Fixtures.sim(["serve", "--requests", "3", "--csv", "--json"]).code != 0)
    }

    /// A serving run in which no request completes prints its report, says why, and fails (issue 15).
    @Test func aRunThatCompletesNothingFailsWithTheReason() throws {
        let r = Fixtures.sim(["serve", "--requests", "2", "--prompt-tokens", "8", "--output-tokens", "2", "--kv-reserve-output", "10000000"])
        #expect(r.code != 0)
        #expect(r.out.contains("0 completed, 2 rejected"))
        #expect(r.out.contains("rejected      a request's KV cache"))
        #expect(r.err.contains("no request completed: 2 rejected, because a request's KV cache"))
    }

    @Test func badInputIsAClearError() throws {
        var config = try ServingToy.config()
        config.policy = "emoe-x"
        #expect(throws: MoESimError.self) { try ServingLoop(config: config, requests: [ServingToy.request(0, at: 0)], routing: FixedRouting([ServingLoopTests.routeA])) }
        config = try ServingToy.config()
        let unordered = [ServingToy.request(0, at: 1), ServingToy.request(1, at: 0)]
        #expect(throws: MoESimError.self) { try ServingLoop(config: config, requests: unordered, routing: FixedRouting([ServingLoopTests.routeA])) }
    }
}
