/// A fixed-length array with reference semantics for the simulator's hot paths: no copy-on-write
/// uniqueness checks and no exclusivity bookkeeping per element access. Bounds are still checked.
public final class FixedArray<Element> {
    public let count: Int
    @usableFromInline let base: UnsafeMutablePointer<Element>

    public init(repeating value: Element, count: Int) {
        precondition(count >= 0)
        self.count = count
        base = .allocate(capacity: max(1, count))
        base.initialize(repeating: value, count: count)
    }

    deinit {
        base.deinitialize(count: count)
        base.deallocate()
    }

    @inlinable public subscript(index: Int) -> Element {
        get {
            precondition(index >= 0 && index < count, "FixedArray index out of range")
            return base[index]
        }
        set {
            precondition(index >= 0 && index < count, "FixedArray index out of range")
            base[index] = newValue
        }
    }

    public var array: [Element] { Array(UnsafeBufferPointer(start: base, count: count)) }
}
