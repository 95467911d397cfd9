/// The result of offering a missing key to a cache.
public enum Admission: Equatable, Sendable {
    /// Stored; `evicted` is the key that made room (nil when there was free space).
    case admitted(evicted: Int?)
    /// Not stored (capacity 0, or the policy declined): the expert is used once from a staging buffer.
    case bypassed
}

/// What an eviction policy may know about one access besides the key.
public struct AccessContext: Sendable {
    /// Logical time: the index of this access in the run, increasing by one per access.
    /// (Policies that score router outputs get them through `EvictionPolicy.observe`.)
    public var time: Int

    public init(time: Int) {
        self.time = time
    }
}

/// An eviction algorithm over a set of integer keys with a fixed capacity (one cache group).
/// Each algorithm is one small type behind this interface; `ExpertCache` arranges groups per layer or globally.
public protocol EvictionPolicy: AnyObject {
    var capacity: Int { get }
    var count: Int { get }
    func contains(_ key: Int) -> Bool
    /// Records a hit on a resident key.
    func touch(_ key: Int, context: AccessContext)
    /// Offers a key that is not resident.
    func insert(_ key: Int, context: AccessContext) -> Admission
    /// Drops a key if resident (used by callers that move experts elsewhere).
    func remove(_ key: Int)
    /// Resident keys, in the policy's own order (for reports and tests).
    var residentKeys: [Int] { get }
    /// Whether `observe` should be called for every routed token (policies that score router outputs, e.g. MRS).
    var observesRouting: Bool { get }
    /// The router's output for one token at one layer, before that layer's accesses.
    func observe(_ cell: RoutingCell)
    /// One access as the cache-only replay makes it: a hit is touched, a miss offered; true on a hit. One call
    /// instead of two on the replay's hot path; a policy may fuse the steps, with the same effect.
    func access(_ key: Int, context: AccessContext) -> Bool
    /// Whether `key` belongs to a static placement that, once loaded, stays for the whole run (Fiddler's GPU set;
    /// the `static` cache). A miss policy that would run an expert's first use on the CPU loads a pinned one instead.
    func pins(_ key: Int) -> Bool
}

extension EvictionPolicy {
    public var observesRouting: Bool { false }
    public func observe(_ cell: RoutingCell) {}
    public func pins(_ key: Int) -> Bool { false }
    public func access(_ key: Int, context: AccessContext) -> Bool {
        if contains(key) {
            touch(key, context: context)
            return true
        }
        _ = insert(key, context: context)
        return false
    }
}

/// What a cache group is built from.
public struct CachePolicyContext {
    public var capacity: Int
    /// Keys are `0..<keySpace` (`layer * expertsPerLayer + expert`).
    public var keySpace: Int
    /// The keys this group may hold: one layer's for a per-layer group, all of them for a global one.
    public var keys: Range<Int>
    public var expertsPerLayer: Int
    /// The coming accesses, for policies that look ahead (Belady); nil for the others.
    public var future: FutureAccesses?
    /// Accesses per key in a profiling pass, for policies that pin the popular ones (static); nil for the others.
    public var popularity: [Int]?

    public init(capacity: Int, keySpace: Int, keys: Range<Int>, expertsPerLayer: Int, future: FutureAccesses? = nil, popularity: [Int]? = nil) {
        self.capacity = capacity
        self.keySpace = keySpace
        self.keys = keys
        self.expertsPerLayer = expertsPerLayer
        self.future = future
        self.popularity = popularity
    }
}

/// How to build a policy's groups, and what the run must prepare for it.
public struct CachePolicyFactory: Sendable {
    /// The policy reads the future access stream (a look-ahead window, `FutureAccesses`).
    public var needsFuture: Bool
    /// The policy needs per-key popularity from a profiling pass.
    public var needsPopularity: Bool
    /// The policy's groups watch the router's output (`EvictionPolicy.observesRouting`): the cache-only replay
    /// then runs them pass by pass rather than from the bare access stream.
    public var observesRouting: Bool
    public var make: @Sendable (CachePolicyContext) -> EvictionPolicy

    public init(needsFuture: Bool = false, needsPopularity: Bool = false, observesRouting: Bool = false,
                make: @escaping @Sendable (CachePolicyContext) -> EvictionPolicy) {
        self.needsFuture = needsFuture
        self.needsPopularity = needsPopularity
        self.observesRouting = observesRouting
        self.make = make
    }
}
