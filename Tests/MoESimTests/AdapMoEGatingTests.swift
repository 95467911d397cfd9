import Foundation
import Testing
@testable import MoESim

/// AdapMoE's adaptive gating and the score-based baseline (papers.md §1.3.A): the rule at its boundary, phases,
/// the released code's expert-0 bug, full-softmax traces, the per-layer metrics and quality proxy, the command line.
struct AdapMoEGatingTests {
    static let header = TraceHeader(model: "mixtral-8x7b", layers: 32, experts: 8, topK: 2, weights: .topk)

    /// One cell at layer 0 holding experts [5, 3] with (top-k) weights [0.75, 0.25]: w2 = 0.25 exactly.
    static func cell<R>(phase: Phase = .decode, experts: [Int32] = [5, 3], weights: [Float] = [0.75, 0.25], full: Bool = false,
                        _ body: (RoutingCell) -> R) -> R {
        var record = TokenRecord(layers: 1, slotsPerLayer: 2, weightsPerLayer: full ? 8 : 2, aheadSlotsPerLayer: 0)
        record.phase = phase
        record.counts = [Int8(experts.count)]
        for (i, e) in experts.enumerated() { record.experts[i] = e }
        for (i, w) in weights.enumerated() { record.weights[i] = w }
        return RoutingCell.with(record, layer: 0, weightsAreFull: full, body)!
    }

    static func run(_ gating: GatingPolicy, phase: Phase = .decode, full: Bool = false, weights: [Float] = [0.75, 0.25]) -> [Int32] {
        let selected = FixedArray<Int32>(repeating: -1, count: 8)
        let n = cell(phase: phase, weights: weights, full: full) { gating.select($0, into: selected) }
        return (0..<n).map { selected[$0] }
    }

    // MARK: The rule

    @Test func adapmoeDropsStrictlyBelowTheBoundary() {
        // H * w2^2 = 2 * 0.25^2 = 0.125: at T = 0.125 both experts run; just above it, only the top-1.
        #expect(Self.run(AdapMoEGating(sensitivity: [2], threshold: 0.125)) == [5, 3])
        #expect(Self.run(AdapMoEGating(sensitivity: [2], threshold: 0.125.nextUp)) == [5])
        #expect(Self.run(AdapMoEGating(sensitivity: [2], threshold: 0)) == [5, 3])
    }

    @Test func prefillIsUntouchedUnlessAsked() {
        let decodeOnly = AdapMoEGating(sensitivity: [2], threshold: 1)
        #expect(Self.run(decodeOnly, phase: .prefill) == [5, 3])
        #expect(Self.run(AdapMoEGating(sensitivity: [2], threshold: 1, gatesPrefill: true), phase: .prefill) == [5])
        #expect(Self.run(ScoreGating(threshold: 0.3), phase: .prefill) == [5, 3])
        #expect(Self.run(ScoreGating(threshold: 0.3, gatesPrefill: true), phase: .prefill) == [5])
    }

    @Test func expertZeroBugRunsExpertZeroOnlyWhenDropping() {
        let buggy = AdapMoEGating(sensitivity: [2], threshold: 1, runsExpertZeroBug: true)
        #expect(Self.run(buggy) == [0])
        #expect(Self.run(AdapMoEGating(sensitivity: [2], threshold: 0.1, runsExpertZeroBug: true)) == [5, 3])
    }

    @Test func scoreUsesOneCutOffOnTheSecondWeight() {
        #expect(Self.run(ScoreGating(threshold: 0.25)) == [5, 3])
        #expect(Self.run(ScoreGating(threshold: 0.25.nextUp)) == [5])
    }

    @Test func fullSoftmaxIsRenormalisedOverTheTopTwo() {
        // Softmax over 8 experts, indexed by id: 0.375 (expert 5) and 0.125 (expert 3), the rest 0.5: w2 = 0.125 / 0.5.
        var softmax = [Float](repeating: 0.5 / 6, count: 8)
        softmax[5] = 0.375
        softmax[3] = 0.125
        #expect(Self.cell(weights: softmax, full: true) { $0.normalisedSecondWeight } == 0.25)
        #expect(Self.run(AdapMoEGating(sensitivity: [2], threshold: 0.125), full: true, weights: softmax) == [5, 3])
        #expect(Self.run(AdapMoEGating(sensitivity: [2], threshold: 0.125.nextUp), full: true, weights: softmax) == [5])
    }

    @Test func otherCellsReplayUnchanged() {
        let gating = AdapMoEGating(sensitivity: [1000], threshold: 1000)
        let selected = FixedArray<Int32>(repeating: -1, count: 8)
        #expect(Self.cell(experts: [4], weights: [1]) { gating.select($0, into: selected) } == 1 && selected[0] == 4)
    }

    // MARK: Thresholds (papers.md §1.3.A, §1.6.1)

    @Test func shippedSensitivitiesArePapersSection16() throws {
        let small = try #require(try ModelCatalog.resolve("mixtral-8x7b").gateSensitivity?.values)
        let big = try #require(try ModelCatalog.resolve("mixtral-8x22b").gateSensitivity?.values)
        #expect(small.count == 32 && big.count == 56)
        #expect(small[0] == 46.69189453125 && small[30] == 0.020682811737060547 && small[31] == 0.02294778823852539)
        #expect(big[0] == 61.74471229314804 && big[55] == 0.08505595178576186)
        // H_l falls monotonically from layer 0 to 30 (papers.md §1.6.1).
        #expect(zip(small[0..<30], small[1...30]).allSatisfy { $0 > $1 })
    }

    @Test func perLayerThresholdsAndAlwaysSingleLayers() throws {
        let h = try #require(try ModelCatalog.resolve("mixtral-8x7b").gateSensitivity?.values)
        // thr_l = sqrt(T / H_l) at T = 0.005, to the 4 decimals papers.md §1.6.1 gives.
        let published = [0.0103, 0.0170, 0.0196, 0.0256, 0.0346, 0.0474, 0.0631, 0.0769, 0.0855, 0.0945, 0.0988, 0.1023, 0.1060, 0.1071, 0.1142, 0.1270, 0.1465, 0.1685, 0.1901, 0.2096, 0.2185, 0.2289, 0.2408, 0.2546, 0.2685, 0.2861, 0.3155, 0.3428, 0.3863, 0.4448, 0.4917, 0.4668]
        let thresholds = AdapMoEGating.secondWeightThresholds(sensitivity: h, threshold: AdapMoEGating.defaultThreshold)
        for l in 0..<32 { #expect(abs(thresholds[l] - published[l]) <= 0.00005 + 1e-12, "layer \(l)") }
        // papers.md §1.3.A: layers that are always single-expert at each threshold.
        #expect(AdapMoEGating.alwaysSingleExpertLayers(sensitivity: h, threshold: 0.007) == [29, 30, 31])
        #expect(AdapMoEGating.alwaysSingleExpertLayers(sensitivity: h, threshold: 0.01) == [28, 29, 30, 31])
        #expect(AdapMoEGating.alwaysSingleExpertLayers(sensitivity: h, threshold: 0.013) == [26, 27, 28, 29, 30, 31])
        #expect(AdapMoEGating.alwaysSingleExpertLayers(sensitivity: h, threshold: AdapMoEGating.defaultThreshold) == [])
        // Those layers drop even the most balanced cell (w2 = 1/2); the next earlier layer keeps it.
        for (t, first) in [(0.007, 29), (0.01, 28), (0.013, 26)] {
            #expect(AdapMoEGating.dropsSecond(sensitivity: h[first], secondWeight: 0.5, threshold: t))
            #expect(!AdapMoEGating.dropsSecond(sensitivity: h[first - 1], secondWeight: 0.5, threshold: t))
        }
    }

    // MARK: Specs

    @Test func specsBuildConfiguredPolicies() throws {
        let model = try ModelCatalog.resolve("mixtral-8x7b")
        let a = try #require(try gatingPolicies.make("AdapMoE:T=0.007,prefill,expert0-bug", model: model, header: Self.header) as? AdapMoEGating)
        #expect(a.threshold == 0.007 && a.gatesPrefill && a.runsExpertZeroBug && a.sensitivity == model.gateSensitivity?.values)
        let d = try #require(try gatingPolicies.make("adapmoe", model: model, header: Self.header) as? AdapMoEGating)
        #expect(d.threshold == 0.005 && !d.gatesPrefill && !d.runsExpertZeroBug && d.dropsExperts)
        let s = try #require(try gatingPolicies.make("score:t=0.2", model: nil, header: Self.header) as? ScoreGating)
        #expect(s.threshold == 0.2 && !s.gatesPrefill)
        #expect(try !gatingPolicies.make("topk", model: nil, header: Self.header).dropsExperts)
    }

    @Test func badSpecsAreClearErrors() throws {
        let model = try ModelCatalog.resolve("mixtral-8x7b")
        func message(_ spec: String, model: ModelSpec? = nil, header: TraceHeader = Self.header) -> String {
            do { _ = try gatingPolicies.make(spec, model: model, header: header); return "" } catch { return "\(error)" }
        }
        #expect(message("adapmoe:T=abc", model: model).contains("T=NUMBER"))
        #expect(message("adapmoe:T=-1", model: model).contains(">= 0"))
        #expect(message("adapmoe:colour=red", model: model).contains("unknown option 'colour'"))
        #expect(message("adapmoe:prefill=yes", model: model).contains("flag"))
        #expect(message("adapmoe:T=0.1,t=0.2", model: model).contains("twice"))
        #expect(message("score").contains("score:T="))
        #expect(message("topk:T=1").contains("takes no options"))
        #expect(message("greedy").contains("unknown gating policy") && message("greedy").contains("adapmoe"))
        // A model without sensitivities: the error names it and the fix.
        let qwen = try ModelCatalog.resolve("qwen1.5-moe-a2.7b")
        let noH = message("adapmoe", model: qwen, header: TraceHeader(model: qwen.name, layers: qwen.moeLayers, experts: qwen.experts, topK: 2, weights: .topk))
        #expect(noH.contains("'\(qwen.name)'") && noH.contains("gateSensitivity") && noH.contains("--model FILE"))
        #expect(message("adapmoe").contains("pass --model"))
        #expect(message("adapmoe", model: model, header: TraceHeader(model: "mixtral-8x7b", layers: 32, experts: 8, topK: 2, weights: .none)).contains("weights"))
        #expect(message("score:T=0.1", header: TraceHeader(model: "x", layers: 2, experts: 8, topK: 4, weights: .topk)).contains("top_k = 4"))
    }

    // MARK: Metrics

    /// Toy model (2 layers, 4 experts) with H = [2, 0.5].
    static let toyModel = Fixtures.model.replacingOccurrences(of: #""defaultQuantization":"fp16""#,
                                                               with: #""defaultQuantization":"fp16","gateSensitivity":{"values":[2,0.5],"source":"test"}"#)

    static func toyRun(_ trace: String, gating: String, extra: [String] = []) -> (code: Int32, out: String, err: String) {
        let files = Fixtures.toyFiles()
        return Fixtures.sim(["--trace", Fixtures.write(trace, name: "toy.moetrace.jsonl"), "--hardware", files.hardware,
                             "--model", Fixtures.write(toyModel, name: "toy-model.json"), "--runtime", files.runtime,
                             "--cache", "lru-per-layer:2", "--gating", gating] + extra)
    }

    static let threeTokens: [[[Int]]] = [[[0, 1], [2, 3]], [[1, 2], [0, 3]], [[0, 3], [1, 2]]]

    @Test func singleExpertRatioAndProxyByHand() throws {
        // Every cell has w2 = 0.25. At T = 0.1 layer 0 keeps both (2 * 0.0625 = 0.125) and layer 1 drops the 2nd
        // (0.5 * 0.0625 = 0.03125): 3 dropped cells, proxy 3 * 0.03125 / 2.
        let r = Self.toyRun(Fixtures.trace(Self.threeTokens), gating: "adapmoe:T=0.1", extra: ["--json"])
        #expect(r.code == 0, "\(r.err)")
        let report = try JSONDecoder().decode(Report.self, from: Data(r.out.utf8))
        let g = try #require(report.gating)
        #expect(g.policy == "adapmoe:T=0.1" && g.cells == 6 && g.singleExpertCells == 3)
        #expect(g.singleExpertRatio == 0.5 && g.decodeSingleExpertRatio == 0.5)
        #expect(g.perLayerSingleExpertRatio == [0, 1])
        #expect(g.activatedExpertReduction == 0.25)
        #expect(g.estimatedLossIncreaseProxy == 0.046875 && g.perLayerEstimatedLossIncreaseProxy == [0, 0.046875])
        #expect(g.proxyDefinition?.contains("proxy") == true)
        #expect(report.routing.activatedExpertsPerTokenLayer == 1.5 && report.routing.recordedExpertsPerTokenLayer == 2)
        // Text and CSV say "proxy" where they print it.
        let text = Self.toyRun(Fixtures.trace(Self.threeTokens), gating: "adapmoe:T=0.1")
        #expect(text.out.contains("single-expert ratio 50.0 %") && text.out.contains("loss-increase PROXY 0.04688"))
        #expect(text.out.contains("Single-expert ratio by layer  0:0.00 1:1.00") && text.out.contains("Loss-increase PROXY by layer"))
        let csv = Self.toyRun(Fixtures.trace(Self.threeTokens), gating: "adapmoe:T=0.1", extra: ["--csv"])
        let lines = csv.out.split(separator: "\n")
        let columns = Dictionary(uniqueKeysWithValues: zip(lines[0].split(separator: ",", omittingEmptySubsequences: false),
                                                           lines[1].split(separator: ",", omittingEmptySubsequences: false)))
        #expect(columns["single_expert_ratio"] == "0.5" && columns["loss_increase_proxy"] == "0.046875")
        // Exact replay has no gating section and empty gating columns.
        let plain = Self.toyRun(Fixtures.trace(Self.threeTokens), gating: "topk", extra: ["--json"])
        #expect(try JSONDecoder().decode(Report.self, from: Data(plain.out.utf8)).gating == nil)
        #expect(!Self.toyRun(Fixtures.trace(Self.threeTokens), gating: "topk").out.contains("Single-expert"))
    }

    @Test func prefillPassesCountOnlyWithThePrefillOption() throws {
        let trace = Fixtures.trace(Self.threeTokens, phase: "prefill")
        for (spec, dropped) in [("adapmoe:T=1", 0), ("adapmoe:T=1,prefill", 6)] {
            let r = Self.toyRun(trace, gating: spec, extra: ["--json"])
            #expect(r.code == 0, "\(r.err)")
            let g = try #require(try JSONDecoder().decode(Report.self, from: Data(r.out.utf8)).gating)
            #expect(g.singleExpertCells == dropped && g.cells == 6 && g.decodeSingleExpertRatio == nil, "\(spec)")
        }
    }

    @Test func fullSoftmaxTraceEndToEnd() throws {
        // weights "full": the whole softmax per layer, indexed by expert id; w2 renormalised over the top-2 = 0.25.
        let lines = [#"{"moe_trace":1,"model":"toy","layers":2,"experts":4,"top_k":2,"weights":"full"}"#, #"{"request":"r0"}"#,
                     #"{"request":"r0","phase":"decode","pos":0,"experts":[[0,1],[2,3]],"weights":[[0.375,0.125,0.25,0.25],[0.25,0.25,0.375,0.125]]}"#]
        let r = Self.toyRun(lines.joined(separator: "\n") + "\n", gating: "adapmoe:T=0.1", extra: ["--json"])
        #expect(r.code == 0, "\(r.err)")
        let g = try #require(try JSONDecoder().decode(Report.self, from: Data(r.out.utf8)).gating)
        #expect(g.perLayerSingleExpertRatio == [0, 1] && g.estimatedLossIncreaseProxy == 0.015625)
    }

    @Test func scoreAndBuggyRunsReportToo() throws {
        let score = Self.toyRun(Fixtures.trace(Self.threeTokens), gating: "score:T=0.3", extra: ["--json"])
        let g = try #require(try JSONDecoder().decode(Report.self, from: Data(score.out.utf8)).gating)
        // Every cell drops; the proxy still uses the model's H: 3 * (2 + 0.5) * 0.0625 / 2.
        #expect(g.singleExpertRatio == 1 && g.estimatedLossIncreaseProxy == 0.234375)
        let buggy = Self.toyRun(Fixtures.trace(Self.threeTokens), gating: "adapmoe:T=0.1,expert0-bug", extra: ["--json"])
        #expect(try JSONDecoder().decode(Report.self, from: Data(buggy.out.utf8)).gating?.singleExpertCells == 3)
    }

    @Test func baselineTakesAGatingSpec() {
        let r = Self.toyRun(Fixtures.trace(Self.threeTokens), gating: "adapmoe:T=0.1", extra: ["--baseline", "gating=topk"])
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out.contains("Speedup"))
        let bad = Self.toyRun(Fixtures.trace(Self.threeTokens), gating: "topk", extra: ["--baseline", "gating=adapmoe:T=x"])
        #expect(bad.code == 1 && bad.err.contains("--baseline") && bad.err.contains("T=NUMBER"))
    }

    // MARK: Command line

    @Test func runOnTheSyntheticTracePrintsTheSingleExpertRatio() {
        let trace = Fixtures.repositoryRoot.appendingPathComponent("traces/mixtral-8x7b-synth.moetrace.jsonl").path
        let r = Fixtures.sim(["run", "--trace", trace, "--hardware", "4090", "--quant", "hqq2", "--gating", "adapmoe",
                              "--cache", "lru-per-layer:4"])
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out.contains("Gating     adapmoe: single-expert ratio"))
        #expect(r.out.contains("Single-expert ratio by layer") && r.out.contains("PROXY"))
        let help = Fixtures.sim(["run", "--help"])
        #expect(help.out.contains("adapmoe") && help.out.contains("expert0-bug") && help.out.contains("score") && help.out.contains("adapmoe-dp"))
    }

    @Test func modelWithoutSensitivitiesIsAClearError() {
        let files = Fixtures.toyFiles()
        let r = Fixtures.sim(["--trace", Fixtures.write(Fixtures.trace(Self.threeTokens), name: "toy.moetrace.jsonl"), "--hardware", files.hardware,
                              "--model", files.model, "--runtime", files.runtime, "--gating", "adapmoe"])
        #expect(r.code == 1)
        #expect(r.err.contains("--gating") && r.err.contains("'toy'") && r.err.contains("gateSensitivity"))
    }

    @Test(.enabled(if: Fixtures.sharedTracesAvailable, "needs ../shared/traces"))
    func realDecodeTraceSingleExpertRatioIsPlausible() throws {
        // papers.md §1.1: AdapMoE's published profile averages 0.248 single-expert at T = 0.005, MMLU 0.258.
        let path = Fixtures.sharedTrace("humaneval-decode.moetrace.jsonl")
        let model = try ModelCatalog.resolve("mixtral-8x7b")
        let replay = CacheOnlyReplay(source: try TracePassSource(path: path), gating: "adapmoe", model: model)
        _ = try replay.run([.init(policy: "lru", layout: .perLayer, capacities: Array(repeating: 4, count: 32))])
        let g = try #require(replay.gatingReport)
        let ratio = try #require(g.singleExpertRatio)
        #expect(ratio > 0.15 && ratio < 0.45, "single-expert ratio \(ratio)")
        // A decode-only trace: every dropped cell saves one of two experts.
        #expect(abs((g.activatedExpertReduction ?? 0) - ratio / 2) < 1e-12)
        // Layers that are nearly always single-expert at T = 0.005 in AdapMoE's profile (29-31) are mostly so here.
        #expect(g.perLayerSingleExpertRatio[29...31].allSatisfy { ($0 ?? 0) > 0.5 })
        #expect((g.estimatedLossIncreaseProxy ?? 0) > 0)
    }
}
