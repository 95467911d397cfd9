/// The physical range of every figure of a hardware profile, and the rules between figures. Each range spans every
/// real device by orders of magnitude either way (what-if studies stay possible) while keeping every time the cost
/// model derives finite and far from overflow: the bounds are what makes "a value in range never traps" true.
public enum HardwareBounds {
    typealias Bound = FigureBound<HardwareProfile>

    static let memoryWhy = "1 MB to 100 TB: the largest accelerator holds 192 GB (B200), the smallest offloading target some MB"
    static let bandwidthWhy = "100 MB/s to 100 TB/s: below any DRAM (an SD card reads ~100 MB/s) to 20x HBM3e (B200: 8 TB/s)"
    static let linkWhy = "1 MB/s to 10 TB/s: from USB 2 to 7x NVLink 5 (1.8 TB/s); PCIe 5 x16 moves 64 GB/s"
    static let fractionWhy = "a share of a peak figure: at most all of it, and at least 1 % (no kernel reaches less)"
    static let flopsWhy = "1 GFLOP/s to 1 EFLOP/s: a phone CPU core to 400x the fastest GPU (B200: 2.25 PFLOP/s dense FP16)"
    static let latencyWhy = "a driver call and DMA descriptor (microseconds) or an NVMe command (~100 us); a second is 1000x any of them"

    /// One entry per figure; every numeric figure of `HardwareProfile` has one (`HardwareBoundsTests` checks).
    public static let figures: [FigureBound<HardwareProfile>] = [
        Bound("device.memoryBytes", 1e6...1e14, "B", why: memoryWhy) { $0.device.memoryBytes.value },
        Bound("device.osReservedBytes", 0...1e14, "B", why: "the OS's share of a unified memory: at most the device memory") { $0.device.osReservedBytes?.value },
        Bound("device.memoryBandwidthBytesPerSecond", 1e8...1e14, "B/s", why: bandwidthWhy) { $0.device.memoryBandwidthBytesPerSecond.value },
        Bound("device.achievedMemoryBandwidthFraction", 0.01...1, "", why: fractionWhy) { $0.device.achievedMemoryBandwidthFraction.value },
        Bound("device.fp16FlopsPerSecond", 1e9...1e18, "FLOP/s", why: flopsWhy) { $0.device.fp16FlopsPerSecond.value },
        Bound("device.int8OpsPerSecond", 1e9...1e18, "OP/s", why: flopsWhy) { $0.device.int8OpsPerSecond.value },
        Bound("device.achievedComputeFraction", 0.01...1, "", why: fractionWhy) { $0.device.achievedComputeFraction.value },
        Bound("hostLink.h2dBytesPerSecond", 1e6...1e13, "B/s", why: linkWhy) { $0.hostLink?.h2dBytesPerSecond.value },
        Bound("hostLink.d2hBytesPerSecond", 1e6...1e13, "B/s", why: linkWhy) { $0.hostLink?.d2hBytesPerSecond.value },
        Bound("hostLink.setupLatencySeconds", 0...1, "s", why: latencyWhy) { $0.hostLink?.setupLatencySeconds.value },
        Bound("hostLink.copyEngines", 1...64, "", integer: true,
              why: "DMA engines per device: GPUs have 1 to 7 (A100: 3 usable for copies); 64 is far above any") { $0.hostLink?.copyEngines.value },
        Bound("hostLink.h2dBytesPerSecondDuringD2H", 1e6...1e13, "B/s", why: linkWhy) { $0.hostLink?.h2dBytesPerSecondDuringD2H?.value },
        Bound("hostLink.pageableH2DBytesPerSecond", 1e6...1e13, "B/s", why: linkWhy) { $0.hostLink?.pageableH2DBytesPerSecond?.value },
        Bound("host.memoryBytes", 1e6...1e15, "B", why: "1 MB to 1 PB: servers hold up to some TB of DRAM") { $0.host.memoryBytes.value },
        Bound("host.memoryBandwidthBytesPerSecond", 1e8...1e14, "B/s", why: bandwidthWhy) { $0.host.memoryBandwidthBytesPerSecond.value },
        Bound("host.cpuFlopsPerSecond", 1e8...1e17, "FLOP/s",
              why: "100 MFLOP/s to 100 PFLOP/s: a microcontroller to 10,000x a 64-core EPYC (~5 TFLOP/s)") { $0.host.cpuFlopsPerSecond.value },
        Bound("host.cpuCores", 1...100_000, "", integer: true, why: "cores of one host: 1 to far above the largest (a few hundred)") { $0.host.cpuCores.value },
        Bound("host.dispatchSpeedRelative", 0.01...100, "",
              why: "a host core 100x slower or faster than the reference EPYC: beyond any real CPU") { $0.host.dispatchSpeedRelative?.value },
        Bound("host.cpuAchievedMemoryBandwidthFraction", 0.01...1, "", why: fractionWhy) { $0.host.cpuAchievedMemoryBandwidthFraction?.value },
        Bound("host.cpuAchievedComputeFraction", 0.01...1, "", why: fractionWhy) { $0.host.cpuAchievedComputeFraction?.value },
        Bound("storage.readBytesPerSecond", 1e6...1e12, "B/s",
              why: "1 MB/s to 1 TB/s: an SD card to 70x a PCIe 5 NVMe drive (14 GB/s)") { $0.storage?.readBytesPerSecond.value },
        Bound("storage.setupLatencySeconds", 0...1, "s", why: latencyWhy) { $0.storage?.setupLatencySeconds.value },
    ]

    /// Every figure in its range, then the rules between figures.
    public static func check(_ hardware: HardwareProfile, file: String) throws {
        try figures.check(hardware, file: file)
        guard let link = hardware.hostLink else { return }
        let pinned = link.h2dBytesPerSecond.value
        // Contention only takes bandwidth away: H2D with a D2H running cannot be faster than H2D alone.
        if let during = link.h2dBytesPerSecondDuringD2H?.value, during > pinned {
            throw MoESimError(file: file, field: "hostLink.h2dBytesPerSecondDuringD2H.value",
                              "\(JSONValue.format(during)) B/s is above hostLink.h2dBytesPerSecond (\(JSONValue.format(pinned)) B/s)",
                              hint: "traffic the other way only slows a copy down")
        }
        // Pageable copies are staged through a pinned buffer: never faster than pinned ones.
        if let pageable = link.pageableH2DBytesPerSecond?.value, pageable > pinned {
            throw MoESimError(file: file, field: "hostLink.pageableH2DBytesPerSecond.value",
                              "\(JSONValue.format(pageable)) B/s is above hostLink.h2dBytesPerSecond (\(JSONValue.format(pinned)) B/s)",
                              hint: "pageable copies go through a pinned bounce buffer, so they are never faster than pinned ones")
        }
    }
}
