/// Mattson's stack algorithm: one pass over the access stream gives LRU hit counts for every capacity at once
/// (an access hits an LRU cache of capacity c exactly when its reuse distance, the number of distinct keys
/// used since the key's last access, is below c). Valid for caches that start empty (the inclusion property);
/// `CacheOnlyReplay` is used otherwise. Per-layer stacks (a layer's few experts) are flat move-to-front arrays,
/// O(distance) per access; the global stack (every key of every layer) is a `ReuseDistanceTree`, O(log keys).
public final class LRUStackDistances {
    public let layers: Int
    public let experts: Int
    public let layout: CacheSpec.Layout
    private let depth: Int
    /// Most recently used first; one stack per layer, or one for all keys.
    private let stacks: FixedArray<Int32>
    private let stackSizes: FixedArray<Int>
    /// `histogramFlat[layer * depth + d]`: accesses at that layer with reuse distance d (cold misses not counted).
    private let histogramFlat: FixedArray<Int>
    private let accesses: FixedArray<Int>
    private let tree: ReuseDistanceTree?

    public init(layers: Int, experts: Int, layout: CacheSpec.Layout) {
        self.layers = layers
        self.experts = experts
        self.layout = layout
        depth = layout == .perLayer ? experts : layers * experts
        let stackCount = layout == .perLayer ? layers : 1
        stacks = FixedArray(repeating: -1, count: layout == .perLayer ? stackCount * depth : 0)
        stackSizes = FixedArray(repeating: 0, count: stackCount)
        histogramFlat = FixedArray(repeating: 0, count: layers * depth)
        accesses = FixedArray(repeating: 0, count: layers)
        tree = layout == .global ? ReuseDistanceTree(keys: layers * experts) : nil
    }

    public func access(_ key: Int) {
        precondition(key >= 0 && key < layers * experts, "LRUStackDistances key \(key) out of range")
        if let tree { accessGlobal(key, tree) } else { accessPerLayer(key) }
    }

    /// Reuse distance from the tree, counted at the key's layer.
    @inline(__always) private func accessGlobal(_ key: Int, _ tree: ReuseDistanceTree) {
        let layer = key / experts
        accesses.base[layer] += 1
        let d = tree.access(key)
        if d >= 0 { histogramFlat.base[layer * depth + d] += 1 }
    }

    /// Move to front in the layer's stack (at most `experts` entries; keys are in range, checked by the caller).
    @inline(__always) private func accessPerLayer(_ key: Int) {
        let layer = key / experts
        let stack = stacks.base + layer * depth
        let k = Int32(key)
        accesses.base[layer] += 1
        let size = stackSizes.base[layer]
        var d = 0
        while d < size && stack[d] != k { d += 1 }
        if d < size {
            histogramFlat.base[layer * depth + d] += 1
        } else {
            stackSizes.base[layer] = size + 1
        }
        // Shift the first d entries down by one.
        var i = d
        while i > 0 {
            stack[i] = stack[i - 1]
            i -= 1
        }
        stack[0] = k
    }

    public var accessesPerLayer: [Int] { accesses.array }

    /// Hits per layer for a cache of `capacity` (experts per layer for per-layer, total for global).
    public func hits(capacity: Int) -> [Int] {
        (0..<layers).map { layer in (0..<min(max(0, capacity), depth)).reduce(0) { $0 + histogramFlat[layer * depth + $1] } }
    }

    /// Feeds a whole access stream.
    public func consume(_ stream: AccessStream) throws {
        let chunk = UnsafeMutablePointer<Int32>.allocate(capacity: CacheOnlyReplay.chunkAccesses)
        defer { chunk.deallocate() }
        while true {
            let n = try stream.next(into: chunk, capacity: CacheOnlyReplay.chunkAccesses)
            if n == 0 { break }
            // The stream's keys are in range; the layout is chosen once per chunk.
            if let tree {
                for i in 0..<n { accessGlobal(Int(chunk[i]), tree) }
            } else {
                for i in 0..<n { accessPerLayer(Int(chunk[i])) }
            }
        }
    }
}
