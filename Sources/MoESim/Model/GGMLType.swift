/// A ggml tensor storage type: elements per block and bytes per block, exactly as the block structs in
/// ggml-org/llama.cpp `ggml/src/ggml-common.h` lay them out (`block_q4_0` ... `block_q6_K`, `block_mxfp4`).
/// A row of `n` elements takes `n / blockSize * blockBytes` bytes (`ggml_row_size`); `n` must be a multiple
/// of the block size, which llama.cpp's quantizer guarantees by falling back to another type (`fallback`).
public enum GGMLType: String, Sendable, Equatable, CaseIterable, CustomStringConvertible {
    case f32 = "F32", f16 = "F16"
    /// fp16 d + 16 bytes of 4-bit quants.
    case q4_0 = "Q4_0"
    /// fp16 d, m + 16 bytes of quants.
    case q4_1 = "Q4_1"
    /// fp16 d + 4 bytes high bits + 16 bytes of quants.
    case q5_0 = "Q5_0"
    /// fp16 d, m + 4 bytes high bits + 16 bytes of quants.
    case q5_1 = "Q5_1"
    /// fp16 d + 32 int8 quants.
    case q8_0 = "Q8_0"
    /// 16 bytes scales + 64 bytes quants + fp16 d, dmin (per 256).
    case q2_K = "Q2_K"
    /// 32 bytes hmask + 64 bytes quants + 12 bytes scales + fp16 d.
    case q3_K = "Q3_K"
    /// fp16 d, dmin + 12 bytes scales + 128 bytes quants.
    case q4_K = "Q4_K"
    /// fp16 d, dmin + 12 bytes scales + 32 bytes high bits + 128 bytes quants.
    case q5_K = "Q5_K"
    /// 128 bytes low quants + 64 bytes high bits + 16 int8 scales + fp16 d.
    case q6_K = "Q6_K"
    /// One E8M0 scale byte + 16 bytes of 4-bit E2M1 values.
    case mxfp4 = "MXFP4"

    public var blockSize: Int {
        switch self {
        case .f32, .f16: return 1
        case .q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .mxfp4: return 32
        case .q2_K, .q3_K, .q4_K, .q5_K, .q6_K: return 256
        }
    }

    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16: return 2
        case .q4_0: return 18
        case .q4_1: return 20
        case .q5_0: return 22
        case .q5_1: return 24
        case .q8_0: return 34
        case .mxfp4: return 17
        case .q2_K: return 84
        case .q3_K: return 110
        case .q4_K: return 144
        case .q5_K: return 176
        case .q6_K: return 210
        }
    }

    /// Bytes of one row of `elements` elements (`ggml_row_size`); a partial last block is counted whole.
    public func rowBytes(_ elements: Int) -> Int { (elements + blockSize - 1) / blockSize * blockBytes }

    public var isQuantized: Bool { self != .f32 && self != .f16 }

    /// The type llama.cpp's `tensor_type_fallback` (src/llama-quant.cpp) uses when a row of `columns` elements is not
    /// a whole number of blocks: 256-element k-quants go to a 32-element type, and F16 if even that does not divide.
    public func fallback(columns: Int) -> GGMLType {
        guard columns % blockSize != 0 else { return self }
        let substitute: GGMLType
        switch self {
        case .q2_K, .q3_K: substitute = .q4_0
        case .q4_K: substitute = .q5_0
        case .q5_K: substitute = .q5_1
        case .q6_K: substitute = .q8_0
        default: substitute = .f16
        }
        return columns % substitute.blockSize == 0 ? substitute : .f16
    }

    public var description: String { rawValue }
}
