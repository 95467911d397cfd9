/// The keys a cache group holds, as a dense list with O(1) insert, remove and membership, so policies that pick
/// a victim by scanning (LFU, FIFO, MRS, Belady) scan only the residents. Also records each key's last access.
public final class ResidentSet {
    public let capacity: Int
    public private(set) var count = 0
    private let keys: FixedArray<Int32>
    private let position: FixedArray<Int32>
    /// Access time of each key's last use (for least-recently-used tie-breaks).
    public let lastAccess: FixedArray<Int>

    public init(capacity: Int, keySpace: Int) {
        self.capacity = capacity
        keys = FixedArray(repeating: -1, count: max(1, capacity))
        position = FixedArray(repeating: -1, count: keySpace)
        lastAccess = FixedArray(repeating: Int.min, count: keySpace)
    }

    @inline(__always) public func contains(_ key: Int) -> Bool { position[key] >= 0 }
    @inline(__always) public subscript(index: Int) -> Int { Int(keys[index]) }
    public var isFull: Bool { count >= capacity }

    public func add(_ key: Int) {
        precondition(count < capacity && position[key] < 0)
        keys[count] = Int32(key)
        position[key] = Int32(count)
        count += 1
    }

    public func remove(_ key: Int) {
        let p = Int(position[key])
        guard p >= 0 else { return }
        let last = Int(keys[count - 1])
        keys[p] = Int32(last)
        position[last] = Int32(p)
        position[key] = -1
        count -= 1
    }

    /// The resident minimising `rank` (then the least recently used, then the lowest key): the victim.
    @inline(__always) public func minimum<Rank: Comparable>(by rank: (Int) -> Rank) -> Int {
        var best = self[0]
        var bestRank = rank(best)
        for i in 1..<count {
            let k = self[i]
            let r = rank(k)
            if r < bestRank || (r == bestRank && (lastAccess[k] < lastAccess[best] || (lastAccess[k] == lastAccess[best] && k < best))) {
                best = k
                bestRank = r
            }
        }
        return best
    }

    public var all: [Int] { (0..<count).map { self[$0] } }

    /// Admits `key` at `time`, first evicting the resident with the lowest `rank` if the set is full
    /// (capacity 0: nothing is admitted). The shared body of the scan-based policies.
    @inline(__always) public func admit<Rank: Comparable>(_ key: Int, time: Int, evictingLowest rank: (Int) -> Rank) -> Admission {
        guard capacity > 0 else { return .bypassed }
        var evicted: Int?
        if isFull {
            let victim = minimum(by: rank)
            remove(victim)
            evicted = victim
        }
        add(key)
        lastAccess[key] = time
        return .admitted(evicted: evicted)
    }
}
