/// Replays a trace through one global LRU cache with a byte budget (experts sized per layer, as a flash-streaming
/// engine's cache holds them) and compares, cell by cell, whether each routed expert was resident with what the
/// recording engine reported (`resident`). Access order follows a llama.cpp-style engine: a prefill pass runs layer
/// by layer over all its tokens (each routed expert touched in token and rank order); a decode token runs layer by
/// layer, rank by rank. An expert is admitted on a miss, evicting the least recently used until it fits; one larger
/// than the budget is not kept.
public struct ResidencyComparison: Codable, Sendable {
    public var budgetBytes: Double
    /// Decode accesses compared (those with a recorded flag).
    public var decodeAccesses = 0
    public var bothResident = 0, bothMissing = 0
    /// The replay hit where the engine missed, and the other way round.
    public var simulatedOnly = 0, recordedOnly = 0
    /// Prefill accesses (they warm the cache; not compared).
    public var prefillAccesses = 0
    public var perLayer: [Layer] = []

    public struct Layer: Codable, Sendable {
        public var accesses = 0, simulatedHits = 0, recordedHits = 0, agreements = 0
    }

    public var simulatedHitRate: Double { Double(bothResident + simulatedOnly) / Double(max(1, decodeAccesses)) }
    public var recordedHitRate: Double { Double(bothResident + recordedOnly) / Double(max(1, decodeAccesses)) }
    /// Fraction of decode cells where the replay and the engine agree.
    public var agreement: Double { Double(bothResident + bothMissing) / Double(max(1, decodeAccesses)) }

    /// Replays `source` with `expertBytes[layer]` per expert and `budgetBytes` of cache.
    public static func run(source: TraceRecordSource, expertBytes: [Int], budgetBytes: Double) throws -> ResidencyComparison {
        let header = source.header
        guard expertBytes.count == header.layers else {
            throw MoESimError(file: source.path, "the model gives \(expertBytes.count) layers of expert sizes, the trace has \(header.layers)")
        }
        var result = ResidencyComparison(budgetBytes: budgetBytes)
        result.perLayer = Array(repeating: Layer(), count: header.layers)
        var lru = ByteBudgetLRU(keys: header.layers * header.experts, budget: budgetBytes)
        var pending: [TokenRecord] = []
        var pendingRequest = -1
        func flushPrefill() {
            for layer in 0..<header.layers {
                for t in pending where t.counts[layer] > 0 {
                    for i in 0..<Int(t.counts[layer]) {
                        _ = lru.access(layer * header.experts + Int(t.experts[layer * t.slotsPerLayer + i]), bytes: Double(expertBytes[layer]))
                        result.prefillAccesses += 1
                    }
                }
            }
            pending.removeAll()
        }
        var sawResidency = false
        while let item = try source.next() {
            guard case .token = item else { continue }
            let t = source.token
            if t.phase == .prefill {
                if t.request != pendingRequest { flushPrefill() }
                pendingRequest = t.request
                pending.append(t)
                continue
            }
            flushPrefill()
            pendingRequest = -1
            for layer in 0..<header.layers where t.counts[layer] > 0 {
                for i in 0..<Int(t.counts[layer]) {
                    let slot = layer * t.slotsPerLayer + i
                    let hit = lru.access(layer * header.experts + Int(t.experts[slot]), bytes: Double(expertBytes[layer]))
                    guard t.hasResidency else { continue }
                    sawResidency = true
                    let recorded = t.residency[slot] == 1
                    result.decodeAccesses += 1
                    result.perLayer[layer].accesses += 1
                    if hit { result.perLayer[layer].simulatedHits += 1 }
                    if recorded { result.perLayer[layer].recordedHits += 1 }
                    if hit == recorded { result.perLayer[layer].agreements += 1 }
                    switch (hit, recorded) {
                    case (true, true): result.bothResident += 1
                    case (false, false): result.bothMissing += 1
                    case (true, false): result.simulatedOnly += 1
                    case (false, true): result.recordedOnly += 1
                    }
                }
            }
        }
        flushPrefill()
        guard sawResidency else {
            throw MoESimError(file: source.path, "no decode token carries recorded residency (\"resident\")", hint: "import a route_trace with `sim trace import --from route-trace`")
        }
        return result
    }
}

/// An LRU over integer keys with a byte budget: a doubly linked list in arrays.
struct ByteBudgetLRU {
    private var prev: [Int32], next: [Int32], size: [Double]
    private var resident: [Bool]
    private var head: Int32 = -1, tail: Int32 = -1
    private var used = 0.0
    let budget: Double

    init(keys: Int, budget: Double) {
        prev = Array(repeating: -1, count: keys)
        next = Array(repeating: -1, count: keys)
        size = Array(repeating: 0, count: keys)
        resident = Array(repeating: false, count: keys)
        self.budget = budget
    }

    private mutating func unlink(_ k: Int) {
        let p = prev[k], n = next[k]
        if p >= 0 { next[Int(p)] = n } else { head = n }
        if n >= 0 { prev[Int(n)] = p } else { tail = p }
        prev[k] = -1
        next[k] = -1
    }

    private mutating func pushFront(_ k: Int) {
        next[k] = head
        prev[k] = -1
        if head >= 0 { prev[Int(head)] = Int32(k) }
        head = Int32(k)
        if tail < 0 { tail = Int32(k) }
    }

    /// Touches `key`; true when it was resident. A miss admits it (evicting from the cold end) if it fits at all.
    mutating func access(_ key: Int, bytes: Double) -> Bool {
        if resident[key] {
            unlink(key)
            pushFront(key)
            return true
        }
        guard bytes <= budget else { return false }
        while used + bytes > budget, tail >= 0 {
            let victim = Int(tail)
            unlink(victim)
            resident[victim] = false
            used -= size[victim]
        }
        resident[key] = true
        size[key] = bytes
        used += bytes
        pushFront(key)
        return false
    }
}
