/// Eviction policies by name (the POLICY of `--cache POLICY-per-layer:N`). Adding a policy: one file with an
/// `EvictionPolicy`, one line here, tests.
public let cachePolicies = NamedRegistry<@Sendable (_ capacity: Int, _ keySpace: Int) -> EvictionPolicy>(option: "--cache", [
    .init(name: "lru", summary: "least recently used (mixtral-offloading, AdapMoE)") { LRUPolicy(capacity: $0, keySpace: $1) },
])
