/// What a CPU expert kernel spends turning stored weights into the fp32 it multiplies in (x86 and Arm CPUs have no
/// general fp16 or low-bit FMA on the vector units the common kernels use). Counted as vector-lane operations per
/// weight, each taking one FMA slot, i.e. two flops of the CPU's fp32 throughput. Derived from the instruction
/// sequence of the usual kernels, UNCONFIRMED as rates: fp16 -> fp32 is one conversion (F16C VCVTPH2PS; bf16 a
/// shift); int8 and fp8 a conversion and a scale; HQQ, GGUF k-quants and 4-bit formats an unpack (shift and mask),
/// a conversion, a zero subtraction and a scale; MXFP4 a table lookup, a conversion and a scale.
extension WeightFormat {
    public var cpuDequantOpsPerWeight: Double {
        switch self {
        case let .float(bytesPerParam, _):
            if bytesPerParam >= 4 { return 0 }
            return bytesPerParam == 2 ? 1 : 2
        case .int8PerChannel: return 2
        case .hqq: return 4
        case .mxfp4: return 3
        case let .ggml(type): return type.isQuantized ? 4 : (type == .f32 ? 0 : 1)
        }
    }

    /// Flops-equivalent of one dequantisation op (one FMA slot = 2 flops).
    static let flopsPerDequantOp = 2.0
}
