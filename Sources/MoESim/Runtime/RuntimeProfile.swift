import Foundation

/// The software efficiency of an inference stack, apart from the hardware: fixed overheads, how misses are
/// handled and how transfers are buffered. Schema `moe-sim/runtime/1`; presets live in `Resources/runtimes/`.
/// Each figure is `Sourced`: its `source` says how the number was chosen.
public struct RuntimeProfile: Codable, Sendable {
    public var schema: String
    public var name: String
    public var aliases: [String]?
    public var title: String
    public var notes: String?
    /// Fixed cost of each transformer layer's non-expert part (kernel launches, Python dispatch).
    public var perLayerOverheadSeconds: Sourced<Double>
    /// Fixed cost of running one expert (its kernel launches and routing glue).
    public var perExpertOverheadSeconds: Sourced<Double>
    /// Fixed cost of each forward pass (sampling, the generation loop).
    public var perPassOverheadSeconds: Sourced<Double>
    /// Quantized experts are dequantized inside the matmul; when false, an fp16 copy is written and read back.
    public var fusedDequant: Sourced<Bool>
    /// Evicting an expert copies it back to the host (mixtral-offloading's swap: one D2H per miss).
    public var writeBackOnEvict: Sourced<Bool>
    /// Device buffers for loads: an on-demand load holds one from issue until its expert has been computed,
    /// so at most this many are outstanding; further loads wait for a buffer. A prefetcher has its own pool of this size.
    public var maxInFlightTransfers: Sourced<Int>
    /// Each expert matrix travels as its own transfer, and compute on a matrix starts as soon as it has arrived.
    public var subMatrixPipelining: Sourced<Bool>
    /// Device memory the stack holds besides weights and KV cache (context, activations, allocator slack).
    public var reservedDeviceBytes: Sourced<Double>
    /// Host copies of the experts are pinned (page-locked); unpinned copies move at the link's pageable rate. Absent: true.
    public var hostMemoryPinned: Sourced<Bool>?
    /// The CUDA streams the stack issues copies and kernels on. Absent: `compute-and-copy`.
    public var streams: Sourced<StreamLayout>?
    /// Where the host thread waits for the GPU. Absent: `per-layer` (every offloading stack reads the router's choice).
    public var hostSync: Sourced<HostSyncPoints>?
    /// The order of a swap's load and write-back. Absent: `load-first`.
    public var swapOrder: Sourced<SwapOrder>?
    /// The missed expert is copied into the evicted expert's device memory, so its load cannot start before that
    /// expert's write-back has left the device. Absent: false (meaningful only with `writeBackOnEvict`).
    public var slotReuseWaitsForWriteBack: Sourced<Bool>?
    /// Fraction of the device's achieved memory-bandwidth roofline that the stack's expert kernel reaches, per
    /// quantization name (`hqq2`, `hqq3`, ...): low-bit dequantising GEMV kernels run below the roofline. Absent
    /// for a quantization: 1.
    public var expertKernelEfficiency: [String: Sourced<Double>]?

    public var pinsHostMemory: Bool { hostMemoryPinned?.value ?? true }
    public var streamLayout: StreamLayout { streams?.value ?? .computeAndCopy }
    public var hostSyncPoints: HostSyncPoints { hostSync?.value ?? .perLayer }
    /// A refill that reuses the evicted expert's memory implies the write-back goes first.
    public var swapCopyOrder: SwapOrder { swapOrder?.value ?? (refillWaitsForWriteBack ? .writeBackFirst : .loadFirst) }
    public var refillWaitsForWriteBack: Bool { slotReuseWaitsForWriteBack?.value ?? false }
    /// The expert kernel's efficiency for `quantization` (1 when the profile does not name it).
    public func kernelEfficiency(quantization: String) -> Double { expertKernelEfficiency?[quantization]?.value ?? 1 }

    public func validate(file: String) throws {
        guard schema == "moe-sim/runtime/1" else {
            throw MoESimError(file: file, field: "schema", "expected \"moe-sim/runtime/1\", found \"\(schema)\"")
        }
        for (field, value) in [("perLayerOverheadSeconds", perLayerOverheadSeconds.value), ("perExpertOverheadSeconds", perExpertOverheadSeconds.value),
                               ("perPassOverheadSeconds", perPassOverheadSeconds.value), ("reservedDeviceBytes", reservedDeviceBytes.value)]
        where !(value.isFinite && value >= 0) {
            throw MoESimError(file: file, field: field + ".value", "must be a finite number >= 0, found \(value)")
        }
        for (name, efficiency) in (expertKernelEfficiency ?? [:]).sorted(by: { $0.key < $1.key }) where !(efficiency.value.isFinite && efficiency.value > 0 && efficiency.value <= 1) {
            throw MoESimError(file: file, field: "expertKernelEfficiency.\(name).value", "must be a fraction in (0, 1], found \(efficiency.value)")
        }
        if refillWaitsForWriteBack && swapOrder?.value == .loadFirst {
            throw MoESimError(file: file, field: "swapOrder.value", "\"load-first\" contradicts slotReuseWaitsForWriteBack: a load into the evicted expert's memory cannot be issued before that memory's write-back",
                              hint: "use \"write-back-first\", or set slotReuseWaitsForWriteBack to false if loads go to a spare buffer")
        }
        guard maxInFlightTransfers.value >= 1 else {
            throw MoESimError(file: file, field: "maxInFlightTransfers.value", "must be at least 1, found \(maxInFlightTransfers.value)")
        }
        try RuntimeBounds.check(self, file: file)
    }
}

extension RuntimeProfile: Preset {
    public static let presetFolder = "runtimes"
    public static let noun = "runtime"
    public static let optionName = "--runtime"
    public static let listCommand = "sim runtime list"
}

/// The shipped runtime profiles, plus any user file given by path.
public typealias RuntimeCatalog = PresetCatalog<RuntimeProfile>
