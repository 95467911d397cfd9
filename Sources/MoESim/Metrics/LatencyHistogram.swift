import Foundation

/// Streaming latency statistics in constant memory: exact count, mean, min and max, and percentiles from
/// log-spaced buckets with a relative width of 0.1 % (so a reported percentile is within 0.1 % of the exact one).
/// Deterministic: the same latencies give the same figures.
public struct LatencyHistogram: Sendable, Equatable {
    static let minimumSeconds = 1e-9
    static let growth = 1.001
    static let logGrowth = log(growth)
    static let bucketCount = Int((log(1e6 / minimumSeconds) / logGrowth).rounded(.up)) + 1

    public private(set) var count = 0
    public private(set) var sum = 0.0
    public private(set) var minimum = Double.infinity
    public private(set) var maximum = 0.0
    private var buckets: [UInt32] = []

    public init() {}

    public mutating func record(_ seconds: Double) {
        if buckets.isEmpty { buckets = Array(repeating: 0, count: LatencyHistogram.bucketCount) }
        count += 1
        sum += seconds
        minimum = Swift.min(minimum, seconds)
        maximum = Swift.max(maximum, seconds)
        buckets[LatencyHistogram.bucket(seconds)] += 1
    }

    static func bucket(_ seconds: Double) -> Int {
        guard seconds > minimumSeconds else { return 0 }
        guard seconds.isFinite else { return bucketCount - 1 }
        return Swift.min(bucketCount - 1, Int((log(seconds / minimumSeconds) / logGrowth).rounded(.down)) + 1)
    }

    public var mean: Double? { count > 0 ? sum / Double(count) : nil }

    /// The q-quantile (0...1) by the nearest-rank rule, reported as the bucket's geometric midpoint
    /// clamped to the observed min and max.
    public func quantile(_ q: Double) -> Double? {
        guard count > 0 else { return nil }
        let rank = Swift.max(1, Int((q * Double(count)).rounded(.up)))
        var seen = 0
        for (i, n) in buckets.enumerated() where n > 0 {
            seen += Int(n)
            if seen >= rank {
                if i == 0 { return minimum }
                let low = LatencyHistogram.minimumSeconds * pow(LatencyHistogram.growth, Double(i - 1))
                let mid = low * sqrt(LatencyHistogram.growth)
                return Swift.min(maximum, Swift.max(minimum, mid))
            }
        }
        return maximum
    }

    public var summary: LatencySummary? {
        guard count > 0 else { return nil }
        return LatencySummary(count: count, meanSeconds: sum / Double(count), p50Seconds: quantile(0.5)!, p99Seconds: quantile(0.99)!,
                              minSeconds: minimum, maxSeconds: maximum)
    }
}

/// The numbers a report shows for a latency distribution. Percentiles are within 0.1 % (see `LatencyHistogram`).
public struct LatencySummary: Codable, Sendable, Equatable {
    public var count: Int
    public var meanSeconds: Double
    public var p50Seconds: Double
    public var p99Seconds: Double
    public var minSeconds: Double
    public var maxSeconds: Double
}
