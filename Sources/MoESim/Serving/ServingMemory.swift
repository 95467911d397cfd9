/// Device memory of a serving run, summed over the devices (eMoE reports one total for its 4 GPUs, papers.md §2.5):
/// non-expert weights, resident experts, the predictor, the KV cache and the activations of the iteration in flight.
///
/// Activations are an estimate: four hidden-size fp16 tensors per token, the top-k experts' two fp16 intermediate
/// products per token, and logits. `eager` attention (HuggingFace-style, what eMoE wraps: papers.md §2.2) also
/// materialises one fp16 score matrix (heads x query x context) per layer at a time and computes fp32 logits for
/// every position; `flash` (a serving engine's fused kernels) materialises no scores and computes logits only for
/// the tokens that sample. The O(n^2) score matrix is what makes eager prompt memory grow fast (eMoE Fig. 17).
public struct ServingMemoryModel: Sendable {
    public enum AttentionMemory: String, Sendable, CaseIterable { case flash, eager }

    /// What weights, KV cache and activations may use together.
    public let capacityBytes: Double
    public let nonExpertWeightBytes: Double
    public let expertBytes: Double
    public let totalExperts: Int
    public let kvBytesPerToken: Double
    public let predictorBytes: Double
    public let attention: AttentionMemory
    let hiddenBytesPerToken: Double
    let scoreBytesPerPosition: Double
    let logitBytes: Double

    static let hiddenTensorsPerToken = 4.0
    static let fp16Bytes = 2.0
    static let fp32Bytes = 4.0

    public init(cost: CostModel, capacityBytes: Double, predictorBytes: Double, attention: AttentionMemory) {
        let model = cost.model
        self.capacityBytes = capacityBytes
        nonExpertWeightBytes = Double(cost.residentWeightBytes)
        expertBytes = Double(cost.expertBytes)
        totalExperts = model.moeLayers * model.experts
        kvBytesPerToken = Double(cost.kvCacheBytesPerToken)
        self.predictorBytes = predictorBytes
        self.attention = attention
        let intermediate = Double(model.expertMatrices.first?[1] ?? model.hiddenSize)
        hiddenBytesPerToken = ServingMemoryModel.hiddenTensorsPerToken * Double(model.hiddenSize) * ServingMemoryModel.fp16Bytes
            + Double(model.topK) * 2 * intermediate * ServingMemoryModel.fp16Bytes
        scoreBytesPerPosition = Double(model.attention.heads) * ServingMemoryModel.fp16Bytes
        let vocab = Double((model.lmHeadParams > 0 ? model.lmHeadParams : model.embeddingParams) / model.hiddenSize)
        logitBytes = vocab * ServingMemoryModel.fp32Bytes
    }

    public func weightBytes(residentExperts: Int) -> Double {
        nonExpertWeightBytes + Double(residentExperts) * expertBytes + predictorBytes
    }

    /// Activations of one iteration of `queryTokens` tokens, `sampling` of which produce logits, whose tokens
    /// attend to `scorePositions` (query, position) pairs in all.
    public func activationBytes(queryTokens: Int, sampling: Int, scorePositions: Double) -> Double {
        let perToken = hiddenBytesPerToken * Double(queryTokens)
        switch attention {
        case .flash: return perToken + logitBytes * Double(sampling)
        case .eager: return perToken + logitBytes * Double(queryTokens) + scoreBytesPerPosition * scorePositions
        }
    }

    /// Memory of `batch` requests of `prompt` tokens prefilled together with KV room for `output` more each
    /// (the headroom experiments' setting: eMoE Figs. 17-18).
    public func memoryBytes(residentExperts: Int, batch: Int, promptTokens: Int, outputTokens: Int) -> Double {
        let b = Double(batch), p = Double(promptTokens)
        // A prompt's causal score matrix has p (p + 1) / 2 live entries, but eager attention allocates all p x p.
        return weightBytes(residentExperts: residentExperts) + b * (p + Double(outputTokens)) * kvBytesPerToken
            + activationBytes(queryTokens: batch * promptTokens, sampling: batch, scorePositions: b * p * p)
    }

    /// The largest batch whose `memoryBytes` stays within `limit` (0 when not even one request fits).
    public func maxBatch(residentExperts: Int, promptTokens: Int, outputTokens: Int, limit: Double) -> Int {
        largest(upTo: 1 << 24) { memoryBytes(residentExperts: residentExperts, batch: $0, promptTokens: promptTokens, outputTokens: outputTokens) <= limit }
    }

    /// The longest prompt one request can have within `limit`.
    public func maxPromptTokens(residentExperts: Int, outputTokens: Int, limit: Double) -> Int {
        largest(upTo: 1 << 30) { memoryBytes(residentExperts: residentExperts, batch: 1, promptTokens: $0, outputTokens: outputTokens) <= limit }
    }

    /// Largest n in 0...upper with `fits(n)`, for a monotone `fits` (0 if even 1 does not fit).
    func largest(upTo upper: Int, _ fits: (Int) -> Bool) -> Int {
        guard fits(1) else { return 0 }
        var lo = 1, hi = upper
        if fits(hi) { return hi }
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2
            if fits(mid) { lo = mid } else { hi = mid }
        }
        return lo
    }
}
