/// Least recently used: evict the key whose last access is oldest.
/// mixtral-offloading and AdapMoE use it per layer (peers.md §1.1, papers.md §1.3.D).
/// O(1) per access: an intrusive doubly linked list over the dense key space.
public final class LRUPolicy: EvictionPolicy {
    public let capacity: Int
    public private(set) var count = 0
    private let previous: FixedArray<Int32>
    private let next: FixedArray<Int32>
    private let resident: FixedArray<Bool>
    /// Most recently used end.
    private var head: Int32 = -1
    /// Least recently used end: the next victim.
    private var tail: Int32 = -1

    public init(capacity: Int, keySpace: Int) {
        self.capacity = capacity
        previous = FixedArray(repeating: -1, count: keySpace)
        next = FixedArray(repeating: -1, count: keySpace)
        resident = FixedArray(repeating: false, count: keySpace)
    }

    public func contains(_ key: Int) -> Bool { resident[key] }

    public func touch(_ key: Int, context: AccessContext) {
        unlink(Int32(key))
        pushFront(Int32(key))
    }

    @inline(__always) public func access(_ key: Int, context: AccessContext) -> Bool {
        if resident[key] {
            if head != Int32(key) {
                unlink(Int32(key))
                pushFront(Int32(key))
            }
            return true
        }
        _ = insert(key, context: context)
        return false
    }

    public func insert(_ key: Int, context: AccessContext) -> Admission {
        guard capacity > 0 else { return .bypassed }
        var evicted: Int?
        if count == capacity {
            let victim = tail
            unlink(victim)
            resident[Int(victim)] = false
            count -= 1
            evicted = Int(victim)
        }
        pushFront(Int32(key))
        resident[key] = true
        count += 1
        return .admitted(evicted: evicted)
    }

    public func remove(_ key: Int) {
        guard resident[key] else { return }
        unlink(Int32(key))
        resident[key] = false
        count -= 1
    }

    public var residentKeys: [Int] {
        var keys: [Int] = []
        var k = head
        while k >= 0 { keys.append(Int(k)); k = next[Int(k)] }
        return keys
    }

    @inline(__always) private func unlink(_ k: Int32) {
        let p = previous[Int(k)], n = next[Int(k)]
        if p >= 0 { next[Int(p)] = n } else { head = n }
        if n >= 0 { previous[Int(n)] = p } else { tail = p }
        previous[Int(k)] = -1
        next[Int(k)] = -1
    }

    @inline(__always) private func pushFront(_ k: Int32) {
        previous[Int(k)] = -1
        next[Int(k)] = head
        if head >= 0 { previous[Int(head)] = k }
        head = k
        if tail < 0 { tail = k }
    }
}
