/// Everything that defines a run, resolved: the profiles, the policies by name, and replay options.
public struct SimulationConfig: Sendable {
    public var hardware: HardwareProfile
    public var model: ModelSpec
    public var quantization: Quantization
    public var runtime: RuntimeProfile
    public var cache: CacheSpec
    /// Gating spec, e.g. `topk` or `adapmoe:T=0.007,prefill` (`GatingSpec`).
    public var gating: String
    /// Prefetch spec, e.g. `none`, `next-layer-gate`, `next-layer-gate:depth=3,link=low-priority` (`PrefetchSpec`).
    public var prefetch: String
    /// Miss spec, e.g. `load` (the default), `fiddler`, `hobbit:low=hqq2` (`MissPolicy`).
    public var miss: String = "load"
    public var missingCells: MissingCellPolicy
    public var initialFill: ExpertCache.InitialFill
    /// KV-cache tokens set aside before sizing a `fit` cache (the longest context you expect).
    public var kvReserveTokens: Int
    /// Where a static hot set's popularity comes from.
    public var staticProfile: PopularityProfile = .whole
    /// Look-ahead reach, in accesses, for policies that read the future (Belady).
    public var lookaheadWindow = FutureAccesses.defaultWindow
    /// Also replay the trace through Belady's optimum with the same capacities (cache-only) and report the gap.
    public var beladyReference = true
    /// Seed of every random choice a run makes (a prefetch predictor's guesses): same seed, same output bytes.
    public var seed: UInt64 = SimulationConfig.defaultSeed

    public static let defaultKVReserveTokens = 4096
    /// `sim run --seed` default (the same as `sim trace synth`'s).
    public static let defaultSeed: UInt64 = 1

    public init(hardware: HardwareProfile, model: ModelSpec, quantization: Quantization, runtime: RuntimeProfile,
                cache: CacheSpec, gating: String = "topk", prefetch: String = "none", missingCells: MissingCellPolicy = .skip,
                initialFill: ExpertCache.InitialFill = .highestIndex, kvReserveTokens: Int = SimulationConfig.defaultKVReserveTokens,
                seed: UInt64 = SimulationConfig.defaultSeed) {
        self.hardware = hardware
        self.model = model
        self.quantization = quantization
        self.runtime = runtime
        self.cache = cache
        self.gating = gating
        self.prefetch = prefetch
        self.missingCells = missingCells
        self.initialFill = initialFill
        self.kvReserveTokens = kvReserveTokens
        self.seed = seed
    }
}

/// How device memory is divided before the run starts. Checked up front: a cache that cannot fit is an error.
public struct MemoryPlan: Sendable {
    public var deviceCapacityBytes: Double
    public var residentWeightBytes: Double
    public var transferBufferBytes: Double
    public var runtimeReservedBytes: Double
    public var kvReserveBytes: Double
    public var expertCacheBytes: Double
    public var cacheCapacities: [Int]

    /// `stagingBuffers`: how many staging buffers the prefetcher needs beside the load buffers (0: it does not
    /// speculate). `allocation`: what an `adapmoe-dp...` cache reads to divide its total among layers.
    public init(config: SimulationConfig, costs: CostModel, stagingBuffers: Int, allocation: CacheAllocationContext? = nil) throws {
        let model = config.model
        deviceCapacityBytes = config.hardware.device.memoryBytes.value
        residentWeightBytes = Double(costs.residentWeightBytes)
        // Buffers for in-flight loads (mixtral-offloading/AdapMoE buffer pools) hold whole experts; a prefetcher
        // gets its own staging buffers (by default a second pool of the same size).
        transferBufferBytes = Double((config.runtime.maxInFlightTransfers.value + stagingBuffers) * costs.expertBytes)
        runtimeReservedBytes = config.runtime.reservedDeviceBytes.value
        kvReserveBytes = Double(config.kvReserveTokens) * Double(costs.kvCacheBytesPerToken)
        let weightsAndBuffers = residentWeightBytes + transferBufferBytes + runtimeReservedBytes
        if weightsAndBuffers > deviceCapacityBytes {
            throw MoESimError(field: "--hardware", "the model's resident weights (\(ByteSize.format(residentWeightBytes))) plus transfer buffers and runtime reserve (\(ByteSize.format(transferBufferBytes + runtimeReservedBytes))) do not fit in \(ByteSize.format(deviceCapacityBytes)) on \(config.hardware.name)",
                              hint: "try a smaller --quant or a larger device")
        }
        try MemoryPlanRules.checkKVReserve(tokens: config.kvReserveTokens, bytes: kvReserveBytes, free: deviceCapacityBytes - weightsAndBuffers, hardware: config.hardware)
        let free = deviceCapacityBytes - weightsAndBuffers - kvReserveBytes
        // With sizes that vary by layer (GGUF presets), a byte budget is counted in experts of the mean size, and
        // the cache's bytes are each layer's capacity times that layer's size (a global pool: times the mean).
        let fittingBytes = Int(costs.meanExpertBytes.rounded(.up))
        cacheCapacities = try config.cache.resolve(layers: model.moeLayers, experts: model.experts, expertBytes: fittingBytes,
                                                   freeBytes: max(0, free), allocation: allocation)
        expertCacheBytes = cacheCapacities.count == model.moeLayers
            ? cacheCapacities.enumerated().reduce(0.0) { $0 + Double($1.element * costs.expertBytes(layer: $1.offset)) }
            : Double(cacheCapacities.reduce(0, +)) * costs.meanExpertBytes
        try MemoryPlanRules.checkHostHolds(config: config, expertBytes: costs.expertBytes, cachedExperts: cacheCapacities.reduce(0, +))
        if expertCacheBytes > 0 && expertCacheBytes > free {
            throw MoESimError(field: "--cache",
                              "the cache (\(cacheCapacities.reduce(0, +)) experts, \(ByteSize.format(expertCacheBytes))) is larger than the device memory left for it (\(ByteSize.format(max(0, free))) of \(ByteSize.format(deviceCapacityBytes)) on \(config.hardware.name), after \(ByteSize.format(residentWeightBytes)) resident weights, \(ByteSize.format(transferBufferBytes)) transfer buffers, \(ByteSize.format(runtimeReservedBytes)) runtime reserve and \(ByteSize.format(kvReserveBytes)) KV cache for \(config.kvReserveTokens) tokens)",
                              hint: "use a smaller capacity, `fit`, a smaller --quant, or --kv-reserve-tokens")
        }
    }
}
