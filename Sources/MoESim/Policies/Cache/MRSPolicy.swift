/// Minus Recent Score (HybriMoE, papers.md §1.8): every routed token updates each expert's score of that layer,
/// S <- alpha * TopP(s) + (1 - alpha) * S, where TopP(s) keeps the router's top-p scores and zeroes the rest;
/// the resident with the lowest S is evicted (ties: least recently used). Defaults alpha = 0.5, p = 2 x top-k.
/// Deviation: with `topk` traces only the recorded top-k scores are known, so TopP keeps those (top-k <= p);
/// `full` traces give the real top-p.
public final class MRSPolicy: EvictionPolicy {
    public static let defaultAlpha: Float = 0.5
    public let capacity: Int
    public let alpha: Float
    private let residents: ResidentSet
    private let score: FixedArray<Float>
    private let expertsPerLayer: Int
    private var topP: [Float] = []

    public init(capacity: Int, keySpace: Int, expertsPerLayer: Int, alpha: Float = MRSPolicy.defaultAlpha) {
        self.capacity = capacity
        self.alpha = alpha
        self.expertsPerLayer = expertsPerLayer
        residents = ResidentSet(capacity: capacity, keySpace: keySpace)
        score = FixedArray(repeating: 0, count: keySpace)
    }

    public var count: Int { residents.count }
    public func contains(_ key: Int) -> Bool { residents.contains(key) }
    public var observesRouting: Bool { true }
    public func currentScore(_ key: Int) -> Float { score[key] }

    public func observe(_ cell: RoutingCell) {
        let base = cell.layer * expertsPerLayer
        let decay = 1 - alpha
        for e in 0..<expertsPerLayer { score[base + e] *= decay }
        let n = cell.experts.count
        guard n > 0, !cell.weights.isEmpty else { return }
        if cell.weightsAreFull {
            // Top-p of the full softmax, p = 2 x the experts the token selects.
            let p = min(expertsPerLayer, 2 * n)
            topP.removeAll(keepingCapacity: true)
            for e in 0..<expertsPerLayer { topP.append(cell.weights[e]) }
            topP.sort(by: >)
            let threshold = topP[p - 1]
            var taken = 0
            for e in 0..<expertsPerLayer where taken < p && cell.weights[e] >= threshold {
                score[base + e] += alpha * cell.weights[e]
                taken += 1
            }
        } else {
            for i in 0..<n { score[base + Int(cell.experts[i])] += alpha * cell.weights[i] }
        }
    }

    public func touch(_ key: Int, context: AccessContext) { residents.lastAccess[key] = context.time }

    public func insert(_ key: Int, context: AccessContext) -> Admission {
        residents.admit(key, time: context.time) { self.score[$0] }
    }

    public func remove(_ key: Int) { residents.remove(key) }
    public var residentKeys: [Int] { residents.all.sorted() }
}
