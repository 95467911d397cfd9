import Foundation
import Testing
@testable import MoESim

/// AdapMoE's DP per-layer cache allocation (papers.md §1.3.C): the published table exactly, the objective by hand,
/// the `--cache adapmoe-dp...` specs, the measured variant and `sim cache allocate`.
struct AdapMoEAllocationTests {
    /// papers.md §1.3.C, "Computed allocations" (the released `dp.py` run unmodified), without `--adapgate`.
    static let withoutGating: [(total: Int, capacities: [Int])] = [
        (32, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
        (48, [8, 2, 2, 2, 1, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2]),
        (64, [8, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 2, 1, 1, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 2, 2, 2, 2]),
        (80, [8, 4, 3, 3, 2, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 3]),
        (96, [8, 4, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 3, 2, 2, 3, 3, 3, 3, 3, 3, 3, 3, 2, 2, 3, 3, 3, 3]),
        (112, [8, 5, 4, 4, 4, 4, 4, 4, 4, 4, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 4]),
        (128, [8, 5, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3, 4, 3, 3, 4, 4, 4, 4, 4, 4, 4, 4, 3, 3, 4, 4, 4, 4]),
        (160, [8, 7, 6, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 4, 4, 5, 4, 4, 5, 5, 5, 5, 5, 5, 5, 5, 4, 4, 5, 5, 5, 5]),
        (192, [8, 8, 7, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 5, 6, 5, 5, 6, 6, 6, 6, 6, 6, 6, 6, 5, 5, 6, 6, 6, 6]),
        (224, [8, 8, 8, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 7, 7, 6, 7, 7, 7, 7, 7, 7, 7, 7, 6, 7, 7, 7, 7, 7]),
        (256, [8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8]),
    ]
    /// The same table with `--adapgate` (r_l = `top1_ratios`).
    static let withGating: [(total: Int, capacities: [Int])] = [
        (32, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
        (48, [8, 2, 2, 2, 2, 2, 2, 1, 1, 1, 2, 2, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
        (64, [8, 4, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
        (80, [8, 5, 4, 4, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
        (96, [8, 6, 5, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3, 3, 3, 2, 2, 1, 1, 2, 1, 1, 1, 1, 1, 1, 1, 1]),
        (112, [8, 7, 5, 5, 5, 5, 5, 5, 5, 5, 4, 4, 4, 4, 4, 4, 4, 4, 4, 3, 3, 2, 2, 3, 1, 1, 1, 1, 1, 1, 1, 1]),
        (128, [8, 7, 6, 6, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 4, 4, 4, 3, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1]),
        (160, [8, 8, 7, 7, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 5, 5, 5, 5, 5, 5, 5, 4, 4, 3, 2, 1, 1, 1, 1]),
        (192, [8, 8, 8, 8, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 7, 7, 6, 6, 6, 6, 6, 6, 6, 6, 6, 5, 5, 3, 1, 1, 1]),
        (224, [8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 7, 7, 7, 7, 7, 8, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 6, 4, 1, 6]),
        (256, [8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8, 8]),
    ]

    static func mixtral() throws -> ModelSpec { try ModelCatalog.resolve("mixtral-8x7b") }

    static func dp(_ total: Int, gating: Bool) throws -> [Int] {
        let profile = try #require(try mixtral().adapmoeProfile)
        return AdapMoEAllocation.capacities(total: total, experts: 8, prefetchAccuracy: profile.prefetchAccuracy,
                                            singleExpertRatio: gating ? profile.singleExpertRatio : Array(repeating: 0, count: 32))
    }

    @Test func publishedTableIsReproducedExactlyForEverySizeAndBothModes() throws {
        #expect(Self.withoutGating.count == 11 && Self.withGating.count == 11)
        for (rows, gating) in [(Self.withoutGating, false), (Self.withGating, true)] {
            for row in rows {
                #expect(try Self.dp(row.total, gating: gating) == row.capacities, "total \(row.total), gating \(gating)")
            }
        }
    }

    @Test func layerZeroTakesEverySlotAbove32FirstAsPapersSays() throws {
        // papers.md §1.3.C quirks: s_0 = T - 31 for 33 <= T <= 39, 8 from 39 on (checked for T = 33...47).
        for total in 33...47 {
            for gating in [false, true] {
                let sizes = try Self.dp(total, gating: gating)
                #expect(sizes[0] == min(total - 31, 8), "total \(total)")
                #expect(sizes.reduce(0, +) == total)
                #expect(sizes.allSatisfy { $0 >= 1 && $0 <= 8 })
            }
        }
    }

    @Test func publishedProfileIsPapersSection161() throws {
        let profile = try #require(try Self.mixtral().adapmoeProfile)
        #expect(profile.prefetchAccuracy.count == 32 && profile.singleExpertRatio.count == 32)
        #expect(profile.prefetchAccuracy[0] == 0 && profile.prefetchAccuracy[1] == 0.5663265306122449 && profile.prefetchAccuracy[31] == 0.8503401360544217)
        #expect(profile.singleExpertRatio[0] == 1.901311971939101e-05 && profile.singleExpertRatio[31] == 0.8577125736121682)
        // Every a_l x 588 is an integer (294 decode tokens x 2 experts, papers.md §1.6.1).
        #expect(profile.prefetchAccuracy.allSatisfy { abs(($0 * 588).rounded() - $0 * 588) < 1e-9 })
        #expect(abs(profile.singleExpertRatio.reduce(0, +) / 32 - 0.24843) < 1e-5)
        #expect(profile.source.contains("dp.py") && (profile.note ?? "").contains("UNCONFIRMED"))
        #expect(try ModelCatalog.resolve("mixtral-8x22b").adapmoeProfile == nil)
    }

    @Test func objectiveByHand() {
        func f(_ s: Int, a: Double, r: Double) -> Double {
            AdapMoEAllocation.expectedLoads(cached: s, experts: 8, prefetchAccuracy: a, singleExpertRatio: r)
        }
        // Nothing cached, no prefetch, two experts: two loads. All cached: none; more than 8 costs as 8.
        #expect(f(0, a: 0, r: 0) == 2)
        #expect(f(8, a: 0.5, r: 0.5) == 0 && f(9, a: 0.5, r: 0.5) == 0)
        // One expert, half the layer cached, no prefetch: half a load.
        #expect(f(4, a: 0, r: 1) == 0.5)
        // Two needed, 4 of 8 cached: both uncached with 12/56, one uncached with 32/56; a perfect prefetch leaves 12/56.
        #expect(abs(f(4, a: 0, r: 0) - (2 * 12.0 / 56 + 32.0 / 56)) < 1e-15)
        #expect(abs(f(4, a: 1, r: 0) - 12.0 / 56) < 1e-15)
    }

    @Test func cacheSpecsResolveToTheDPCapacities() throws {
        let model = try Self.mixtral()
        let context = CacheAllocationContext(model: model, topK: 2, source: nil)
        let row = try #require(Self.withGating.first { $0.total == 64 })
        let plain = try #require(Self.withoutGating.first { $0.total == 64 })
        for (text, expected) in [("adapmoe-dp:total=64", row.capacities), ("adapmoe-dp:64", row.capacities),
                                 ("adapmoe-dp-nogating:total=64", plain.capacities)] {
            let spec = try CacheSpec.parse(text)
            #expect(spec.policy == "lru" && spec.layout == .perLayer)
            #expect(try spec.resolve(layers: 32, experts: 8, expertBytes: 1, freeBytes: 0, allocation: context) == expected, "\(text)")
        }
        // bytes= and fit size the total first, then the DP divides it.
        #expect(try CacheSpec.parse("adapmoe-dp:bytes=64").resolve(layers: 32, experts: 8, expertBytes: 1, freeBytes: 0, allocation: context) == row.capacities)
        #expect(try CacheSpec.parse("adapmoe-dp:fit").resolve(layers: 32, experts: 8, expertBytes: 2, freeBytes: 128, allocation: context) == row.capacities)
    }

    @Test func badAllocationSpecsAreClearErrors() throws {
        func parseError(_ text: String) -> String {
            do { _ = try CacheSpec.parse(text); return "" } catch { return "\(error)" }
        }
        #expect(parseError("adapmoe-dp-measured:total=64").contains("prefix=K"))
        #expect(parseError("adapmoe-dp:total=64,prefix=10").contains("prefix="))
        #expect(parseError("adapmoe-dp:total=64,total=32").contains("more than one capacity"))
        #expect(parseError("adapmoe-dp:lots").contains("cannot read"))
        #expect(parseError("adapmoe-dp-measured:total=64,prefix=0").contains("K >= 1"))
        // A model without a published profile, and a spec resolved without a model.
        let big = try ModelCatalog.resolve("mixtral-8x22b")
        let spec = try CacheSpec.parse("adapmoe-dp:total=64")
        #expect(throws: MoESimError.self) { try spec.resolve(layers: 56, experts: 8, expertBytes: 1, freeBytes: 0) }
        do {
            _ = try spec.resolve(layers: 56, experts: 8, expertBytes: 1, freeBytes: 0, allocation: CacheAllocationContext(model: big, topK: 2, source: nil))
            Issue.record("expected an error")
        } catch {
            #expect("\(error)".contains("mixtral-8x22b") && "\(error)".contains("adapmoe-dp-measured"))
        }
        // Top-2 only.
        #expect(throws: MoESimError.self) {
            try spec.resolve(layers: 32, experts: 8, expertBytes: 1, freeBytes: 0, allocation: CacheAllocationContext(model: try Self.mixtral(), topK: 8, source: nil))
        }
    }

    // MARK: Measured variant

    /// Toy model (2 layers, 4 experts) with sensitivities, so adaptive gating can run on it.
    static let toyModel = Fixtures.model.replacingOccurrences(of: #""defaultQuantization":"fp16""#,
                                                               with: #""defaultQuantization":"fp16","gateSensitivity":{"values":[2,0.5],"source":"test"}"#)

    @Test func measuredProfileOnAHandTrace() throws {
        // Layer 0 -> layer 1 always {0,1} -> {2,3}: the next-layer predictor is always right; a prefill pass is skipped.
        let decode = Fixtures.trace([[[0, 1], [2, 3]], [[0, 1], [3, 2]], [[1, 0], [2, 3]]], startPosition: 1)
        let prefill = Fixtures.trace([[[3, 2], [0, 1]]], phase: "prefill").split(separator: "\n").dropFirst(2).joined(separator: "\n")
        let lines = decode.split(separator: "\n").map(String.init)
        let text = ([lines[0], lines[1], prefill] + lines[2...]).joined(separator: "\n") + "\n"
        let path = Fixtures.write(text, name: "toy.moetrace.jsonl")
        let model = try JSONFileLoader.decode(ModelSpec.self, from: Data(Self.toyModel.utf8), file: "toy")
        let header = try TracePassSource(path: path).header
        // topk gating: r_l = 0 (the mode without gating statistics).
        let plain = try MeasuredAdapMoEProfile.measure(source: try TracePassSource(path: path), gating: TopKReplayGating(), prefixTokens: 2)
        #expect(plain.decodeTokens == 2)
        #expect(plain.prefetchAccuracy == [0, 1])
        #expect(plain.singleExpertRatio == [0, 0])
        // adapmoe at T = 0.1 drops the 2nd expert at layer 1 only (0.5 * 0.25^2 < 0.1 <= 2 * 0.25^2).
        let gating = try gatingPolicies.make("adapmoe:T=0.1", model: model, header: header)
        let adaptive = try MeasuredAdapMoEProfile.measure(source: try TracePassSource(path: path), gating: gating, prefixTokens: 10)
        #expect(adaptive.decodeTokens == 3)
        #expect(adaptive.singleExpertRatio == [0, 1])
        // The DP then spends the slots where they save most.
        let context = CacheAllocationContext(model: model, topK: 2, source: { try TracePassSource(path: path) },
                                             gating: { try gatingPolicies.make("adapmoe:T=0.1", model: model, header: header) })
        let sizes = try CacheSpec.parse("adapmoe-dp-measured:total=4,prefix=3").resolve(layers: 2, experts: 4, expertBytes: 1, freeBytes: 0, allocation: context)
        #expect(sizes.reduce(0, +) == 4)
        #expect(sizes == AdapMoEAllocation.capacities(total: 4, experts: 4, prefetchAccuracy: [0, 1], singleExpertRatio: [0, 1]))
        #expect(sizes[0] > sizes[1])
    }

    @Test func measuredProfileNeedsDecodeTokens() throws {
        let path = Fixtures.write(Fixtures.trace([[[0, 1], [2, 3]]], phase: "prefill"), name: "toy.moetrace.jsonl")
        #expect(throws: MoESimError.self) {
            try MeasuredAdapMoEProfile.measure(source: try TracePassSource(path: path), gating: TopKReplayGating(), prefixTokens: 5)
        }
    }

    // MARK: Command line

    @Test func allocateCommandPrintsTheTable() throws {
        let row = try #require(Self.withGating.first { $0.total == 64 })
        let text = Fixtures.sim(["cache", "allocate", "--model", "mixtral-8x7b", "--total", "64"])
        #expect(text.code == 0, "\(text.err)")
        #expect(text.out.contains("adapmoe-dp") && text.out.contains("equal split") && text.out.contains("dp.py"))
        let json = Fixtures.sim(["cache", "allocate", "--model", "mixtral-8x7b", "--total", "64", "--mode", "nogating", "--json"])
        #expect(json.code == 0, "\(json.err)")
        struct Allocation: Decodable { var capacities: [Int]; var expectedLoadsPerToken: Double; var equalSplitExpectedLoadsPerToken: Double }
        let decoded = try JSONDecoder().decode(Allocation.self, from: Data(json.out.utf8))
        #expect(decoded.capacities == Self.withoutGating.first { $0.total == 64 }!.capacities)
        // The DP minimises the objective, so it never does worse than the equal split.
        #expect(decoded.expectedLoadsPerToken <= decoded.equalSplitExpectedLoadsPerToken)
        let csv = Fixtures.sim(["cache", "allocate", "--model", "mixtral-8x7b", "--total", "64", "--csv"])
        #expect(csv.out.split(separator: "\n").count == 33)
        // Columns: layer, a_l, r_l, capacity, f(l, s), equal split; line 2 is layer 1.
        #expect(csv.out.split(separator: "\n")[2].split(separator: ",")[3] == Substring("\(row.capacities[1])"))
        for (args, words) in [(["--model", "mixtral-8x7b"], ["--total"]), (["--model", "mixtral-8x22b", "--total", "64"], ["mixtral-8x22b"]),
                              (["--model", "mixtral-8x7b", "--total", "64", "--mode", "measured"], ["--trace"]),
                              (["--model", "mixtral-8x7b", "--total", "300"], ["exceeds"]), (["--model", "mixtral-8x7b", "--total", "64", "--mode", "x"], ["--mode"])] {
            let r = Fixtures.sim(["cache", "allocate"] + args)
            #expect(r.code == 1, "\(args)")
            for w in words { #expect(r.err.contains(w), "\(args): \(r.err)") }
        }
    }

    @Test func cacheRunUsesTheDPCapacities() throws {
        let trace = Fixtures.repositoryRoot.appendingPathComponent("traces/mixtral-8x7b-synth.moetrace.jsonl").path
        let row = try #require(Self.withGating.first { $0.total == 64 })
        let r = Fixtures.sim(["cache", "run", "--trace", trace, "--cache", "adapmoe-dp:total=64"])
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out.contains("Capacities by layer \(row.capacities)"))
    }
}
