/// MoE-Infinity's eviction (open-source C++ path, peers.md §1.2; `ExpertDispatcher::FindExpertEvict`): evict the
/// resident expert with the fewest in-cache visits.
///
/// Here a visit is the fetch that admits an expert (on demand, or a prefetch landing with `admit=cache`) and every
/// hit after it; the count restarts when the expert is evicted. Ties go to the expert admitted earliest: the C++
/// scans its list of cached experts with a strict `<`, so the first minimum in that list wins (taken here as
/// admission order).
///
/// Deviations from the C++: it increments `incache_visit_count` only when an expert is used while already on the
/// GPU (not for the fetch itself) and resets the counts only through `ClearExpertCacheCounts`, so there a count
/// survives an eviction; here every residency starts at one. The paper's priority (topology decay x EAM x
/// frequency, `expert_priority_score.py`) is not this rule. Differs from `lfu` only in the tie-break (`lfu`: least
/// recently used).
public final class MinVisitPolicy: EvictionPolicy {
    /// Fewest visits first, then the earliest admission.
    struct Rank: Comparable {
        var visits: Int
        var admitted: Int
        static func < (a: Rank, b: Rank) -> Bool { a.visits != b.visits ? a.visits < b.visits : a.admitted < b.admitted }
    }

    public let capacity: Int
    private let residents: ResidentSet
    private let visits: FixedArray<Int>
    private let admittedAt: FixedArray<Int>
    private var admissions = 0

    public init(capacity: Int, keySpace: Int) {
        self.capacity = capacity
        residents = ResidentSet(capacity: capacity, keySpace: keySpace)
        visits = FixedArray(repeating: 0, count: keySpace)
        admittedAt = FixedArray(repeating: 0, count: keySpace)
    }

    public var count: Int { residents.count }
    public func contains(_ key: Int) -> Bool { residents.contains(key) }
    public func visitCount(_ key: Int) -> Int { residents.contains(key) ? visits[key] : 0 }

    public func touch(_ key: Int, context: AccessContext) {
        visits[key] += 1
        residents.lastAccess[key] = context.time
    }

    public func insert(_ key: Int, context: AccessContext) -> Admission {
        let admission = residents.admit(key, time: context.time) { Rank(visits: self.visits[$0], admitted: self.admittedAt[$0]) }
        if case let .admitted(evicted?) = admission { visits[evicted] = 0 }
        if admission != .bypassed {
            visits[key] = 1
            admittedAt[key] = admissions
            admissions += 1
        }
        return admission
    }

    public func remove(_ key: Int) {
        residents.remove(key)
        visits[key] = 0
    }

    public var residentKeys: [Int] { residents.all.sorted() }
}
