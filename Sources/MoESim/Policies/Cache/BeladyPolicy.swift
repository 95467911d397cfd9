/// Belady's OPT with bypass: on a miss, evict the resident whose next use is farthest in the future, or, if the
/// incoming expert's own next use is at least as far, use it from the staging buffer without caching it. This is
/// the optimal hit rate for the capacity, the ceiling every other policy is measured against. It needs the
/// future, read through `FutureAccesses` (a second, look-ahead pass over the trace; see there for its window).
/// Ties among equally far residents go to the least recently used, then to the lowest key.
public final class BeladyPolicy: EvictionPolicy {
    public let capacity: Int
    private let residents: ResidentSet
    private let nextUse: FixedArray<Int>
    private let future: FutureAccesses

    public init(capacity: Int, keySpace: Int, future: FutureAccesses) {
        self.capacity = capacity
        self.future = future
        residents = ResidentSet(capacity: capacity, keySpace: keySpace)
        nextUse = FixedArray(repeating: FutureAccesses.never, count: keySpace)
    }

    public var count: Int { residents.count }
    public func contains(_ key: Int) -> Bool { residents.contains(key) }

    public func touch(_ key: Int, context: AccessContext) {
        nextUse[key] = future.nextUse(afterAccess: context.time, key: key)
        residents.lastAccess[key] = context.time
    }

    public func insert(_ key: Int, context: AccessContext) -> Admission {
        // Before the run (initial fill, negative times) nothing is consumed: the key's next use is its first use.
        let next = context.time >= 0 ? future.nextUse(afterAccess: context.time, key: key) : future.firstUse(of: key)
        guard capacity > 0 else { return .bypassed }
        var evicted: Int?
        if residents.isFull {
            // The farthest next use is the largest; `minimum` ranks by the negated value.
            let victim = residents.minimum { -(self.nextUse[$0] == FutureAccesses.never ? Int.max - 1 : self.nextUse[$0]) }
            let victimNext = nextUse[victim]
            if context.time >= 0 && next >= victimNext { return .bypassed }
            residents.remove(victim)
            evicted = victim
        }
        residents.add(key)
        nextUse[key] = next
        residents.lastAccess[key] = context.time
        return .admitted(evicted: evicted)
    }

    public func remove(_ key: Int) { residents.remove(key) }
    public var residentKeys: [Int] { residents.all.sorted() }
}
