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

    public var pinsHostMemory: Bool { hostMemoryPinned?.value ?? true }

    public func validate(file: String) throws {
        guard schema == "moe-sim/runtime/1" else {
            throw MoESimError(file: file, field: "schema", "expected \"moe-sim/runtime/1\", found \"\(schema)\"")
        }
        for (field, value) in [("perLayerOverheadSeconds", perLayerOverheadSeconds.value), ("perExpertOverheadSeconds", perExpertOverheadSeconds.value),
                               ("perPassOverheadSeconds", perPassOverheadSeconds.value), ("reservedDeviceBytes", reservedDeviceBytes.value)]
        where !(value.isFinite && value >= 0) {
            throw MoESimError(file: file, field: field + ".value", "must be a finite number >= 0, found \(value)")
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
