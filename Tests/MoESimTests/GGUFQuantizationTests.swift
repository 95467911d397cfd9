import Foundation
import Testing
@testable import MoESim

struct GGUFQuantizationTests {
    @Test func blockBytesFollowGGMLBlockStructs() {
        let expected: [GGMLType: (Int, Int)] = [.q4_0: (32, 18), .q4_1: (32, 20), .q5_0: (32, 22), .q5_1: (32, 24), .q8_0: (32, 34),
                                                .q2_K: (256, 84), .q3_K: (256, 110), .q4_K: (256, 144), .q5_K: (256, 176),
                                                .q6_K: (256, 210), .mxfp4: (32, 17)]
        for (type, (block, bytes)) in expected {
            #expect(type.blockSize == block && type.blockBytes == bytes, "\(type)")
        }
        // A 2048-column row of Q4_K is 8 blocks.
        #expect(GGMLType.q4_K.rowBytes(2048) == 8 * 144)
    }

    @Test func qwen3Q4KMExpertsFollowUseMoreBitsOnFFNDown() throws {
        let model = try ModelCatalog.resolve("qwen3-30b-a3b")
        let q = try QuantizationCatalog.resolve("q4_k_m")
        // gate/up [2048 -> 768] and down [768 -> 2048] are 1,572,864 weights = 6144 Q4_K blocks (884,736 B) or 6144 Q6_K
        // blocks (1,290,240 B). use_more_bits(i, 48): i < 6, i >= 42, or (i - 6) % 3 == 2 gives down Q6_K.
        #expect(q.expertBytes(model, layer: 0) == 3_059_712)
        #expect(q.expertBytes(model, layer: 6) == 2_654_208)
        #expect(q.ggufExpertTypes(model, layer: 0) == [.q4_K, .q4_K, .q6_K])
        #expect(q.ggufExpertTypes(model, layer: 6) == [.q4_K, .q4_K, .q4_K])
        let sizes = q.expertBytesByLayer(model)
        let big = sizes.indices.filter { sizes[$0] == 3_059_712 }
        #expect(big == Array(0..<6) + stride(from: 8, through: 41, by: 3) + Array(42..<48))
        #expect(Set(sizes) == [3_059_712, 2_654_208])
        // The largest expert sizes buffers.
        #expect(q.expertBytes(model) == 3_059_712)
        // Non-expert bytes of a layer: attn_v Q6_K on the same layers (+270,336 B), router and norms F32.
        #expect(q.ggufResidentBytes(model, layer: 0) == 11_953_152)
        #expect(q.ggufResidentBytes(model, layer: 6) == 11_682_816)
    }

    @Test func otherPresetsOnQwen3() throws {
        let model = try ModelCatalog.resolve("qwen3-30b-a3b")
        // Q5_K_M: Q5_K (176 B / 256) by default, down Q6_K on use_more_bits layers.
        let q5 = try QuantizationCatalog.resolve("Q5_K_M")
        #expect(q5.expertBytes(model, layer: 0) == 2 * 6144 * 176 + 6144 * 210)
        #expect(q5.expertBytes(model, layer: 6) == 3 * 6144 * 176)
        // Q8_0: 34 B per 32 everywhere.
        let q8 = try QuantizationCatalog.resolve("q8_0")
        #expect(Set(q8.expertBytesByLayer(model)) == [3 * 1_572_864 / 32 * 34])
    }

    @Test func gptOSSKeepsMXFP4ExpertsAndFallsBackFromKQuants() throws {
        let model = try ModelCatalog.resolve("gpt-oss-120b")
        #expect(model.moeLayers == 36 && model.experts == 128 && model.topK == 4)
        let q = try QuantizationCatalog.resolve("q4_k_m")
        // MXFP4: 17 B per 32 of 2880 x 5760 + 2880 x 2880.
        #expect(Set(q.expertBytesByLayer(model)) == [13_219_200])
        // 2880 columns are not whole Q4_K/Q6_K blocks: attention falls back to Q5_0, attn_v's Q6_K to Q8_0.
        #expect(GGMLType.q4_K.fallback(columns: 2880) == .q5_0)
        #expect(GGMLType.q6_K.fallback(columns: 2880) == .q8_0)
        #expect(q.ggufResidentBytes(model, layer: 0) == 23_280_128)
        #expect(q.ggufResidentBytes(model, layer: 4) == 22_727_168)
        // Official totals: 116.8B parameters.
        #expect(abs(Double(model.totalParams) / 116.8e9 - 1) < 0.002)
    }

    @Test func modelsShowPrintsPerLayerBytes() {
        let r = Fixtures.sim(["models", "show", "qwen3-30b-a3b", "--quant", "q4_k_m"])
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out.contains("0      3059712"))
        #expect(r.out.contains("6      2654208"))
        #expect(r.out.contains("Q4_K,Q4_K,Q6_K"))
    }
}
