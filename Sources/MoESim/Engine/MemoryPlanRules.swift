/// Rules between a run's settings that no single file can check: they need the hardware, the model and the
/// quantization together. Checked where the run is set up (`MemoryPlan`), before anything is simulated.
enum MemoryPlanRules {
    /// The most KV-cache tokens `--kv-reserve-tokens` takes: 2^24, beyond any model's context window (the longest
    /// published are 10M tokens); it keeps every byte count derived from it far from overflow.
    static let maxKVReserveTokens = 1 << 24

    /// The KV cache set aside must fit beside the weights; otherwise a `fit` cache silently gets no expert at all.
    static func checkKVReserve(tokens: Int, bytes: Double, free: Double, hardware: HardwareProfile) throws {
        guard bytes > free else { return }
        throw MoESimError(field: "--kv-reserve-tokens",
                          "\(tokens) tokens of KV cache (\(ByteSize.format(bytes))) do not fit in the \(ByteSize.format(max(0, free))) of \(hardware.name)'s memory left after the resident weights, transfer buffers and runtime reserve",
                          hint: "reserve fewer tokens, or pick a smaller --quant or a larger device")
    }

    /// Experts that do not stay in device memory live in host memory when the hardware offloads there: the host must
    /// be able to hold them (a 1-byte host cannot "hold" 90 GB of experts).
    static func checkHostHolds(config: SimulationConfig, expertBytes: Int, cachedExperts: Int) throws {
        guard config.hardware.offloadTier == .host else { return }
        let model = config.model
        let offloaded = Double(max(0, model.moeLayers * model.experts - cachedExperts)) * Double(expertBytes)
        let host = config.hardware.host.memoryBytes.value
        guard offloaded > host else { return }
        throw MoESimError(field: "--hardware",
                          "\(config.hardware.name)'s host memory (host.memoryBytes \(ByteSize.format(host))) cannot hold the \(ByteSize.format(offloaded)) of \(model.name) experts offloaded to it (\(config.quantization.name))",
                          hint: "pick a smaller --quant, a larger cache, or hardware with more host memory")
    }
}
