/// A binary min-heap over a value type with a caller-supplied strict ordering.
/// Used by the event queue; kept generic so other orderings (e.g. Belady next use) can reuse it.
public struct BinaryHeap<Element> {
    @usableFromInline var storage: [Element] = []
    @usableFromInline let isBefore: (Element, Element) -> Bool

    public init(isBefore: @escaping (Element, Element) -> Bool) {
        self.isBefore = isBefore
    }

    public var count: Int { storage.count }
    public var isEmpty: Bool { storage.isEmpty }
    public var first: Element? { storage.first }

    @inlinable
    public mutating func push(_ element: Element) {
        storage.append(element)
        var child = storage.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            if !isBefore(storage[child], storage[parent]) { break }
            storage.swapAt(child, parent)
            child = parent
        }
    }

    @inlinable
    public mutating func pop() -> Element? {
        guard !storage.isEmpty else { return nil }
        if storage.count == 1 { return storage.removeLast() }
        let top = storage[0]
        storage[0] = storage.removeLast()
        var parent = 0
        let n = storage.count
        while true {
            let left = 2 * parent + 1
            if left >= n { break }
            let right = left + 1
            var best = left
            if right < n && isBefore(storage[right], storage[left]) { best = right }
            if !isBefore(storage[best], storage[parent]) { break }
            storage.swapAt(best, parent)
            parent = best
        }
        return top
    }

    public mutating func removeAll() { storage.removeAll(keepingCapacity: true) }
}
