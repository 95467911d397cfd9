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
    public var time: Int
    /// Router weight of the accessed expert for this token (0 when the trace records none).
    public var weight: Float

    public init(time: Int, weight: Float = 0) {
        self.time = time
        self.weight = weight
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
}

/// Builds one cache group of a policy: capacity and the size of the key space (keys are `0..<keySpace`).
public typealias EvictionPolicyFactory = (_ capacity: Int, _ keySpace: Int) -> EvictionPolicy
