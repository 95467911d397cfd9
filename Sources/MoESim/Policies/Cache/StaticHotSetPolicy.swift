/// A policy that chooses its own contents when built; the cache's initial fill leaves it alone.
public protocol SelfFillingPolicy {}

/// A static hot set: the group's `capacity` most popular experts (by accesses in a profiling pass: a prefix of
/// the trace or the whole of it) are pinned for the whole run and never evicted; every other expert is used from
/// a staging buffer and not cached (llama.cpp/kTransformers-style static placement, peers.md §1).
/// Ties in popularity go to the lower key.
public final class StaticHotSetPolicy: EvictionPolicy, SelfFillingPolicy {
    public let capacity: Int
    private let pinned: FixedArray<Bool>
    private let pinnedKeys: [Int]

    public init(capacity: Int, keySpace: Int, keys: Range<Int>, popularity: [Int]) {
        self.capacity = capacity
        let ranked = keys.sorted { popularity[$0] > popularity[$1] || (popularity[$0] == popularity[$1] && $0 < $1) }
        pinnedKeys = Array(ranked.prefix(capacity)).sorted()
        pinned = FixedArray(repeating: false, count: keySpace)
        for k in pinnedKeys { pinned[k] = true }
    }

    public var count: Int { pinnedKeys.count }
    public func contains(_ key: Int) -> Bool { pinned[key] }
    public func touch(_ key: Int, context: AccessContext) {}
    public func insert(_ key: Int, context: AccessContext) -> Admission { .bypassed }
    /// Pinned experts stay; removing one is ignored.
    public func remove(_ key: Int) {}
    public var residentKeys: [Int] { pinnedKeys }
}
