import Foundation

/// A simple seeded routing generator for smoke tests, benchmarks and the bundled example trace.
///
/// Per layer, experts have Zipf-like popularity (exponent `popularitySkew`) over a per-layer random order;
/// with probability `reuseProbability` a token keeps each expert of the previous token at that layer
/// (temporal locality), otherwise it draws by popularity. The top-1 weight is uniform in
/// [`minTopWeight`, `maxTopWeight`], the rest share the remainder. These are plain parameters, not fitted to
/// recorded traces (`sim trace synth --profile zipf`); `ProfiledRoutingGenerator` draws routing fitted to one.
public struct SyntheticTraceGenerator {
    public struct Parameters: Sendable {
        public var popularitySkew = 0.8
        public var reuseProbability = 0.3
        public var minTopWeight = 0.5
        public var maxTopWeight = 0.95
        public init() {}
    }

    public let layers: Int
    public let experts: Int
    public let topK: Int
    public let parameters: Parameters
    private var rng: SeededGenerator
    /// Popularity CDF over popularity ranks (the same for every layer).
    private let cumulative: FixedArray<Double>
    /// `order[layer * experts + rank]`: which expert has that popularity rank at that layer.
    private let order: FixedArray<Int32>
    private let previous: FixedArray<Int32>
    private var hasPrevious = false
    static let weightResolution: Float = 10_000

    public init(layers: Int, experts: Int, topK: Int, seed: UInt64, parameters: Parameters = Parameters()) {
        self.layers = layers
        self.experts = experts
        self.topK = topK
        self.parameters = parameters
        rng = SeededGenerator(seed: seed)
        var rng2 = SeededGenerator(seed: seed ^ 0x5EED)
        let weights = (1...experts).map { 1.0 / pow(Double($0), parameters.popularitySkew) }
        let total = weights.reduce(0, +)
        var running = 0.0
        cumulative = FixedArray(repeating: 0, count: experts)
        for (i, w) in weights.enumerated() {
            running += w / total
            cumulative[i] = running
        }
        order = FixedArray(repeating: 0, count: layers * experts)
        for l in 0..<layers {
            var perm = (0..<experts).map(Int32.init)
            for i in stride(from: experts - 1, to: 0, by: -1) { perm.swapAt(i, rng2.nextInt(below: i + 1)) }
            for (i, e) in perm.enumerated() { order[l * experts + i] = e }
        }
        previous = FixedArray(repeating: 0, count: layers * topK)
    }

    public func header(model: String, sharedExperts: Int = 0) -> TraceHeader {
        TraceHeader(model: model, layers: layers, experts: experts, topK: topK, weights: .topk, sharedExperts: sharedExperts,
                    extra: [("source", .string("moe-sim SyntheticTraceGenerator (not a recorded trace)"))])
    }

    public func makeRecord() -> TokenRecord {
        TokenRecord(layers: layers, slotsPerLayer: topK, weightsPerLayer: topK, aheadSlotsPerLayer: experts)
    }

    private mutating func drawExpert(layer: Int) -> Int32 {
        let u = rng.nextUnit()
        var lo = 0, hi = experts - 1
        while lo < hi {
            let mid = (lo + hi) / 2
            if cumulative[mid] < u { lo = mid + 1 } else { hi = mid }
        }
        return order[layer * experts + lo]
    }

    /// Rounds a weight in [0, 1] to the generator's resolution (1e-4) without a libm call.
    @inline(__always) static func quantize(_ w: Double) -> Float {
        Float(Int(w * Double(weightResolution) + 0.5)) / weightResolution
    }

    /// Fills `record`'s routing for the next token.
    public mutating func next(into record: inout TokenRecord) {
        for l in 0..<layers {
            let base = l * topK
            var n = 0
            while n < topK {
                var candidate: Int32
                if hasPrevious && rng.nextUnit() < parameters.reuseProbability {
                    candidate = previous[base + n]
                } else {
                    candidate = drawExpert(layer: l)
                }
                var duplicate = false
                for j in 0..<n where record.experts[base + j] == candidate { duplicate = true }
                if duplicate { candidate = drawExpert(layer: l) }
                var again = false
                for j in 0..<n where record.experts[base + j] == candidate { again = true }
                if again { continue }
                record.experts[base + n] = candidate
                n += 1
            }
            record.counts[l] = Int8(topK)
            let span = parameters.maxTopWeight - parameters.minTopWeight
            let top = SyntheticTraceGenerator.quantize(parameters.minTopWeight + span * rng.nextUnit())
            if topK == 1 {
                record.weights[base] = 1
            } else {
                record.weights[base] = top
                let rest = SyntheticTraceGenerator.quantize(Double(1 - top) / Double(topK - 1))
                for i in 1..<topK { record.weights[base + i] = rest }
            }
        }
        for i in 0..<(layers * topK) { previous[i] = record.experts[i] }
        hasPrevious = true
    }
}
