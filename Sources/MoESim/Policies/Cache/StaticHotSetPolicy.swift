/// A policy that chooses its own contents, so the cache's generic initial fill leaves it alone.
public protocol SelfFillingPolicy {}

/// A static hot set: the group's `capacity` most popular experts (by accesses in a profiling pass: a prefix of
/// the trace or the whole of it) are the only ones ever cached, and once cached they are never evicted; every
/// other expert is used from a staging buffer (llama.cpp/kTransformers-style static placement, peers.md §1).
/// Each pinned expert is loaded on its first use, whatever `--initial-fill` says: a set loaded before the run
/// would start from contents no other policy gets, and could then beat Belady's optimum for the same start.
/// Ties in popularity go to the lower key.
public final class StaticHotSetPolicy: EvictionPolicy, SelfFillingPolicy {
    public let capacity: Int
    private let pinned: FixedArray<Bool>
    private let resident: FixedArray<Bool>
    /// The experts this group will ever cache.
    public let pinnedKeys: [Int]
    public private(set) var count = 0

    public init(capacity: Int, keySpace: Int, keys: Range<Int>, popularity: [Int]) {
        self.capacity = capacity
        let ranked = keys.sorted { popularity[$0] > popularity[$1] || (popularity[$0] == popularity[$1] && $0 < $1) }
        pinnedKeys = Array(ranked.prefix(capacity)).sorted()
        pinned = FixedArray(repeating: false, count: keySpace)
        resident = FixedArray(repeating: false, count: keySpace)
        for k in pinnedKeys { pinned[k] = true }
    }

    public func contains(_ key: Int) -> Bool { resident[key] }
    public func touch(_ key: Int, context: AccessContext) {}

    public func insert(_ key: Int, context: AccessContext) -> Admission {
        guard pinned[key] else { return .bypassed }
        resident[key] = true
        count += 1
        return .admitted(evicted: nil)
    }

    /// Pinned experts stay; removing one is ignored.
    public func remove(_ key: Int) {}
    public var residentKeys: [Int] { pinnedKeys.filter { resident[$0] } }

    /// Its experts, once loaded, stay for the whole run (Fiddler's GPU placement, loaded on first use here): a miss
    /// policy that would run that first use on the CPU loads a pinned expert instead.
    public func pins(_ key: Int) -> Bool { key >= 0 && key < pinned.count && pinned[key] }
}
