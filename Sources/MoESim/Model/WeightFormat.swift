/// How one weight matrix is stored, and so exactly how many bytes it takes.
public enum WeightFormat: Equatable, Sendable, CustomStringConvertible {
    /// Plain floating point, `bytesPerParam` each (fp16/bf16: 2), plus `scaleBytesPerMatrix` (fp8: one fp32 scale).
    case float(bytesPerParam: Int, scaleBytesPerMatrix: Int)
    /// INT8 weights with one fp16 scale per output channel.
    case int8PerChannel
    /// HQQ-style b-bit groups with quantized (8-bit) scale and zero: the scales are themselves quantized in
    /// groups of `scaleGroupSize` with fp16 meta, the zeros per tensor (papers.md §1.2, hqq@37502bea).
    case hqq(bits: Int, groupSize: Int, scaleGroupSize: Int)
    /// OCP microscaling FP4: 4-bit elements, one 8-bit (E8M0) scale per 32 elements.
    case mxfp4
    /// A ggml block type (GGUF files), `GGMLType`'s exact block bytes.
    case ggml(GGMLType)

    public static let fp16 = WeightFormat.float(bytesPerParam: 2, scaleBytesPerMatrix: 0)

    static let hqqQuantizedMetaBytes = 1          // 8-bit quantized scale or zero per group
    static let fp16Bytes = 2
    static let mxfp4BlockSize = 32

    /// Exact bytes of one [inFeatures x outFeatures] matrix in this format.
    public func bytes(inFeatures: Int, outFeatures: Int) -> Int {
        let numel = inFeatures * outFeatures
        switch self {
        case let .float(bytesPerParam, scaleBytes):
            return numel * bytesPerParam + scaleBytes
        case .int8PerChannel:
            return numel + outFeatures * WeightFormat.fp16Bytes
        case let .hqq(bits, groupSize, scaleGroupSize):
            let packed = WeightFormat.packedBytes(numel: numel, bits: bits)
            let groups = (numel + groupSize - 1) / groupSize
            let scaleQuantized = groups * WeightFormat.hqqQuantizedMetaBytes
            // Each group of quantized scales carries an fp16 scale and an fp16 zero.
            let scaleMeta = 2 * ((groups + scaleGroupSize - 1) / scaleGroupSize) * WeightFormat.fp16Bytes
            let zeroQuantized = groups * WeightFormat.hqqQuantizedMetaBytes
            // Zeros are quantized per tensor: one fp16 scale and one fp16 zero.
            let zeroMeta = 2 * WeightFormat.fp16Bytes
            return packed + scaleQuantized + scaleMeta + zeroQuantized + zeroMeta
        case .mxfp4:
            return numel / 2 + (numel + WeightFormat.mxfp4BlockSize - 1) / WeightFormat.mxfp4BlockSize
        case let .ggml(type):
            return outFeatures * type.rowBytes(inFeatures)
        }
    }

    /// HQQ bit packing: 8, 4, 2 and 1 bits pack densely into bytes; 3 bits pack 10 values per 32-bit word.
    static func packedBytes(numel: Int, bits: Int) -> Int {
        if bits == 3 { return (numel + 9) / 10 * 4 }
        return (numel * bits + 7) / 8
    }

    /// True when weights must be dequantized before fp16 tensor-core math.
    public var isQuantized: Bool {
        if case let .float(bytesPerParam, _) = self { return bytesPerParam < 2 }
        if case let .ggml(type) = self { return type.isQuantized }
        return true
    }

    public var description: String {
        switch self {
        case let .float(b, s): return b == 2 ? "fp16" : (s > 0 ? "fp\(b * 8) (per-tensor scale)" : "fp\(b * 8)")
        case .int8PerChannel: return "int8 (per-channel fp16 scale)"
        case let .hqq(bits, g, sg): return "HQQ \(bits)-bit g\(g) (8-bit scale g\(sg), 8-bit zero per tensor)"
        case .mxfp4: return "MXFP4 (E8M0 scale per 32)"
        case let .ggml(type): return "ggml \(type) (\(type.blockBytes) B per \(type.blockSize))"
        }
    }
}
