/// A quantization scheme: the format of the routed and shared experts and of the attention weights.
/// Embeddings, the LM head, routers and norms stay fp16, and biases are fp16, as in the peer systems
/// (mixtral-offloading, AdapMoE `run.py`: papers.md §1.2).
public struct Quantization: Sendable, Equatable {
    public var name: String
    public var expertFormat: WeightFormat
    public var attentionFormat: WeightFormat
    public var summary: String
    /// A llama.cpp GGUF preset: formats then vary per tensor and per layer (`expertFormat` is its default type).
    public var gguf: GGUFPreset? = nil
    /// Sizes come from the model's `recordedSizes` (a model known only from its trace).
    public var recorded = false

    static let fp16BytesPerParam = 2
    /// KV cache entries are fp16 in every scheme here.
    public static let kvCacheBytesPerElement = 2

    /// Exact bytes of one routed expert of MoE layer `layer`.
    public func expertBytes(_ model: ModelSpec, layer: Int) -> Int {
        expertMatrixBytes(model, layer: layer).reduce(0, +)
    }

    /// Exact bytes of one routed expert of each MoE layer.
    public func expertBytesByLayer(_ model: ModelSpec) -> [Int] {
        guard gguf != nil || recorded else { return Array(repeating: expertBytes(model, layer: 0), count: model.moeLayers) }
        return (0..<model.moeLayers).map { expertBytes(model, layer: $0) }
    }

    /// Bytes of the largest routed expert (every layer's when the format does not vary by layer): what a buffer
    /// that holds any one expert needs.
    public func expertBytes(_ model: ModelSpec) -> Int { expertBytesByLayer(model).max() ?? 0 }

    /// Bytes of each matrix of one routed expert of MoE layer `layer`, in load order (for sub-matrix pipelining).
    public func expertMatrixBytes(_ model: ModelSpec, layer: Int) -> [Int] {
        if let gguf { return GGUFModelLayout(preset: gguf, model: model).expertMatrixBytes(layer: layer) }
        if recorded, let sizes = model.recordedSizes { return [sizes.expertBytesPerLayer[layer]] }
        var parts = model.expertMatrices.map { expertFormat.bytes(inFeatures: $0[0], outFeatures: $0[1]) }
        parts[parts.count - 1] += model.expertBiasParams * Quantization.fp16BytesPerParam
        return parts
    }

    /// `expertMatrixBytes` of the largest expert.
    public func expertMatrixBytes(_ model: ModelSpec) -> [Int] {
        let sizes = expertBytesByLayer(model)
        return expertMatrixBytes(model, layer: sizes.firstIndex(of: sizes.max() ?? 0) ?? 0)
    }

    public func sharedExpertBytes(_ model: ModelSpec) -> Int {
        model.sharedExpertMatrices.reduce(0) { $0 + expertFormat.bytes(inFeatures: $1[0], outFeatures: $1[1]) }
            + model.sharedExpertBiasParams * Quantization.fp16BytesPerParam
    }

    /// Attention bytes of one layer (the mean over layers for a GGUF preset). The spec gives only the parameter count,
    /// so the format is applied as if the layer were one [hidden x params/hidden] matrix (exact for per-group formats).
    public func attentionBytesPerLayer(_ model: ModelSpec) -> Int {
        if let gguf {
            let layout = GGUFModelLayout(preset: gguf, model: model)
            return (0..<model.totalLayers).reduce(0) { $0 + layout.attentionBytes(block: $1) } / max(1, model.totalLayers)
        }
        if recorded, let sizes = model.recordedSizes { return sizes.residentBytesPerLayer.reduce(0, +) / max(1, model.moeLayers) }
        return attentionFormat.bytes(inFeatures: model.hiddenSize, outFeatures: max(1, model.attention.paramsPerLayer / model.hiddenSize))
    }

    /// Everything that stays resident on the device except routed experts and the KV cache.
    public func residentWeightBytes(_ model: ModelSpec) -> Int {
        if let gguf { return GGUFModelLayout(preset: gguf, model: model).residentWeightBytes }
        if recorded, let sizes = model.recordedSizes { return sizes.residentBytesPerLayer.reduce(0, +) }
        let fp16Parts = model.embeddingParams + model.lmHeadParams + model.finalNormParams
            + model.totalLayers * model.normParamsPerLayer + model.moeLayers * model.routerParamsPerLayer
        return fp16Parts * Quantization.fp16BytesPerParam
            + model.totalLayers * attentionBytesPerLayer(model)
            + model.moeLayers * model.sharedExperts * sharedExpertBytes(model)
            + model.denseLayers * expertFormat.bytes(inFeatures: model.hiddenSize, outFeatures: max(1, model.denseFFNParams / model.hiddenSize))
    }

    /// A GGUF preset's non-expert bytes of MoE layer `layer` (attention, router, norms, expert biases, shared experts);
    /// nil for other schemes.
    public func ggufResidentBytes(_ model: ModelSpec, layer: Int) -> Int? {
        guard let gguf else { return nil }
        let layout = GGUFModelLayout(preset: gguf, model: model)
        return layout.residentBytes(block: layout.block(ofMoELayer: layer))
    }

    /// A GGUF preset's ggml type of each expert matrix of MoE layer `layer`; nil for other schemes.
    public func ggufExpertTypes(_ model: ModelSpec, layer: Int) -> [GGMLType]? {
        gguf.map { GGUFModelLayout(preset: $0, model: model).expertMatrixTypes(layer: layer) }
    }

    public func kvCacheBytesPerToken(_ model: ModelSpec) -> Int {
        model.totalLayers * model.attention.kvCacheElementsPerToken * Quantization.kvCacheBytesPerElement
    }
}

/// Named quantization schemes (`--quant`).
public enum QuantizationCatalog {
    /// mixtral-offloading and AdapMoE keep attention in HQQ 4-bit g64 with scale groups of 256 (papers.md §1.2).
    static let hqqAttention = WeightFormat.hqq(bits: 4, groupSize: 64, scaleGroupSize: 256)
    static let hqqScaleGroupSize = 128

    public static let named: [Quantization] = [
        Quantization(name: "fp16", expertFormat: .fp16, attentionFormat: .fp16, summary: "fp16/bf16 everywhere"),
        Quantization(name: "fp8", expertFormat: .float(bytesPerParam: 1, scaleBytesPerMatrix: 4),
                     attentionFormat: .float(bytesPerParam: 1, scaleBytesPerMatrix: 4),
                     summary: "fp8 weights with one fp32 scale per matrix (vLLM-style), fp16 embeddings"),
        Quantization(name: "int8", expertFormat: .int8PerChannel, attentionFormat: .int8PerChannel,
                     summary: "int8 weights, fp16 scale per output channel"),
        Quantization(name: "hqq4", expertFormat: .hqq(bits: 4, groupSize: 64, scaleGroupSize: hqqScaleGroupSize), attentionFormat: hqqAttention,
                     summary: "HQQ 4-bit g64 experts and attention (AdapMoE \"4-bit\", papers.md §1.2)"),
        Quantization(name: "hqq3", expertFormat: .hqq(bits: 3, groupSize: 64, scaleGroupSize: hqqScaleGroupSize), attentionFormat: hqqAttention,
                     summary: "HQQ 3-bit g64 experts, 4-bit g64 attention (mixtral-offloading 3-bit row)"),
        Quantization(name: "hqq2", expertFormat: .hqq(bits: 2, groupSize: 16, scaleGroupSize: hqqScaleGroupSize), attentionFormat: hqqAttention,
                     summary: "HQQ 2-bit g16 experts, 4-bit g64 attention (mixtral-offloading / AdapMoE run.py)"),
        Quantization(name: "mxfp4", expertFormat: .mxfp4, attentionFormat: .fp16,
                     summary: "MXFP4 experts, fp16 attention (GPT-OSS native)"),
        Quantization(name: "recorded", expertFormat: .ggml(.q4_K), attentionFormat: .ggml(.q4_K),
                     summary: "the per-layer sizes a recording engine reported (a model built from a route_trace header; nominally 4.5 bits per weight)",
                     recorded: true),
    ] + GGUFPreset.named.map {
        Quantization(name: $0.name, expertFormat: .ggml($0.defaultType), attentionFormat: .ggml($0.defaultType),
                     summary: "llama.cpp GGUF \($0.name.uppercased()): \($0.defaultType) by default, per-tensor and per-layer types from llama-quant.cpp's rules",
                     gguf: $0)
    }

    static let aliases: [String: String] = ["bf16": "fp16", "hqq2-g16": "hqq2", "hqq4-g64": "hqq4", "hqq3-g64": "hqq3", "4bit": "hqq4", "2bit": "hqq2"]

    /// A named scheme, or `hqqB-gG` for any HQQ bit width B and group size G.
    public static func resolve(_ name: String) throws -> Quantization {
        let wanted = NameMatching.normalize(name)
        let canonical = aliases[wanted] ?? wanted
        if let q = named.first(where: { NameMatching.normalize($0.name) == canonical }) { return q }
        if canonical.hasPrefix("hqq"), let dash = canonical.firstIndex(of: "-") {
            let bitsText = canonical[canonical.index(canonical.startIndex, offsetBy: 3)..<dash]
            let groupText = canonical[canonical.index(after: dash)...].dropFirst()
            if canonical[canonical.index(after: dash)] == "g", let bits = Int(bitsText), let group = Int(groupText),
               (1...8).contains(bits), group > 0 {
                return Quantization(name: canonical, expertFormat: .hqq(bits: bits, groupSize: group, scaleGroupSize: hqqScaleGroupSize),
                                    attentionFormat: hqqAttention, summary: "HQQ \(bits)-bit g\(group) experts, 4-bit g64 attention")
            }
        }
        let suggestion = NameMatching.closest(to: name, among: named.map(\.name))
        throw MoESimError(field: "--quant", "unknown quantization '\(name)'",
                          hint: (suggestion.map { "did you mean '\($0)'? " } ?? "") + "known: \(named.map(\.name).joined(separator: ", ")), or hqqB-gG (e.g. hqq2-g16)")
    }
}
