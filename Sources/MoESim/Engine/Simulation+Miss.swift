import Foundation

/// The run as the miss policies see it (`MissContext`): the current layer's routing, what is cached, and the costs
/// and free times of the link and the CPU (from the transfer manager and the miss executor).
extension Simulation {
    public var routedAt: Double { miss.routedAt }

    public var routedExperts: [Int] { (0..<currentJobs).map { Int(router.distinct[$0]) } }

    public func tokens(expert: Int) -> Int { Int(router.tokensPerExpert[expert]) }

    public func gate(expert: Int) -> ExpertGate? { router.gateStatistics?.gate(expert: expert) }

    public func isCached(layer: Int, expert: Int) -> Bool { cache.contains(layer * experts + expert) }

    public func isPinned(layer: Int, expert: Int) -> Bool {
        cache.group(ofLayer: layer).pins(layer * experts + expert)
    }

    public func gpuSeconds(tokens: Int, lowPrecision: Bool) -> Double { miss.gpuSeconds(tokens: tokens, lowPrecision: lowPrecision) }

    public func loadSeconds(lowPrecision: Bool) -> Double { miss.loadSeconds(lowPrecision: lowPrecision) }

    public var linkFreeAt: Double { transfers.onDemandFreeAt(loadSeconds: miss.loadSeconds(lowPrecision: false)) }

    public var cpuAvailable: Bool { miss.cpuAvailable }

    public var cpuFreeAt: Double { miss.cpuFreeAt }

    public func cpuSeconds(tokens: Int) -> Double { costs.cpuExpertSeconds(tokens: tokens) }

    public func activationToHostSeconds(tokens: Int) -> Double { miss.activationToHostSeconds(tokens: tokens) }

    public func activationToDeviceSeconds(tokens: Int) -> Double { miss.activationToDeviceSeconds(tokens: tokens) }

    /// What the miss policy did; nil for `load`.
    var missReport: Report.Miss? {
        asksOnMiss ? miss.report(config: config, weightsRecorded: source.header.weights != .none, makespanSeconds: metrics.makespanSeconds) : nil
    }
}
