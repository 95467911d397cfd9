/// The bytes of a model's tensors in a GGUF file written by a llama.cpp preset: which ggml type each tensor gets
/// (`GGUFPreset`) and so the exact size of every routed expert, per layer, and of the resident parts.
///
/// Tensors as llama.cpp's converter lays out an MoE model: per block `attn_q` [hidden, heads x headDim], `attn_k`
/// and `attn_v` [hidden, kvHeads x headDim], `attn_output` [heads x headDim, hidden]; expert tensors
/// `ffn_gate_exps`, `ffn_up_exps`, `ffn_down_exps` (the spec's `expertMatrices`, the last one being down). 1-D
/// tensors (norms, biases, attention sinks) and the router (`ffn_gate_inp`, never quantized) stay F32
/// (`tensor_allows_quantization`). Expert biases are separate tensors, so they count as resident, not as expert bytes
/// (what an engine that streams experts reads per expert).
struct GGUFModelLayout {
    let preset: GGUFPreset
    let model: ModelSpec
    let shape: GGUFPreset.Shape
    static let f32Bytes = 4

    init(preset: GGUFPreset, model: ModelSpec) {
        self.preset = preset
        self.model = model
        shape = GGUFPreset.Shape(blocks: model.totalLayers, experts: model.experts,
                                 queryHeadsPerKVHead: max(1, model.attention.heads / max(1, model.attention.kvHeads)),
                                 tiedEmbeddings: model.lmHeadParams == 0)
    }

    /// The transformer block of MoE layer `layer` (dense layers come first, as in DeepSeek-V2-Lite).
    func block(ofMoELayer layer: Int) -> Int { model.denseLayers + layer }

    /// Bytes of one [inFeatures, outFeatures] matrix of `type` (rows of `inFeatures` elements, `ggml_row_size`).
    static func bytes(_ type: GGMLType, _ matrix: [Int]) -> Int { matrix[1] * type.rowBytes(matrix[0]) }

    func expertTypes(block: Int, matrices: [[Int]]) -> [GGMLType] {
        if let native = model.ggufExpertType.flatMap({ GGMLType(rawValue: $0.uppercased()) }) {
            return Array(repeating: native, count: matrices.count)
        }
        return matrices.enumerated().map { i, m in
            let tensor: GGUFPreset.Tensor = i == matrices.count - 1 ? .ffnDown : (i == 0 ? .ffnGate : .ffnUp)
            return preset.type(of: tensor, block: block, columns: m[0], shape: shape)
        }
    }

    /// Bytes of each matrix of one routed expert of MoE layer `layer`, in load order.
    func expertMatrixBytes(layer: Int) -> [Int] {
        let types = expertTypes(block: block(ofMoELayer: layer), matrices: model.expertMatrices)
        return zip(types, model.expertMatrices).map { GGUFModelLayout.bytes($0, $1) }
    }

    /// The ggml type of each expert matrix of MoE layer `layer` (for display).
    func expertMatrixTypes(layer: Int) -> [GGMLType] { expertTypes(block: block(ofMoELayer: layer), matrices: model.expertMatrices) }

    /// The attention matrices of a block and their tensor kinds; nil when the spec's attention is not plain
    /// q/k/v/output (MLA), in which case it is costed as one matrix of the default type.
    var attentionMatrices: [(GGUFPreset.Tensor, [Int])]? {
        let a = model.attention, h = model.hiddenSize
        let q = [h, a.heads * a.headDim], kv = [h, a.kvHeads * a.headDim], o = [a.heads * a.headDim, h]
        let matrices: [(GGUFPreset.Tensor, [Int])] = [(.attentionQ, q), (.attentionK, kv), (.attentionV, kv), (.attentionOutput, o)]
        let params = matrices.reduce(0) { $0 + $1.1[0] * $1.1[1] }
        return params <= a.paramsPerLayer ? matrices : nil
    }

    /// Attention bytes of one block: its four matrices in their types, plus what the spec counts beyond them
    /// (biases, sinks) in F32.
    func attentionBytes(block: Int) -> Int {
        guard let matrices = attentionMatrices else {
            let columns = model.hiddenSize, rows = max(1, model.attention.paramsPerLayer / model.hiddenSize)
            return GGUFModelLayout.bytes(preset.defaultType.fallback(columns: columns), [columns, rows])
        }
        let rest = model.attention.paramsPerLayer - matrices.reduce(0) { $0 + $1.1[0] * $1.1[1] }
        return matrices.reduce(rest * GGUFModelLayout.f32Bytes) { total, m in
            total + GGUFModelLayout.bytes(preset.type(of: m.0, block: block, columns: m.1[0], shape: shape), m.1)
        }
    }

    /// Everything of a block that is not a routed expert's weight matrix: attention, router, norms, expert biases,
    /// shared experts (the `dense_bytes` a route_trace header gives per layer, for an MoE block).
    func residentBytes(block: Int) -> Int {
        let f32 = GGUFModelLayout.f32Bytes
        var bytes = attentionBytes(block: block) + model.normParamsPerLayer * f32
        if block < model.denseLayers {
            let columns = model.hiddenSize, rows = max(1, model.denseFFNParams / model.hiddenSize)
            return bytes + GGUFModelLayout.bytes(preset.type(of: .ffnDown, block: block, columns: columns, shape: shape), [columns, rows])
        }
        bytes += model.routerParamsPerLayer * f32 + model.experts * model.expertBiasParams * f32
        if model.sharedExperts > 0 {
            let types = expertTypes(block: block, matrices: model.sharedExpertMatrices)
            bytes += model.sharedExperts * (zip(types, model.sharedExpertMatrices).reduce(0) { $0 + GGUFModelLayout.bytes($1.0, $1.1) }
                + model.sharedExpertBiasParams * f32)
        }
        return bytes
    }

    /// Token embedding, output matrix and final norm.
    var embeddingAndOutputBytes: Int {
        let h = model.hiddenSize
        let vocabulary = model.embeddingParams / h
        var bytes = GGUFModelLayout.bytes(preset.type(of: .tokenEmbedding, block: 0, columns: h, shape: shape), [h, vocabulary])
        if model.lmHeadParams > 0 {
            bytes += GGUFModelLayout.bytes(preset.type(of: .output, block: 0, columns: h, shape: shape), [h, model.lmHeadParams / h])
        }
        return bytes + model.finalNormParams * GGUFModelLayout.f32Bytes
    }

    var residentWeightBytes: Int {
        (0..<model.totalLayers).reduce(embeddingAndOutputBytes) { $0 + residentBytes(block: $1) }
    }
}
