/// Eviction policies by name. Adding a policy: one file with an `EvictionPolicy`, one line here, tests.
public enum CachePolicyRegistry {
    public struct Entry: Sendable {
        public let name: String
        public let summary: String
        public let make: @Sendable (_ capacity: Int, _ keySpace: Int) -> EvictionPolicy
    }

    public static let entries: [Entry] = [
        Entry(name: "lru", summary: "least recently used (mixtral-offloading, AdapMoE)") { LRUPolicy(capacity: $0, keySpace: $1) },
    ]

    public static func entry(named name: String) -> Entry? { entries.first { $0.name == name } }
}
