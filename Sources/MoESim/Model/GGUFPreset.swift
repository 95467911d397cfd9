/// A llama.cpp quantization preset (`llama-quantize ... Q4_K_M`): a default ggml type plus the per-tensor rules
/// that raise or change it, as `llama_tensor_get_type_impl` and `tensor_type_fallback` in ggml-org/llama.cpp
/// `src/llama-quant.cpp` apply them without an importance matrix and without user overrides. Only the rules that
/// touch the tensors moe-sim models (token embedding, output, attention q/k/v/output, FFN/expert gate, up and
/// down) for the presets listed in `GGUFPreset.named` are reproduced; IQ presets are not.
public struct GGUFPreset: Sendable, Equatable {
    /// The `LLAMA_FTYPE_MOSTLY_*` name, lower case (`q4_k_m`).
    public var name: String
    /// `llama_ftype_get_default_type`.
    public var defaultType: GGMLType

    /// A tensor as `tensor_get_category` classes it.
    public enum Tensor: Sendable, Equatable {
        case tokenEmbedding, output
        case attentionQ, attentionK, attentionV, attentionOutput
        case ffnGate, ffnUp, ffnDown
    }

    /// What the rules read about the model (`qs.model.hparams`).
    public struct Shape: Sendable, Equatable {
        /// `n_layer`: every transformer block, dense or MoE.
        public var blocks: Int
        /// `n_expert` (1 for a dense model).
        public var experts: Int
        /// `n_gqa()`: query heads per KV head.
        public var queryHeadsPerKVHead: Int
        /// Whether the output matrix is the token embedding (no `output.weight`).
        public var tiedEmbeddings: Bool
    }

    public static let named: [GGUFPreset] = [
        GGUFPreset(name: "q4_0", defaultType: .q4_0), GGUFPreset(name: "q4_1", defaultType: .q4_1),
        GGUFPreset(name: "q5_0", defaultType: .q5_0), GGUFPreset(name: "q5_1", defaultType: .q5_1),
        GGUFPreset(name: "q8_0", defaultType: .q8_0), GGUFPreset(name: "q2_k", defaultType: .q2_K),
        GGUFPreset(name: "q3_k_m", defaultType: .q3_K), GGUFPreset(name: "q4_k_s", defaultType: .q4_K),
        GGUFPreset(name: "q4_k_m", defaultType: .q4_K), GGUFPreset(name: "q5_k_s", defaultType: .q5_K),
        GGUFPreset(name: "q5_k_m", defaultType: .q5_K), GGUFPreset(name: "q6_k", defaultType: .q6_K),
    ]

    /// `use_more_bits` in `llama_tensor_get_type_impl`: the first and last eighth of the blocks and every third between.
    static func useMoreBits(_ layer: Int, _ layers: Int) -> Bool {
        layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2
    }

    /// The type of `tensor` of transformer block `block` (ignored for the embedding and output) whose rows have
    /// `columns` elements (`ne[0]`, the input features).
    public func type(of tensor: Tensor, block: Int, columns: Int, shape: Shape) -> GGMLType {
        let chosen = ruleType(of: tensor, block: block, columns: columns, shape: shape)
        return chosen.fallback(columns: columns)
    }

    private func ruleType(of tensor: Tensor, block i: Int, columns: Int, shape: Shape) -> GGMLType {
        let n = shape.blocks, eightExperts = shape.experts == 8
        switch tensor {
        case .output:
            return outputType(columns: columns)
        case .tokenEmbedding:
            return shape.tiedEmbeddings ? outputType(columns: columns) : defaultType
        case .attentionV:
            var t = defaultType
            switch name {
            case "q2_k": t = shape.queryHeadsPerKVHead >= 4 ? .q4_K : .q3_K
            case "q3_k_m": t = i < 2 ? .q5_K : .q4_K
            case "q4_k_m", "q5_k_m": if GGUFPreset.useMoreBits(i, n) { t = .q6_K }
            case "q4_k_s": if i < 4 { t = .q5_K }
            default: break
            }
            return eightExperts ? .q8_0 : t
        case .attentionK:
            return eightExperts ? .q8_0 : defaultType
        case .attentionQ, .ffnGate, .ffnUp:
            return defaultType
        case .attentionOutput:
            if eightExperts {
                return ["q2_k", "q3_k_s", "q3_k_m", "q4_k_s", "q4_k_m"].contains(name) ? .q5_K : defaultType
            }
            switch name {
            case "q2_k": return .q3_K
            case "q3_k_m": return .q4_K
            default: return defaultType
            }
        case .ffnDown:
            switch name {
            case "q2_k": return .q3_K
            case "q3_k_m": return i < n / 16 ? .q5_K : .q4_K
            case "q4_k_m", "q5_k_m": return GGUFPreset.useMoreBits(i, n) ? .q6_K : defaultType
            case "q4_k_s": return i < n / 8 ? .q5_K : defaultType
            default: return defaultType
            }
        }
    }

    /// `output.weight` (and a tied token embedding): Q8_0 when its rows are not whole blocks of the default type,
    /// else Q6_K unless the preset is Q8_0.
    private func outputType(columns: Int) -> GGMLType {
        columns % defaultType.blockSize != 0 || defaultType == .q8_0 ? .q8_0 : .q6_K
    }
}
