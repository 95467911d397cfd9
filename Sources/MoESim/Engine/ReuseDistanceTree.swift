/// Reuse distances over a large key set in O(log keys) per access, where a move-to-front stack costs O(distance):
/// each key keeps a marker at the slot of its last access, and a Fenwick tree counts the markers after a slot,
/// i.e. the distinct keys used since then. Slots (8 per key) run out after at least `7 x keys` accesses; the live
/// markers are then renumbered in order (O(slots), so O(1) per access amortised). The global layout's stack-distance path.
final class ReuseDistanceTree {
    private let keyCount: Int
    private let slotCount: Int
    /// Fenwick tree over slots (1-based inside): markers per slot.
    private let tree: UnsafeMutablePointer<Int32>
    /// The slot of each key's last access (-1: never seen), and the key whose marker a slot holds (-1: none).
    private let slotOfKey: UnsafeMutablePointer<Int32>
    private let keyOfSlot: UnsafeMutablePointer<Int32>
    private var nextSlot = 0
    private var live = 0

    init(keys: Int) {
        keyCount = max(1, keys)
        slotCount = 8 * keyCount
        tree = .allocate(capacity: slotCount + 1)
        tree.initialize(repeating: 0, count: slotCount + 1)
        slotOfKey = .allocate(capacity: keyCount)
        slotOfKey.initialize(repeating: -1, count: keyCount)
        keyOfSlot = .allocate(capacity: slotCount)
        keyOfSlot.initialize(repeating: -1, count: slotCount)
    }

    deinit {
        tree.deallocate()
        slotOfKey.deallocate()
        keyOfSlot.deallocate()
    }

    /// Records an access to `key` (in 0..<keys) and returns its reuse distance, or -1 on its first access.
    @inline(__always) func access(_ key: Int) -> Int {
        precondition(key >= 0 && key < keyCount, "ReuseDistanceTree key out of range")
        let slot = Int(slotOfKey[key])
        var distance = -1
        if slot >= 0 {
            // Markers in slots after this one: every key used since.
            distance = live - prefix(slot + 1)
            add(slot, -1)
            keyOfSlot[slot] = -1
            live -= 1
        }
        if nextSlot == slotCount { compact() }
        slotOfKey[key] = Int32(nextSlot)
        keyOfSlot[nextSlot] = Int32(key)
        add(nextSlot, 1)
        nextSlot += 1
        live += 1
        return distance
    }

    /// Markers in slots 0..<end.
    @inline(__always) private func prefix(_ end: Int) -> Int {
        var i = end, sum = 0
        while i > 0 {
            sum += Int(tree[i])
            i &= i - 1
        }
        return sum
    }

    @inline(__always) private func add(_ slot: Int, _ delta: Int32) {
        var i = slot + 1
        while i <= slotCount {
            tree[i] += delta
            i += i & -i
        }
    }

    /// Moves the live markers, in order, to the first slots and rebuilds the tree.
    private func compact() {
        var filled = 0
        for slot in 0..<slotCount where keyOfSlot[slot] >= 0 {
            let key = keyOfSlot[slot]
            keyOfSlot[slot] = -1
            keyOfSlot[filled] = key
            slotOfKey[Int(key)] = Int32(filled)
            filled += 1
        }
        // Linear-time build: every live slot holds one marker.
        for i in 1...slotCount { tree[i] = i <= filled ? 1 : 0 }
        for i in 1...slotCount {
            let parent = i + (i & -i)
            if parent <= slotCount { tree[parent] += tree[i] }
        }
        nextSlot = filled
    }
}
