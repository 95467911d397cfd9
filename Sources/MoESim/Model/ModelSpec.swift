import Foundation

/// The shape of an MoE model: enough to count the bytes of every part and the flops of every step.
/// Schema `moe-sim/model/1`; presets live in `Resources/models/`. All counts are parameters (elements).
public struct ModelSpec: Codable, Sendable {
    public var schema: String
    public var name: String
    public var aliases: [String]?
    public var title: String
    public var hiddenSize: Int
    /// Layers whose FFN is an MoE block: the `layers` of a gating trace.
    public var moeLayers: Int
    /// Layers with a dense FFN instead (DeepSeek-V2-Lite's first layer).
    public var denseLayers: Int
    public var denseFFNParams: Int
    /// Routed experts per MoE layer.
    public var experts: Int
    public var topK: Int
    /// Always-active experts per MoE layer; resident on the device, never offloaded.
    public var sharedExperts: Int
    /// One routed expert's linears as [inFeatures, outFeatures], in load order (w1, w3, w2).
    public var expertMatrices: [[Int]]
    public var expertBiasParams: Int
    public var sharedExpertMatrices: [[Int]]
    public var sharedExpertBiasParams: Int
    public var attention: Attention
    public var routerParamsPerLayer: Int
    public var normParamsPerLayer: Int
    public var embeddingParams: Int
    /// 0 when tied to the embedding.
    public var lmHeadParams: Int
    public var finalNormParams: Int
    public var defaultQuantization: String
    /// AdapMoE's per-layer gate sensitivity H_l (papers.md §1.3.A), where known.
    public var gateSensitivity: GateSensitivity?
    /// AdapMoE's published per-layer inputs to its DP cache allocation (papers.md §1.3.C, §1.6.1), where known.
    public var adapmoeProfile: AdapMoEProfile?
    public var sources: [String]
    public var notes: String?
    /// The ggml type the routed experts already have in the GGUF conversion (gpt-oss: `MXFP4`, as the checkpoint
    /// ships them). llama-quantize does not requantize an already-quantized tensor (src/llama-quant.cpp: "requantizing
    /// from type ... is disabled"), so the GGUF presets keep it. Absent: experts are quantized by the preset's rules.
    public var ggufExpertType: String?
    /// Sizes as a recording engine reported them (a route_trace header), for a model known only from its trace; the
    /// `recorded` quantization uses them.
    public var recordedSizes: RecordedSizes?

    public struct RecordedSizes: Codable, Sendable, Equatable {
        /// One routed expert's bytes, per MoE layer.
        public var expertBytesPerLayer: [Int]
        /// Everything else of a layer (attention, router, norms), per MoE layer.
        public var residentBytesPerLayer: [Int]
        public var source: String
    }

    public struct Attention: Codable, Sendable {
        public var heads: Int
        public var kvHeads: Int
        public var headDim: Int
        public var paramsPerLayer: Int
        /// KV-cache elements stored per token per layer (GQA: 2 x kvHeads x headDim; MLA: latent + rope).
        public var kvCacheElementsPerToken: Int
        public var slidingWindow: SlidingWindow?
    }

    /// Per-layer sensitivities with their source.
    public struct GateSensitivity: Codable, Sendable {
        public var values: [Double]
        public var source: String
        public var note: String?
    }

    /// Per-layer a_l and r_l as AdapMoE's `dp.py` hard-codes them, with their source.
    public struct AdapMoEProfile: Codable, Sendable {
        /// a_l: fraction of a decode token's experts at layer l that the prefetcher predicted from layer l-1.
        public var prefetchAccuracy: [Double]
        /// r_l: fraction of decode tokens that run a single expert at layer l under adaptive gating.
        public var singleExpertRatio: [Double]
        public var source: String
        public var note: String?
    }

    public struct SlidingWindow: Codable, Sendable {
        public var window: Int
        /// Every N-th layer (starting at layer 0) uses the window; the others attend to the full context.
        public var layersEveryN: Int
    }

    public var totalLayers: Int { moeLayers + denseLayers }

    public var expertParams: Int { expertMatrices.reduce(0) { $0 + $1[0] * $1[1] } + expertBiasParams }
    public var sharedExpertParams: Int { sharedExpertMatrices.reduce(0) { $0 + $1[0] * $1[1] } + sharedExpertBiasParams }

    /// Parameters that stay on the device: everything but the routed experts.
    public var residentParams: Int {
        embeddingParams + lmHeadParams + finalNormParams
            + totalLayers * (attention.paramsPerLayer + normParamsPerLayer)
            + moeLayers * (routerParamsPerLayer + sharedExperts * sharedExpertParams)
            + denseLayers * denseFFNParams
    }

    public var totalParams: Int { residentParams + moeLayers * experts * expertParams }

    /// Parameters a model may have in all: every count derived from a spec (parameters, bytes, flops) then stays far
    /// from integer overflow. About 1,500x the largest published MoE (DeepSeek-V3, 671B).
    public static let maxTotalParams = 1e15

    /// Bounds on the shape, checked before any count is derived from it (a product of user numbers can trap).
    func checkSize(file: String) throws {
        func limit(_ field: String, _ value: Int, _ maximum: Int, _ why: String) throws {
            guard value <= maximum else { throw MoESimError(file: file, field: field, "\(value) is more than moe-sim holds (at most \(maximum): \(why))") }
        }
        try limit("experts", experts, TraceHeader.maxExperts, "expert ids are 16-bit in traces")
        try limit("topK", topK, TokenRecord.maxCellWidth, "experts per routing cell")
        try limit("moeLayers", moeLayers, TraceHeader.maxExpertSlots / experts, "layers x experts at most \(TraceHeader.maxExpertSlots)")
        try limit("denseLayers", denseLayers, 1 << 20, "layers")
        try limit("sharedExperts", sharedExperts, 1 << 16, "experts")
        for (name, matrices) in [("expertMatrices", expertMatrices), ("sharedExpertMatrices", sharedExpertMatrices)] {
            try limit(name + ".count", matrices.count, 1 << 10, "matrices per expert")
            for (i, m) in matrices.enumerated() {
                for (j, size) in m.enumerated() { try limit("\(name)[\(i)][\(j)]", size, 1 << 24, "features") }
            }
        }
        for (field, value) in [("hiddenSize", hiddenSize), ("attention.heads", attention.heads), ("attention.kvHeads", attention.kvHeads),
                               ("attention.headDim", attention.headDim)] {
            try limit(field, value, 1 << 24, "features")
        }
        let counts: [(String, Int)] = [("denseFFNParams", denseFFNParams), ("expertBiasParams", expertBiasParams),
                                       ("sharedExpertBiasParams", sharedExpertBiasParams), ("attention.paramsPerLayer", attention.paramsPerLayer),
                                       ("attention.kvCacheElementsPerToken", attention.kvCacheElementsPerToken),
                                       ("routerParamsPerLayer", routerParamsPerLayer), ("normParamsPerLayer", normParamsPerLayer),
                                       ("embeddingParams", embeddingParams), ("lmHeadParams", lmHeadParams), ("finalNormParams", finalNormParams)]
        for (field, value) in counts { try limit(field, value, Int(ModelSpec.maxTotalParams), "parameters") }
        if let window = attention.slidingWindow {
            guard window.window >= 1, window.layersEveryN >= 1 else {
                throw MoESimError(file: file, field: "attention.slidingWindow", "window and layersEveryN must be at least 1")
            }
        }
        // The total in floating point, where it cannot overflow, before any Int product is formed.
        func params(_ matrices: [[Int]], bias: Int) -> Double { matrices.reduce(Double(bias)) { $0 + Double($1[0]) * Double($1[1]) } }
        let layers = Double(moeLayers) + Double(denseLayers)
        let total = Double(embeddingParams) + Double(lmHeadParams) + Double(finalNormParams)
            + layers * (Double(attention.paramsPerLayer) + Double(normParamsPerLayer))
            + Double(moeLayers) * (Double(routerParamsPerLayer) + Double(sharedExperts) * params(sharedExpertMatrices, bias: sharedExpertBiasParams))
            + Double(denseLayers) * Double(denseFFNParams)
            + Double(moeLayers) * Double(experts) * params(expertMatrices, bias: expertBiasParams)
        guard total <= ModelSpec.maxTotalParams else {
            throw MoESimError(file: file, "\(total) parameters in all is more than moe-sim holds (at most \(ModelSpec.maxTotalParams))")
        }
    }

    public func validate(file: String) throws {
        guard schema == "moe-sim/model/1" else {
            throw MoESimError(file: file, field: "schema", "expected \"moe-sim/model/1\", found \"\(schema)\"")
        }
        let positives: [(String, Int)] = [("hiddenSize", hiddenSize), ("moeLayers", moeLayers), ("experts", experts), ("topK", topK),
                                          ("attention.heads", attention.heads), ("attention.kvHeads", attention.kvHeads),
                                          ("attention.headDim", attention.headDim), ("attention.paramsPerLayer", attention.paramsPerLayer),
                                          ("attention.kvCacheElementsPerToken", attention.kvCacheElementsPerToken),
                                          ("embeddingParams", embeddingParams)]
        for (field, value) in positives where value <= 0 {
            throw MoESimError(file: file, field: field, "must be a positive integer, found \(value)")
        }
        let nonNegatives: [(String, Int)] = [("denseLayers", denseLayers), ("denseFFNParams", denseFFNParams), ("sharedExperts", sharedExperts),
                                             ("expertBiasParams", expertBiasParams), ("sharedExpertBiasParams", sharedExpertBiasParams),
                                             ("routerParamsPerLayer", routerParamsPerLayer), ("normParamsPerLayer", normParamsPerLayer),
                                             ("lmHeadParams", lmHeadParams), ("finalNormParams", finalNormParams)]
        for (field, value) in nonNegatives where value < 0 {
            throw MoESimError(file: file, field: field, "must be >= 0, found \(value)")
        }
        guard topK <= experts else { throw MoESimError(file: file, field: "topK", "must not exceed experts (\(experts)), found \(topK)") }
        guard !expertMatrices.isEmpty else { throw MoESimError(file: file, field: "expertMatrices", "needs at least one matrix") }
        for (name, matrices) in [("expertMatrices", expertMatrices), ("sharedExpertMatrices", sharedExpertMatrices)] {
            for (i, m) in matrices.enumerated() where m.count != 2 || m[0] <= 0 || m[1] <= 0 {
                throw MoESimError(file: file, field: "\(name)[\(i)]", "expected [inFeatures, outFeatures] with positive sizes")
            }
        }
        if sharedExperts > 0 && sharedExpertMatrices.isEmpty {
            throw MoESimError(file: file, field: "sharedExpertMatrices", "required when sharedExperts > 0")
        }
        try checkSize(file: file)
        if let s = gateSensitivity {
            guard s.values.count == moeLayers else {
                throw MoESimError(file: file, field: "gateSensitivity.values", "expected \(moeLayers) values (one per MoE layer), found \(s.values.count)")
            }
            if let bad = s.values.firstIndex(where: { !($0.isFinite && $0 > 0) }) {
                throw MoESimError(file: file, field: "gateSensitivity.values[\(bad)]", "must be a positive finite number")
            }
        }
        if let p = adapmoeProfile {
            for (field, values) in [("prefetchAccuracy", p.prefetchAccuracy), ("singleExpertRatio", p.singleExpertRatio)] {
                guard values.count == moeLayers else {
                    throw MoESimError(file: file, field: "adapmoeProfile.\(field)", "expected \(moeLayers) values (one per MoE layer), found \(values.count)")
                }
                if let bad = values.firstIndex(where: { !($0.isFinite && $0 >= 0 && $0 <= 1) }) {
                    throw MoESimError(file: file, field: "adapmoeProfile.\(field)[\(bad)]", "must be a fraction in [0, 1]")
                }
            }
        }
        if let r = recordedSizes {
            for (field, values) in [("expertBytesPerLayer", r.expertBytesPerLayer), ("residentBytesPerLayer", r.residentBytesPerLayer)] {
                guard values.count == moeLayers else {
                    throw MoESimError(file: file, field: "recordedSizes.\(field)", "expected \(moeLayers) values (one per MoE layer), found \(values.count)")
                }
                if let bad = values.firstIndex(where: { $0 < 0 || $0 > 1 << 40 }) {
                    throw MoESimError(file: file, field: "recordedSizes.\(field)[\(bad)]", "expected a byte count in 0 ... 2^40")
                }
            }
        } else if defaultQuantization == "recorded" {
            throw MoESimError(file: file, field: "defaultQuantization", "\"recorded\" needs recordedSizes")
        }
        if let t = ggufExpertType, GGMLType(rawValue: t.uppercased()) == nil {
            throw MoESimError(file: file, field: "ggufExpertType", "unknown ggml type '\(t)'", hint: "known: \(GGMLType.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard (try? QuantizationCatalog.resolve(defaultQuantization)) != nil else {
            throw MoESimError(file: file, field: "defaultQuantization", "unknown quantization '\(defaultQuantization)'")
        }
    }
}
