import Foundation
import Testing
@testable import MoESim

struct TraceStatisticsTests {
    @Test func handWorkedToyStatistics() throws {
        // Layer 0: [0,1], [1,2], [0,2]; layer 1: [3,2] three times. Weights 0.75 / 0.25 everywhere.
        let path = Fixtures.write(Fixtures.trace([[[0, 1], [3, 2]], [[1, 2], [3, 2]], [[0, 2], [3, 2]]]), name: "s.moetrace.jsonl")
        let files = Fixtures.toyFiles()
        let r = Fixtures.sim(["trace", "stats", path, "--model", files.model, "--json"])
        #expect(r.code == 0, "\(r.err)")
        let stats = try JSONDecoder().decode(TraceStatistics.self, from: Data(r.out.utf8))
        #expect(stats.tokens == 3 && stats.decodeTokens == 3 && stats.requests == 1)
        // Reuse at layer 0: token 1 keeps 1 of 2, token 2 keeps 1 of 2; layer 1 keeps both each time.
        #expect(stats.perLayer[0].reuse == 0.5)
        #expect(stats.perLayer[1].reuse == 1.0)
        #expect(stats.reuse == 6.0 / 8.0)
        // Counts at layer 0: [2, 2, 2, 0]: hottest 2/6; Gini of sorted [0, 2, 2, 2] = 6 / (4 * 6).
        #expect(abs(stats.perLayer[0].hottestShare! - 2.0 / 6.0) < 1e-12)
        #expect(abs(stats.perLayer[0].gini! - 0.25) < 1e-12)
        #expect(stats.meanTopWeight == 0.75)
        // Layer 0 top-1 -> layer 1: from 0 twice and from 1 once, always to {3, 2}: predicted exactly.
        #expect(stats.perLayer[0].transitionAccuracy == 1.0)
        #expect(stats.perLayer[1].transitionAccuracy == nil)
        // The toy model has no AdapMoE sensitivities.
        #expect(stats.singleExpertRatio == nil)
    }

    @Test func adapmoeRuleFollowsTheSensitivityAndThreshold() throws {
        // Mixtral-8x7B: H_31 = 0.0229 <= 4T at T = 0.007, so layer 31 drops its second expert for any w2 <= 0.5
        // (papers.md §1.3.A); layer 0 (H_0 = 46.7) keeps both unless w2 < sqrt(T / H_0) = 0.0122.
        let model = try ModelCatalog.resolve("mixtral-8x7b")
        let header = TraceHeader(model: "mixtral-8x7b", layers: 32, experts: 8, topK: 2, weights: .topk)
        let collector = TraceStatisticsCollector(header: header, sensitivity: model.gateSensitivity!.values, threshold: 0.007)
        var token = TokenRecord(layers: 32, slotsPerLayer: 2, weightsPerLayer: 2, aheadSlotsPerLayer: 8)
        for l in 0..<32 {
            token.counts[l] = 2
            token.experts[l * 2] = 0
            token.experts[l * 2 + 1] = 1
            token.weights[l * 2] = 0.6
            token.weights[l * 2 + 1] = 0.4
        }
        collector.add(token, weightsAreFull: false)
        let stats = collector.finish(file: "x", header: header, requests: 1, nullCells: 0, sensitivitySource: nil)
        #expect(stats.perLayer[31].singleExpertRatio == 1.0)
        #expect(stats.perLayer[0].singleExpertRatio == 0.0)
        let threshold = (0.007 / model.gateSensitivity!.values[20]).squareRoot()
        #expect(stats.perLayer[20].singleExpertRatio == (0.4 < threshold ? 1.0 : 0.0))
    }

    @Test(.enabled(if: Fixtures.sharedTracesAvailable, "needs ../shared/traces"))
    func realDecodeTraceLooksLikeItsMeasuredStatistics() throws {
        let r = Fixtures.sim(["trace", "stats", Fixtures.sharedTrace("humaneval-decode.moetrace.jsonl"), "--json"])
        #expect(r.code == 0, "\(r.err)")
        let stats = try JSONDecoder().decode(TraceStatistics.self, from: Data(r.out.utf8))
        #expect(stats.decodeTokens == 338)
        // ../shared/traces/README.md: mean top-1 weight 0.69-0.74; reuse above random (0.25), about 0.37.
        #expect((0.69...0.74).contains(stats.meanTopWeight!))
        #expect(stats.reuse! > stats.reuseIfUniform && abs(stats.reuse! - 0.37) < 0.05)
        // The notes give 15-29 % for the hottest expert on their sample; on this file every layer is above uniform (12.5 %).
        #expect(stats.perLayer.allSatisfy { ($0.hottestShare ?? 0) > 0.125 && ($0.hottestShare ?? 1) <= 0.30 })
    }

    /// The notes' "about 0.37" is HumanEval/0's decode (0.362 here); HumanEval/1's 255 decode tokens reuse more
    /// (0.411), which lifts the whole file to 0.399. Both are reported; the per-request figure is the one to compare.
    @Test(.enabled(if: Fixtures.sharedTracesAvailable, "needs ../shared/traces"))
    func reuseOfEachRequestReconcilesTheNotesFigure() throws {
        func stats(_ request: String) throws -> TraceStatistics {
            let r = Fixtures.sim(["trace", "stats", Fixtures.sharedTrace("humaneval-decode.moetrace.jsonl"), "--request", request, "--json"])
            #expect(r.code == 0, "\(r.err)")
            return try JSONDecoder().decode(TraceStatistics.self, from: Data(r.out.utf8))
        }
        let first = try stats("humaneval/0"), second = try stats("humaneval/1")
        #expect(first.decodeTokens == 83 && second.decodeTokens == 255 && first.requests == 1)
        #expect(abs(first.reuse! - 0.37) < 0.01)
        #expect(second.reuse! > first.reuse! + 0.03)
        #expect(first.nullCells == 8)
        let missing = Fixtures.sim(["trace", "stats", Fixtures.sharedTrace("humaneval-decode.moetrace.jsonl"), "--request", "nope"])
        #expect(missing.code != 0 && missing.err.contains("no tokens of request 'nope'"))
    }
}
