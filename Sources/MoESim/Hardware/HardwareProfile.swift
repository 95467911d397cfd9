import Foundation

/// A device and the system around it, as a cost model sees them: memory, bandwidths, compute
/// throughputs and the link experts travel over. Every figure carries its source (`Sourced`).
/// Schema `moe-sim/hardware/1`; presets live in `Resources/hardware/`.
public struct HardwareProfile: Codable, Sendable {
    public var schema: String
    public var name: String
    public var aliases: [String]?
    public var title: String
    public var notes: String?
    public var device: Device
    /// Absent on unified-memory devices (Jetson): there, offloaded experts live on `storage`.
    public var hostLink: HostLink?
    public var host: Host
    public var storage: Storage?
    /// Where offloaded experts live: `host` memory (copied over `hostLink`) or `storage` (read into device memory).
    public var offloadTier: OffloadTier

    public enum OffloadTier: String, Codable, Sendable, CaseIterable, KnownJSONValues { case host, storage }

    public struct Device: Codable, Sendable {
        public var memoryBytes: Sourced<Double>
        public var memoryBandwidthBytesPerSecond: Sourced<Double>
        /// Fraction of the datasheet bandwidth real kernels reach (STREAM-like).
        public var achievedMemoryBandwidthFraction: Sourced<Double>
        /// Dense FP16/BF16 tensor throughput.
        public var fp16FlopsPerSecond: Sourced<Double>
        /// Dense INT8 tensor throughput.
        public var int8OpsPerSecond: Sourced<Double>
        /// Fraction of peak tensor throughput real GEMMs reach.
        public var achievedComputeFraction: Sourced<Double>
        /// Unified-memory devices: what the OS, firmware carveouts and CPU-side processes keep of `memoryBytes`, so
        /// the model never gets it (absent on discrete GPUs, whose memory the OS does not share).
        public var osReservedBytes: Sourced<Double>? = nil
    }

    public struct HostLink: Codable, Sendable {
        public var name: String
        /// Host-to-device bandwidth with pinned memory (measured, not theoretical).
        public var h2dBytesPerSecond: Sourced<Double>
        public var d2hBytesPerSecond: Sourced<Double>
        /// Fixed cost of one transfer (driver call, DMA setup).
        public var setupLatencySeconds: Sourced<Double>
        /// Independent DMA engines: with 2 or more, H2D and D2H run at the same time.
        public var copyEngines: Sourced<Double>
        /// Whether simultaneous H2D and D2H traffic slow each other down.
        public var bidirectionalContention: Sourced<Bool>
        /// H2D bandwidth while a D2H transfer is active (required when `bidirectionalContention`).
        public var h2dBytesPerSecondDuringD2H: Sourced<Double>?
        /// H2D bandwidth from pageable (unpinned) host memory; absent: `defaultPageableFraction` of the pinned figure.
        public var pageableH2DBytesPerSecond: Sourced<Double>?

        /// Pageable copies are staged through a pinned bounce buffer. peers.md §3.2 says "roughly half" of pinned
        /// (UNCONFIRMED); this value is FITTED to mixtral-offloading Table 2's naive-accelerate rows (peers.md §4.4),
        /// jointly with the runtimes' host costs (runtime mixtral-offloading-paper). Measured pageable H2D on an RTX 4090
        /// is 0.54-0.77 of pinned at 1-16 MiB and 0.54 at 64 MiB (peers.md §6.2): the fit is lower, as the naive row's
        /// copies also pay accelerate's per-tensor hooks.
        public static let defaultPageableFraction = 0.38

        /// The H2D rate a runtime gets, from pinned or pageable host buffers.
        public func h2dBytesPerSecond(pinned: Bool) -> Double {
            pinned ? h2dBytesPerSecond.value : (pageableH2DBytesPerSecond?.value ?? HostLink.defaultPageableFraction * h2dBytesPerSecond.value)
        }
    }

    public struct Host: Codable, Sendable {
        public var memoryBytes: Sourced<Double>
        public var memoryBandwidthBytesPerSecond: Sourced<Double>
        public var cpuFlopsPerSecond: Sourced<Double>
        public var cpuCores: Sourced<Double>
        /// Speed of the host core that drives the inference loop, relative to the reference host (the A100 presets'
        /// DGX-class EPYC). The runtime's fixed overheads (Python dispatch, kernel launches) are divided by it. Absent: 1.
        public var dispatchSpeedRelative: Sourced<Double>?
        /// Fraction of `memoryBandwidthBytesPerSecond` the CPU's expert kernels reach (CPU execution of experts:
        /// Fiddler, HybriMoE). Absent: `defaultCPUMemoryBandwidthFraction`.
        public var cpuAchievedMemoryBandwidthFraction: Sourced<Double>?
        /// Fraction of `cpuFlopsPerSecond` those kernels reach. Absent: `defaultCPUComputeFraction`.
        public var cpuAchievedComputeFraction: Sourced<Double>?

        public var dispatchSpeed: Double { dispatchSpeedRelative?.value ?? 1 }

        /// STREAM reaches 74-78 % of the DDR4 wire rate (TI SPRAD45A and SPRACV1B STREAM tables) and llama.cpp's CPU
        /// decode >= 53.3 of 68.2 GB/s (78 %) on an M1 (ggml-org/llama.cpp PR #1642). UNCONFIRMED for the desktop and
        /// server hosts of the presets; 0.75 is the low end of those figures.
        public static let defaultCPUMemoryBandwidthFraction = Sourced(0.75, source: "STREAM 74-78 % of DDR4 wire rate (TI SPRAD45A, SPRACV1B); llama.cpp PR #1642 M1 CPU decode >= 53.3 of 68.2 GB/s", unconfirmed: true)
        /// An estimate, UNCONFIRMED: batch-1 decode on the CPU is memory-bound, so this matters only for prefill.
        public static let defaultCPUComputeFraction = Sourced(0.5, source: "estimate (no measured CPU GEMM efficiency in the sources read)", unconfirmed: true)

        /// Host memory bandwidth the CPU's expert kernels reach.
        public var effectiveCPUMemoryBandwidthBytesPerSecond: Double {
            memoryBandwidthBytesPerSecond.value * (cpuAchievedMemoryBandwidthFraction ?? Host.defaultCPUMemoryBandwidthFraction).value
        }

        /// CPU throughput those kernels reach.
        public var effectiveCPUFlopsPerSecond: Double {
            cpuFlopsPerSecond.value * (cpuAchievedComputeFraction ?? Host.defaultCPUComputeFraction).value
        }
    }

    public struct Storage: Codable, Sendable {
        public var name: String
        public var readBytesPerSecond: Sourced<Double>
        public var setupLatencySeconds: Sourced<Double>
    }

    // MARK: Derived figures used by the cost model

    /// Memory bandwidth real kernels reach.
    public var effectiveMemoryBandwidthBytesPerSecond: Double {
        device.memoryBandwidthBytesPerSecond.value * device.achievedMemoryBandwidthFraction.value
    }

    public var effectiveFP16FlopsPerSecond: Double {
        device.fp16FlopsPerSecond.value * device.achievedComputeFraction.value
    }

    public var effectiveInt8OpsPerSecond: Double {
        device.int8OpsPerSecond.value * device.achievedComputeFraction.value
    }

    /// Every figure with its path, for `sim hardware show` and for validation.
    public var figures: [(path: String, value: String, source: String, unconfirmed: Bool)] {
        var out: [(String, String, String, Bool)] = []
        func add<V>(_ path: String, _ f: Sourced<V>?) {
            guard let f else { return }
            out.append((path, "\(f.value)", f.source, f.unconfirmed ?? false))
        }
        add("device.memoryBytes", device.memoryBytes)
        add("device.memoryBandwidthBytesPerSecond", device.memoryBandwidthBytesPerSecond)
        add("device.achievedMemoryBandwidthFraction", device.achievedMemoryBandwidthFraction)
        add("device.fp16FlopsPerSecond", device.fp16FlopsPerSecond)
        add("device.int8OpsPerSecond", device.int8OpsPerSecond)
        add("device.achievedComputeFraction", device.achievedComputeFraction)
        add("device.osReservedBytes", device.osReservedBytes)
        if let link = hostLink {
            add("hostLink.h2dBytesPerSecond", link.h2dBytesPerSecond)
            add("hostLink.d2hBytesPerSecond", link.d2hBytesPerSecond)
            add("hostLink.setupLatencySeconds", link.setupLatencySeconds)
            add("hostLink.copyEngines", link.copyEngines)
            add("hostLink.bidirectionalContention", link.bidirectionalContention)
            add("hostLink.h2dBytesPerSecondDuringD2H", link.h2dBytesPerSecondDuringD2H)
        }
        add("host.memoryBytes", host.memoryBytes)
        add("host.memoryBandwidthBytesPerSecond", host.memoryBandwidthBytesPerSecond)
        add("host.cpuFlopsPerSecond", host.cpuFlopsPerSecond)
        add("host.cpuCores", host.cpuCores)
        if let speed = host.dispatchSpeedRelative { add("host.dispatchSpeedRelative", speed) }
        add("host.cpuAchievedMemoryBandwidthFraction", host.cpuAchievedMemoryBandwidthFraction ?? Host.defaultCPUMemoryBandwidthFraction)
        add("host.cpuAchievedComputeFraction", host.cpuAchievedComputeFraction ?? Host.defaultCPUComputeFraction)
        if let pageable = hostLink?.pageableH2DBytesPerSecond { add("hostLink.pageableH2DBytesPerSecond", pageable) }
        if let storage {
            add("storage.readBytesPerSecond", storage.readBytesPerSecond)
            add("storage.setupLatencySeconds", storage.setupLatencySeconds)
        }
        return out
    }

    /// Checks every rule a profile must meet; the error names the file and the field.
    public func validate(file: String) throws {
        guard schema == "moe-sim/hardware/1" else {
            throw MoESimError(file: file, field: "schema", "expected \"moe-sim/hardware/1\", found \"\(schema)\"")
        }
        func positive(_ path: String, _ f: Sourced<Double>?) throws {
            guard let f else { return }
            guard f.value.isFinite, f.value > 0 else {
                throw MoESimError(file: file, field: path + ".value", "must be a positive finite number, found \(f.value)")
            }
            guard !f.source.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw MoESimError(file: file, field: path + ".source", "every figure needs a source (URL or document)")
            }
        }
        func fraction(_ path: String, _ f: Sourced<Double>) throws {
            try positive(path, f)
            guard f.value <= 1 else { throw MoESimError(file: file, field: path + ".value", "must be a fraction in (0, 1], found \(f.value)") }
        }
        try positive("device.memoryBytes", device.memoryBytes)
        try positive("device.memoryBandwidthBytesPerSecond", device.memoryBandwidthBytesPerSecond)
        try fraction("device.achievedMemoryBandwidthFraction", device.achievedMemoryBandwidthFraction)
        try positive("device.fp16FlopsPerSecond", device.fp16FlopsPerSecond)
        try positive("device.int8OpsPerSecond", device.int8OpsPerSecond)
        try fraction("device.achievedComputeFraction", device.achievedComputeFraction)
        if let reserve = device.osReservedBytes {
            try positive("device.osReservedBytes", reserve)
            guard reserve.value < device.memoryBytes.value else {
                throw MoESimError(file: file, field: "device.osReservedBytes.value", "must be less than device.memoryBytes (\(device.memoryBytes.value)), found \(reserve.value)")
            }
        }
        try positive("host.memoryBytes", host.memoryBytes)
        try positive("host.memoryBandwidthBytesPerSecond", host.memoryBandwidthBytesPerSecond)
        try positive("host.cpuFlopsPerSecond", host.cpuFlopsPerSecond)
        try positive("host.cpuCores", host.cpuCores)
        try positive("host.dispatchSpeedRelative", host.dispatchSpeedRelative)
        if let f = host.cpuAchievedMemoryBandwidthFraction { try fraction("host.cpuAchievedMemoryBandwidthFraction", f) }
        if let f = host.cpuAchievedComputeFraction { try fraction("host.cpuAchievedComputeFraction", f) }
        if let link = hostLink {
            try positive("hostLink.h2dBytesPerSecond", link.h2dBytesPerSecond)
            try positive("hostLink.d2hBytesPerSecond", link.d2hBytesPerSecond)
            guard link.setupLatencySeconds.value.isFinite, link.setupLatencySeconds.value >= 0 else {
                throw MoESimError(file: file, field: "hostLink.setupLatencySeconds.value", "must be a finite number >= 0")
            }
            try positive("hostLink.copyEngines", link.copyEngines)
            try positive("hostLink.pageableH2DBytesPerSecond", link.pageableH2DBytesPerSecond)
            guard link.copyEngines.value == link.copyEngines.value.rounded() else {
                throw MoESimError(file: file, field: "hostLink.copyEngines.value", "must be a whole number")
            }
            if link.bidirectionalContention.value {
                guard link.h2dBytesPerSecondDuringD2H != nil else {
                    throw MoESimError(file: file, field: "hostLink.h2dBytesPerSecondDuringD2H",
                                      "required when bidirectionalContention is true")
                }
                try positive("hostLink.h2dBytesPerSecondDuringD2H", link.h2dBytesPerSecondDuringD2H)
            }
        }
        if let storage {
            try positive("storage.readBytesPerSecond", storage.readBytesPerSecond)
            guard storage.setupLatencySeconds.value.isFinite, storage.setupLatencySeconds.value >= 0 else {
                throw MoESimError(file: file, field: "storage.setupLatencySeconds.value", "must be a finite number >= 0")
            }
        }
        switch offloadTier {
        case .host:
            guard hostLink != nil else {
                throw MoESimError(file: file, field: "offloadTier", "\"host\" needs a hostLink", hint: "use \"storage\" for unified-memory devices")
            }
        case .storage:
            guard storage != nil else { throw MoESimError(file: file, field: "storage", "required when offloadTier is \"storage\"") }
        }
        try HardwareBounds.check(self, file: file)
    }
}
