/// Belady's residents ordered for eviction: a binary max-heap on (next use, farthest first; then the least recently
/// used; then the lowest key), indexed by key so a touched or removed resident moves in O(log capacity). The
/// victim is the top. Replaces a scan of every resident per miss (the global layout holds hundreds).
final class NextUseHeap {
    let capacity: Int
    private(set) var count = 0
    /// Heap slots hold keys; `slot[key]` is a key's slot, -1 when not resident.
    private let heap: UnsafeMutablePointer<Int32>
    private let slot: UnsafeMutablePointer<Int32>
    /// Per key: next use (`FutureAccesses.never` when none within reach) and last access time.
    private let nextUse: UnsafeMutablePointer<Int>
    private let lastAccess: UnsafeMutablePointer<Int>
    private let keySpace: Int

    init(capacity: Int, keySpace: Int) {
        self.capacity = capacity
        self.keySpace = keySpace
        heap = .allocate(capacity: max(1, capacity))
        heap.initialize(repeating: -1, count: max(1, capacity))
        slot = .allocate(capacity: max(1, keySpace))
        slot.initialize(repeating: -1, count: max(1, keySpace))
        nextUse = .allocate(capacity: max(1, keySpace))
        nextUse.initialize(repeating: FutureAccesses.never, count: max(1, keySpace))
        lastAccess = .allocate(capacity: max(1, keySpace))
        lastAccess.initialize(repeating: Int.min, count: max(1, keySpace))
    }

    deinit {
        heap.deallocate()
        slot.deallocate()
        nextUse.deallocate()
        lastAccess.deallocate()
    }

    var isFull: Bool { count >= capacity }
    @inline(__always) func contains(_ key: Int) -> Bool {
        precondition(key >= 0 && key < keySpace, "NextUseHeap key out of range")
        return slot[key] >= 0
    }
    /// The resident to evict first.
    var top: Int { Int(heap[0]) }
    func nextUse(of key: Int) -> Int { nextUse[key] }
    var keys: [Int] { (0..<count).map { Int(heap[$0]) } }

    /// Whether `a` is evicted before `b`.
    @inline(__always) private func before(_ a: Int32, _ b: Int32) -> Bool {
        let na = nextUse[Int(a)], nb = nextUse[Int(b)]
        if na != nb { return na > nb }
        let la = lastAccess[Int(a)], lb = lastAccess[Int(b)]
        if la != lb { return la < lb }
        return a < b
    }

    func add(_ key: Int, nextUse next: Int, time: Int) {
        precondition(count < capacity && !contains(key))
        nextUse[key] = next
        lastAccess[key] = time
        heap[count] = Int32(key)
        slot[key] = Int32(count)
        count += 1
        siftUp(count - 1)
    }

    /// A resident's new next use and last access.
    @inline(__always) func update(_ key: Int, nextUse next: Int, time: Int) {
        let i = Int(slot[key])
        precondition(i >= 0, "NextUseHeap: update of a key that is not resident")
        nextUse[key] = next
        lastAccess[key] = time
        siftUp(i)
        siftDown(Int(slot[key]))
    }

    func remove(_ key: Int) {
        let i = Int(slot[key])
        guard i >= 0 else { return }
        count -= 1
        slot[key] = -1
        guard i < count else { return }
        let moved = heap[count]
        place(moved, at: i)
        siftUp(i)
        siftDown(Int(slot[Int(moved)]))
    }

    @inline(__always) private func siftUp(_ start: Int) {
        var i = start
        let key = heap[i]
        while i > 0 {
            let parent = (i - 1) >> 1
            let p = heap[parent]
            guard before(key, p) else { break }
            place(p, at: i)
            i = parent
        }
        place(key, at: i)
    }

    @inline(__always) private func place(_ key: Int32, at i: Int) {
        heap[i] = key
        slot[Int(key)] = Int32(i)
    }

    @inline(__always) private func siftDown(_ start: Int) {
        var i = start
        let key = heap[i]
        while true {
            var child = 2 * i + 1
            guard child < count else { break }
            if child + 1 < count && before(heap[child + 1], heap[child]) { child += 1 }
            let c = heap[child]
            guard before(c, key) else { break }
            place(c, at: i)
            i = child
        }
        place(key, at: i)
    }
}
