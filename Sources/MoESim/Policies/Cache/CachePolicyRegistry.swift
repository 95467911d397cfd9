/// Eviction policies by name (the POLICY of `--cache POLICY-per-layer:N`). Adding a policy: one file with an
/// `EvictionPolicy`, one line here, tests.
public let cachePolicies = NamedRegistry<CachePolicyFactory>(option: "--cache", [
    .init(name: "lru", summary: "least recently used (mixtral-offloading, AdapMoE)",
          make: CachePolicyFactory { LRUPolicy(capacity: $0.capacity, keySpace: $0.keySpace) }),
    .init(name: "lfu", summary: "least frequently used since admission; ties to the least recently used",
          make: CachePolicyFactory { LFUPolicy(capacity: $0.capacity, keySpace: $0.keySpace) }),
    .init(name: "fifo", summary: "first in, first out",
          make: CachePolicyFactory { FIFOPolicy(capacity: $0.capacity, keySpace: $0.keySpace) }),
    .init(name: "static", summary: "pin the most popular experts of a profiling pass (--static-profile)",
          make: CachePolicyFactory(needsPopularity: true) {
              StaticHotSetPolicy(capacity: $0.capacity, keySpace: $0.keySpace, keys: $0.keys, popularity: $0.popularity!)
          }),
    .init(name: "mrs", summary: "HybriMoE's Minus Recent Score: decayed top-p router scores, evict the lowest",
          make: CachePolicyFactory(observesRouting: true) { MRSPolicy(capacity: $0.capacity, keySpace: $0.keySpace, expertsPerLayer: $0.expertsPerLayer) }),
    .init(name: "min-visit", summary: "MoE-Infinity's eviction: fewest in-cache visits (admitting fetch + hits); ties to the earliest admitted",
          make: CachePolicyFactory { MinVisitPolicy(capacity: $0.capacity, keySpace: $0.keySpace) }),
    .init(name: "edgemoe", summary: "EdgeMoE's eviction: highest -f/d (f = activation frequency, d = layers until the expert's layer runs again)",
          make: CachePolicyFactory(observesRouting: true) { EdgeMoEPolicy(capacity: $0.capacity, keySpace: $0.keySpace, expertsPerLayer: $0.expertsPerLayer) }),
    .init(name: "belady", summary: "Belady's OPT with bypass: the optimal hit rate (reads the future)",
          make: CachePolicyFactory(needsFuture: true) { BeladyPolicy(capacity: $0.capacity, keySpace: $0.keySpace, future: $0.future!) }),
])
