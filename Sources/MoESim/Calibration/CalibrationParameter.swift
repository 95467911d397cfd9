/// A physical figure `sim calibrate` may fit: where it lives in a hardware or runtime profile, and the bounds
/// physics allows. Fits work on the logarithm of the value, so bounds are positive.
public struct CalibrationParameter: Sendable {
    public enum Profile: String, Sendable { case hardware, runtime }

    /// Name used with `--fit`.
    public var name: String
    public var profile: Profile
    /// Dotted path of the `Sourced` figure (its `.value` is fitted), e.g. `hostLink.h2dBytesPerSecond`.
    public var path: String
    public var lower: Double
    public var upper: Double
    public var unit: String
    public var description: String
    /// The figure's value where the profile leaves it out (the engine's default); nil: the profile must have it.
    public var valueWhenAbsent: Double?
    /// When set, the fitted number is a fraction of this figure (same profile): the profile stores fraction x it.
    public var relativeTo: String?
    /// Figures (same profile) that move in proportion: when the fit changes this one by a factor, each of these present
    /// in the base profile is multiplied by the same factor.
    public var scales: [String]

    public init(_ name: String, _ profile: Profile, _ path: String, _ lower: Double, _ upper: Double, _ unit: String, _ description: String,
                whenAbsent: Double? = nil, relativeTo: String? = nil, scales: [String] = []) {
        self.name = name
        self.profile = profile
        self.path = path
        self.lower = lower
        self.upper = upper
        self.unit = unit
        self.description = description
        self.valueWhenAbsent = whenAbsent
        self.relativeTo = relativeTo
        self.scales = scales
    }
}

/// The parameters `--fit` accepts: one line each (name, profile, JSON path, physical bounds, unit, meaning).
public enum CalibrationParameters {
    public static let all: [CalibrationParameter] = [
        .init("h2d-bandwidth", .hardware, "hostLink.h2dBytesPerSecond", 2.5e8, 5e11, "B/s",
              "pinned host-to-device copy rate (bounds: PCIe 1.0 x1 to NVLink-C2C)"),
        .init("link-rate", .hardware, "hostLink.h2dBytesPerSecond", 2.5e8, 5e11, "B/s",
              "the whole host link at once: pinned H2D rate, with D2H, concurrent and pageable rates moving in proportion (an unknown link width or generation)",
              scales: ["hostLink.d2hBytesPerSecond", "hostLink.h2dBytesPerSecondDuringD2H", "hostLink.pageableH2DBytesPerSecond"]),
        .init("d2h-bandwidth", .hardware, "hostLink.d2hBytesPerSecond", 2.5e8, 5e11, "B/s",
              "pinned device-to-host copy rate"),
        .init("concurrent-h2d-bandwidth", .hardware, "hostLink.h2dBytesPerSecondDuringD2H", 1e8, 5e11, "B/s",
              "host-to-device rate while a device-to-host copy runs"),
        .init("pageable-fraction", .hardware, "hostLink.pageableH2DBytesPerSecond", 0.05, 1, "of pinned",
              "pageable (unpinned) copy rate as a fraction of the pinned H2D rate",
              whenAbsent: HardwareProfile.HostLink.defaultPageableFraction, relativeTo: "hostLink.h2dBytesPerSecond"),
        .init("host-speed", .hardware, "host.dispatchSpeedRelative", 0.1, 5, "x reference host",
              "speed of the host thread that dispatches the model (divides the runtime's fixed overheads)", whenAbsent: 1),
        .init("memory-bandwidth-fraction", .hardware, "device.achievedMemoryBandwidthFraction", 0.05, 1, "of datasheet",
              "fraction of the device's datasheet memory bandwidth kernels reach"),
        .init("compute-fraction", .hardware, "device.achievedComputeFraction", 0.01, 1, "of peak",
              "fraction of the device's peak tensor throughput kernels reach"),
        .init("cpu-memory-bandwidth-fraction", .hardware, "host.cpuAchievedMemoryBandwidthFraction", 0.05, 1, "of host DRAM",
              "fraction of host memory bandwidth the CPU's expert kernels reach",
              whenAbsent: HardwareProfile.Host.defaultCPUMemoryBandwidthFraction.value),
        .init("storage-read-bandwidth", .hardware, "storage.readBytesPerSecond", 1e6, 1e11, "B/s",
              "read rate of the storage tier experts are loaded from"),
        .init("per-layer-overhead", .runtime, "perLayerOverheadSeconds", 1e-6, 0.1, "s",
              "the runtime's fixed host cost per transformer layer (on the reference host)"),
        .init("per-expert-overhead", .runtime, "perExpertOverheadSeconds", 1e-7, 0.01, "s",
              "the runtime's fixed host cost per expert run"),
        .init("per-pass-overhead", .runtime, "perPassOverheadSeconds", 1e-6, 1, "s",
              "the runtime's fixed cost per forward pass (sampling, generation loop)"),
        .init("kernel-efficiency-hqq2", .runtime, "expertKernelEfficiency.hqq2", 0.01, 1, "of roofline",
              "fraction of the memory roofline the stack's 2-bit HQQ expert kernel reaches", whenAbsent: 1),
        .init("kernel-efficiency-hqq3", .runtime, "expertKernelEfficiency.hqq3", 0.01, 1, "of roofline",
              "fraction of the memory roofline the stack's 3-bit HQQ expert kernel reaches", whenAbsent: 1),
        .init("kernel-efficiency-hqq4", .runtime, "expertKernelEfficiency.hqq4", 0.01, 1, "of roofline",
              "fraction of the memory roofline the stack's 4-bit HQQ expert kernel reaches", whenAbsent: 1),
    ]

    public static func named(_ name: String) throws -> CalibrationParameter {
        if let p = all.first(where: { $0.name == name }) { return p }
        let suggestion = NameMatching.closest(to: name, among: all.map(\.name))
        throw MoESimError(field: "--fit", "unknown parameter '\(name)'",
                          hint: (suggestion.map { "did you mean \($0)? " } ?? "") + "parameters: \(all.map(\.name).joined(separator: ", "))")
    }

    /// `sim calibrate --help`'s table of parameters.
    public static var helpTable: String {
        let width = (all.map(\.name.count).max() ?? 0) + 2
        return all.map { p in
            "  " + p.name + String(repeating: " ", count: width - p.name.count) + "\(p.profile.rawValue) \(p.path) "
                + "[\(bound(p.lower))..\(bound(p.upper)) \(p.unit)]: \(p.description)"
        }.joined(separator: "\n")
    }

    static func bound(_ v: Double) -> String { v >= 1e4 || v < 1e-2 ? String(format: "%.3g", v) : JSONValue.format(v) }
}
