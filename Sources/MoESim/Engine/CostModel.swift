/// Turns work into seconds for one hardware profile, model, quantization and runtime.
///
/// Every GPU step is a roofline: max(bytes moved / achieved memory bandwidth, flops / achieved tensor
/// throughput); an expert's kernel reaches the runtime's `expertKernelEfficiency` of it for its weight format.
/// Decode is memory-bound, prefill compute-bound; the roofline covers both without a special case.
///
/// The runtime's fixed overheads are host time, not GPU time (`hostLayerSeconds`, `hostExpertSeconds`,
/// `hostPassSeconds`): the executor runs them on the host thread's own timeline, which the GPU cannot run ahead of
/// (a kernel starts only once the host has issued it) and which waits for the GPU at the runtime's sync points.
public struct CostModel: Sendable {
    public let hardware: HardwareProfile
    public let model: ModelSpec
    public let quantization: Quantization
    public let runtime: RuntimeProfile

    public let memoryBandwidthBytesPerSecond: Double
    public let flopsPerSecond: Double
    /// Bytes of the largest routed expert (all of them, unless the quantization varies by layer, as GGUF presets do):
    /// what a buffer that holds any expert needs.
    public let expertBytes: Int
    /// Bytes of one routed expert of each MoE layer.
    public let expertBytesByLayer: [Int]
    /// Mean of `expertBytesByLayer`: what one expert's compute reads on average (compute costs are per model, not per layer).
    public let meanExpertBytes: Double
    /// Transfer units of the largest expert: one entry, or one per matrix with sub-matrix pipelining.
    public let expertPartBytes: [Int]
    /// `expertPartBytes` of each MoE layer.
    public let expertPartBytesByLayer: [[Int]]
    /// Bytes an expert's compute reads: its stored bytes, plus writing and reading an fp16 copy if dequantization is not fused.
    public let expertComputeBytes: Double
    public let sharedExpertComputeBytes: Double
    public let attentionWeightBytesPerLayer: Double
    public let kvBytesPerTokenPerLayer: Double
    public let residentWeightBytes: Int
    public let kvCacheBytesPerToken: Int

    // Scalars the per-event paths use, computed once.
    /// Host time to issue one transformer layer's non-expert part (after dividing by the host's dispatch speed).
    public let hostLayerSeconds: Double
    /// Host time to issue one expert's kernels and routing glue.
    public let hostExpertSeconds: Double
    /// Host time per forward pass (sampling, the generation loop).
    public let hostPassSeconds: Double
    /// The expert kernel's fraction of the roofline for this quantization (`RuntimeProfile.expertKernelEfficiency`).
    public let expertKernelEfficiency: Double
    let expertFlopsPerToken: Double
    /// The expert kernel's memory-bound time, and its compute-bound time per token, at its kernel efficiency: the
    /// roofline of `expertSeconds` with its divisions done once (it runs once per computed expert).
    let expertMemorySeconds: Double
    let expertComputeSecondsPerToken: Double
    let sharedExperts: Double
    let sharedExpertFlopsPerToken: Double
    let attentionWeightFlopsPerToken: Double
    let attentionScoreFlopsPerPosition: Double
    let denseFFNBytes: Double
    let denseFFNFlopsPerToken: Double
    let lmHeadBytes: Double
    let lmHeadFlopsPerToken: Double
    /// Share of an expert's compute that belongs to each transfer part (by bytes).
    let expertPartShares: [Double]
    /// Sliding-window attention: window length and period (0 when every layer attends to the full context).
    let slidingWindowTokens: Int
    let slidingWindowEveryN: Int

    // CPU execution of experts (Fiddler, HybriMoE): a roofline over host memory and CPU throughput.
    public let cpuMemoryBandwidthBytesPerSecond: Double
    public let cpuFlopsPerSecond: Double
    /// Activations sent to the CPU (and its results sent back) per token: one fp16 hidden vector each way.
    public let activationBytesPerToken: Int

    static let flopsPerMultiplyAdd = 2.0
    /// QK^T and AV, each a multiply-add per head dimension and attended position.
    static let attentionMatmuls = 2.0
    static let fp16Bytes = 2.0

    public init(hardware: HardwareProfile, model: ModelSpec, quantization: Quantization, runtime: RuntimeProfile) {
        self.hardware = hardware
        self.model = model
        self.quantization = quantization
        self.runtime = runtime
        memoryBandwidthBytesPerSecond = hardware.effectiveMemoryBandwidthBytesPerSecond
        flopsPerSecond = hardware.effectiveFP16FlopsPerSecond
        expertBytesByLayer = quantization.expertBytesByLayer(model)
        expertBytes = expertBytesByLayer.max() ?? 0
        meanExpertBytes = Double(expertBytesByLayer.reduce(0, +)) / Double(max(1, expertBytesByLayer.count))
        let pipelined = runtime.subMatrixPipelining.value
        let matrixBytes = quantization.expertMatrixBytes(model)
        expertPartBytes = pipelined ? matrixBytes : [expertBytes]
        // One table per layer only when sizes differ: a uniform model keeps a single shared entry.
        expertPartBytesByLayer = Set(expertBytesByLayer).count <= 1 ? [expertPartBytes]
            : (0..<model.moeLayers).map { l in pipelined ? quantization.expertMatrixBytes(model, layer: l) : [quantization.expertBytes(model, layer: l)] }
        let needsFP16Copy = quantization.expertFormat.isQuantized && !runtime.fusedDequant.value
        // An unfused dequantization writes an fp16 copy of the weights and the matmul reads it back.
        let fp16CopyTraffic = 2 * CostModel.fp16Bytes
        expertComputeBytes = meanExpertBytes + (needsFP16Copy ? fp16CopyTraffic * Double(model.expertParams) : 0)
        sharedExpertComputeBytes = Double(quantization.sharedExpertBytes(model)) + (needsFP16Copy ? fp16CopyTraffic * Double(model.sharedExpertParams) : 0)
        attentionWeightBytesPerLayer = Double(quantization.attentionBytesPerLayer(model))
            + CostModel.fp16Bytes * Double(model.routerParamsPerLayer + model.normParamsPerLayer)
        kvBytesPerTokenPerLayer = Double(model.attention.kvCacheElementsPerToken * Quantization.kvCacheBytesPerElement)
        residentWeightBytes = quantization.residentWeightBytes(model)
        kvCacheBytesPerToken = quantization.kvCacheBytesPerToken(model)

        // The runtime's fixed costs are host-side work (dispatch, launches), so a slower host core stretches them.
        let hostSpeed = hardware.host.dispatchSpeed
        hostLayerSeconds = runtime.perLayerOverheadSeconds.value / hostSpeed
        hostExpertSeconds = runtime.perExpertOverheadSeconds.value / hostSpeed
        hostPassSeconds = runtime.perPassOverheadSeconds.value / hostSpeed
        expertKernelEfficiency = runtime.kernelEfficiency(quantization: quantization.name)
        expertFlopsPerToken = CostModel.flopsPerMultiplyAdd * Double(model.expertParams)
        expertMemorySeconds = expertComputeBytes / memoryBandwidthBytesPerSecond / expertKernelEfficiency
        expertComputeSecondsPerToken = expertFlopsPerToken / flopsPerSecond / expertKernelEfficiency
        sharedExperts = Double(model.sharedExperts)
        sharedExpertFlopsPerToken = CostModel.flopsPerMultiplyAdd * Double(model.sharedExpertParams)
        attentionWeightFlopsPerToken = CostModel.flopsPerMultiplyAdd * Double(model.attention.paramsPerLayer + model.routerParamsPerLayer)
        attentionScoreFlopsPerPosition = CostModel.attentionMatmuls * CostModel.flopsPerMultiplyAdd * Double(model.attention.heads * model.attention.headDim)
        denseFFNBytes = Double(quantization.expertFormat.bytes(inFeatures: model.hiddenSize, outFeatures: max(1, model.denseFFNParams / model.hiddenSize)))
        denseFFNFlopsPerToken = CostModel.flopsPerMultiplyAdd * Double(model.denseFFNParams)
        let lmHeadParams = model.lmHeadParams > 0 ? model.lmHeadParams : model.embeddingParams
        lmHeadBytes = CostModel.fp16Bytes * Double(lmHeadParams)
        lmHeadFlopsPerToken = CostModel.flopsPerMultiplyAdd * Double(lmHeadParams)
        expertPartShares = expertPartBytes.map { Double($0) / Double(quantization.expertBytes(model)) }
        cpuMemoryBandwidthBytesPerSecond = hardware.host.effectiveCPUMemoryBandwidthBytesPerSecond
        cpuFlopsPerSecond = hardware.host.effectiveCPUFlopsPerSecond
        activationBytesPerToken = Int(CostModel.fp16Bytes) * model.hiddenSize
        slidingWindowTokens = model.attention.slidingWindow?.window ?? 0
        slidingWindowEveryN = model.attention.slidingWindow?.layersEveryN ?? 0
    }

    /// Bytes of one routed expert of MoE layer `layer`.
    @inline(__always) public func expertBytes(layer: Int) -> Int {
        expertBytesByLayer.count == 1 ? expertBytesByLayer[0] : expertBytesByLayer[layer]
    }

    /// Transfer units of one routed expert of MoE layer `layer`.
    @inline(__always) public func expertPartBytes(layer: Int) -> [Int] {
        expertPartBytesByLayer.count == 1 ? expertPartBytesByLayer[0] : expertPartBytesByLayer[layer]
    }

    @inline(__always) func roofline(bytes: Double, flops: Double) -> Double {
        max(bytes / memoryBandwidthBytesPerSecond, flops / flopsPerSecond)
    }

    /// Attention, router and norms of one layer for a pass of `queryTokens` tokens that together attend to
    /// `attendedPositions` positions and read `kvTokensRead` cached tokens.
    public func attentionSeconds(queryTokens: Int, attendedPositions: Int, kvTokensRead: Int) -> Double {
        let q = Double(queryTokens)
        let bytes = attentionWeightBytesPerLayer + kvBytesPerTokenPerLayer * (Double(kvTokensRead) + q)
        let flops = attentionWeightFlopsPerToken * q + attentionScoreFlopsPerPosition * Double(attendedPositions)
        return roofline(bytes: bytes, flops: flops)
    }

    /// One routed expert applied to `tokens` tokens (whole expert) on the GPU.
    @inline(__always) public func expertSeconds(tokens: Int) -> Double {
        max(expertMemorySeconds, expertComputeSecondsPerToken * Double(tokens))
    }

    /// The share of `expertSeconds` spent on transfer part `part` (proportional to its bytes).
    @inline(__always) public func expertPartSeconds(tokens: Int, part: Int) -> Double {
        if expertPartShares.count == 1 { return expertSeconds(tokens: tokens) }
        return expertSeconds(tokens: tokens) * expertPartShares[part]
    }

    /// One routed expert applied to `tokens` tokens on the CPU, from its host copy (same format as the device's): a
    /// roofline over host memory (its bytes) and CPU throughput (the multiply-adds, plus dequantising every weight to
    /// fp32 once per call: `WeightFormat.cpuDequantOpsPerWeight`), plus the runtime's per-expert dispatch cost. Cached
    /// CPU weights are not modelled (each call streams the expert from DRAM), as HybriMoE's "CPU time linear in the
    /// workload" (papers.md §4.2) suggests.
    public func cpuExpertSeconds(tokens: Int) -> Double {
        hostExpertSeconds + max(meanExpertBytes / cpuMemoryBandwidthBytesPerSecond,
                                (expertFlopsPerToken * Double(tokens) + cpuDequantFlopsPerExpert) / cpuFlopsPerSecond)
    }

    /// Flops-equivalent of dequantising one expert's weights on the CPU.
    var cpuDequantFlopsPerExpert: Double {
        Double(model.expertParams) * quantization.expertFormat.cpuDequantOpsPerWeight * WeightFormat.flopsPerDequantOp
    }

    /// The cost of an expert stored in another quantization (HOBBIT's low-precision copy).
    public func form(_ quantization: Quantization) -> ExpertForm {
        let bytes = quantization.expertBytes(model)
        let matrixBytes = quantization.expertMatrixBytes(model)
        let needsFP16Copy = quantization.expertFormat.isQuantized && !runtime.fusedDequant.value
        let partBytes = runtime.subMatrixPipelining.value ? matrixBytes : [bytes]
        return ExpertForm(quantization: quantization.name, bytes: bytes, partBytes: partBytes,
                          computeBytes: Double(bytes) + (needsFP16Copy ? 2 * CostModel.fp16Bytes * Double(model.expertParams) : 0),
                          partShares: partBytes.map { Double($0) / Double(bytes) },
                          kernelEfficiency: runtime.kernelEfficiency(quantization: quantization.name))
    }

    /// `expertPartSeconds` for an expert in `form` (at the kernel efficiency of that form's quantization).
    public func expertPartSeconds(tokens: Int, part: Int, form: ExpertForm) -> Double {
        let work = roofline(bytes: form.computeBytes, flops: expertFlopsPerToken * Double(tokens)) / form.kernelEfficiency
        return form.partShares.count == 1 ? work : work * form.partShares[part]
    }

    /// All shared experts of one layer (always resident).
    public func sharedExpertsSeconds(tokens: Int) -> Double {
        guard sharedExperts > 0 else { return 0 }
        return roofline(bytes: sharedExpertComputeBytes * sharedExperts, flops: sharedExpertFlopsPerToken * sharedExperts * Double(tokens))
    }

    /// The dense FFN of a non-MoE layer (DeepSeek-V2-Lite's first layer).
    public func denseFFNSeconds(tokens: Int) -> Double {
        roofline(bytes: denseFFNBytes, flops: denseFFNFlopsPerToken * Double(tokens))
    }

    /// GPU work once per pass: the LM head for the tokens that need logits (the per-pass host time is `hostPassSeconds`).
    public func lmHeadSeconds(logitTokens: Int) -> Double {
        roofline(bytes: lmHeadBytes, flops: lmHeadFlopsPerToken * Double(logitTokens))
    }

    /// Positions a token at `contextLength` attends to in `layer` (sliding-window layers cap it).
    @inline(__always) public func attendedContext(layer: Int, contextLength: Int) -> Int {
        if slidingWindowEveryN > 0 && layer % slidingWindowEveryN == 0 { return min(contextLength, slidingWindowTokens) }
        return contextLength
    }
}

/// A routed expert stored in some quantization: what moving it and computing it cost.
public struct ExpertForm: Sendable, Equatable {
    public var quantization: String
    public var bytes: Int
    /// Transfer units: one entry, or one per matrix with sub-matrix pipelining.
    public var partBytes: [Int]
    /// Bytes its compute reads (an unfused dequantization adds an fp16 copy written and read back).
    public var computeBytes: Double
    public var partShares: [Double]
    /// Its kernel's fraction of the roofline (`RuntimeProfile.expertKernelEfficiency`).
    public var kernelEfficiency: Double = 1
}
