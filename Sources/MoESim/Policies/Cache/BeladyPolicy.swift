/// Belady's OPT with bypass: on a miss, evict the resident whose next use is farthest in the future, or, if the
/// incoming expert's own next use is at least as far, use it from the staging buffer without caching it. This is
/// the optimal hit rate for the capacity, the ceiling every other policy is measured against. It needs the
/// future, read through `FutureAccesses` (see there for its window).
/// Ties among equally far residents go to the least recently used, then to the lowest key. Residents are kept in a
/// `NextUseHeap`: O(log capacity) per access instead of a scan of every resident per miss.
public final class BeladyPolicy: EvictionPolicy {
    public let capacity: Int
    private let residents: NextUseHeap
    private let future: FutureAccesses

    public init(capacity: Int, keySpace: Int, future: FutureAccesses) {
        self.capacity = capacity
        self.future = future
        residents = NextUseHeap(capacity: capacity, keySpace: keySpace)
    }

    public var count: Int { residents.count }
    public func contains(_ key: Int) -> Bool { residents.contains(key) }

    public func touch(_ key: Int, context: AccessContext) {
        residents.update(key, nextUse: future.nextUse(afterAccess: context.time, key: key), time: context.time)
    }

    public func insert(_ key: Int, context: AccessContext) -> Admission {
        // Before the run (initial fill, negative times) nothing is consumed: the key's next use is its first use.
        let next = context.time >= 0 ? future.nextUse(afterAccess: context.time, key: key) : future.firstUse(of: key)
        guard capacity > 0 else { return .bypassed }
        var evicted: Int?
        if residents.isFull {
            let victim = residents.top
            if context.time >= 0 && next >= residents.nextUse(of: victim) { return .bypassed }
            residents.remove(victim)
            evicted = victim
        }
        residents.add(key, nextUse: next, time: context.time)
        return .admitted(evicted: evicted)
    }

    public func remove(_ key: Int) { residents.remove(key) }
    public var residentKeys: [Int] { residents.keys.sorted() }
}
