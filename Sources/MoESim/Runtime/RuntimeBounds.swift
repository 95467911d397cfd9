/// The physical range of every figure of a runtime profile (see `FigureBound`).
public enum RuntimeBounds {
    typealias Bound = FigureBound<RuntimeProfile>

    static let overheadWhy = "a fixed software cost: Python dispatch and kernel launches take microseconds to milliseconds; 10 s is 1000x the slowest stack measured"

    /// One entry per figure; every numeric figure of `RuntimeProfile` has one (`HardwareBoundsTests` checks).
    public static let figures: [FigureBound<RuntimeProfile>] = [
        Bound("perLayerOverheadSeconds", 0...10, "s", why: overheadWhy) { $0.perLayerOverheadSeconds.value },
        Bound("perExpertOverheadSeconds", 0...10, "s", why: overheadWhy) { $0.perExpertOverheadSeconds.value },
        Bound("perPassOverheadSeconds", 0...10, "s", why: overheadWhy) { $0.perPassOverheadSeconds.value },
        Bound("maxInFlightTransfers", 1...1024, "", integer: true,
              why: "device buffers for loads: stacks use 1 to a few dozen; each holds a whole expert") { Double($0.maxInFlightTransfers.value) },
        Bound("reservedDeviceBytes", 0...1e14, "B", why: "device memory set aside: at most the largest device memory (see device.memoryBytes)") {
            $0.reservedDeviceBytes.value
        },
    ] + ["hqq2", "hqq3", "hqq4"].map { quant in
        Bound("expertKernelEfficiency.\(quant)", 0.01...1, "of the roofline",
              why: "a kernel reaches at most its roofline; below 1 % it would be slower than dequantising on the host") { $0.expertKernelEfficiency?[quant]?.value }
    }

    public static func check(_ runtime: RuntimeProfile, file: String) throws {
        try figures.check(runtime, file: file)
    }
}
