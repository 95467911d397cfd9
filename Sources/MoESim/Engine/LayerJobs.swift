/// The current MoE layer's expert jobs, one per distinct routed expert in order of first use: which weights each
/// computes and whether it is done. The executor runs them; the miss executor may mark one done (run on the CPU,
/// skipped) or point it at other weights (a substitute, a low-precision copy) before it runs.
final class LayerJobs {
    /// Job j is done (computed, run on the CPU or skipped).
    let done: FixedArray<Bool>
    /// The key whose weights job j computes: its own, or a substitute's.
    let key: FixedArray<Int32>
    /// Job j computes a low-precision copy (only with a low-precision miss policy).
    let lowPrecision: FixedArray<Bool>
    /// Per key: routed at the current layer (or standing in for a routed expert) and not computed yet.
    let awaitingCompute: FixedArray<Bool>

    init(experts: Int, keys: Int, lowPrecision: Bool) {
        done = FixedArray(repeating: false, count: experts)
        key = FixedArray(repeating: 0, count: experts)
        self.lowPrecision = FixedArray(repeating: false, count: lowPrecision ? experts : 0)
        awaitingCompute = FixedArray(repeating: false, count: keys)
    }
}
