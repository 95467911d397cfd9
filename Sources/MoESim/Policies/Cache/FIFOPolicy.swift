/// First in, first out: evict the key admitted longest ago; hits change nothing.
public final class FIFOPolicy: EvictionPolicy {
    public let capacity: Int
    private let residents: ResidentSet
    private let admittedAt: FixedArray<Int>

    public init(capacity: Int, keySpace: Int) {
        self.capacity = capacity
        residents = ResidentSet(capacity: capacity, keySpace: keySpace)
        admittedAt = FixedArray(repeating: 0, count: keySpace)
    }

    public var count: Int { residents.count }
    public func contains(_ key: Int) -> Bool { residents.contains(key) }
    public func touch(_ key: Int, context: AccessContext) {}

    public func insert(_ key: Int, context: AccessContext) -> Admission {
        let admission = residents.admit(key, time: context.time) { self.admittedAt[$0] }
        admittedAt[key] = context.time
        return admission
    }

    public func remove(_ key: Int) { residents.remove(key) }
    public var residentKeys: [Int] { residents.all.sorted { admittedAt[$0] < admittedAt[$1] } }
}
