/// Least frequently used: evict the resident with the fewest hits since it was admitted (admission counts as
/// one use). Ties go to the least recently used, then to the lowest key. Counts restart when a key is evicted
/// (in-cache LFU, as libCacheSim's LFU).
public final class LFUPolicy: EvictionPolicy {
    public let capacity: Int
    private let residents: ResidentSet
    private let uses: FixedArray<Int>

    public init(capacity: Int, keySpace: Int) {
        self.capacity = capacity
        residents = ResidentSet(capacity: capacity, keySpace: keySpace)
        uses = FixedArray(repeating: 0, count: keySpace)
    }

    public var count: Int { residents.count }
    public func contains(_ key: Int) -> Bool { residents.contains(key) }

    public func touch(_ key: Int, context: AccessContext) {
        uses[key] += 1
        residents.lastAccess[key] = context.time
    }

    public func insert(_ key: Int, context: AccessContext) -> Admission {
        let admission = residents.admit(key, time: context.time) { self.uses[$0] }
        if case let .admitted(evicted?) = admission { uses[evicted] = 0 }
        if admission != .bypassed { uses[key] = 1 }
        return admission
    }

    public func remove(_ key: Int) {
        residents.remove(key)
        uses[key] = 0
    }

    public var residentKeys: [Int] { residents.all.sorted() }
}
