/// The coming accesses, seen through a bounded look-ahead window, for policies that need the future (Belady).
///
/// It reads an access stream (the run's own in cache-only mode, a second copy in the timed engine) ahead of the run and links each
/// access to the next access of the same key. The run calls `prepare` at each pass boundary, which keeps at
/// least `window` accesses read ahead; a next use inside that reach is exact, one further ahead is reported as
/// `never` (as if the key were not used again). The default window, 2^20 accesses (16K Mixtral decode tokens,
/// about 12 MiB), makes every trace shipped or in ../shared exact, and memory stays bounded for any length.
/// Several policies in lockstep (a sweep over capacities) share one instance: lookups do not move it.
/// `CacheOnlyReplay` reads its accesses back from here (`key(at:)`), so the look-ahead and the replay share one
/// read of the trace; the timed engine gives it a second stream of its own.
public final class FutureAccesses {
    public static let never = Int.max
    public static let defaultWindow = 1 << 20

    private let stream: AccessStream
    public let window: Int
    private let keys: FixedArray<Int32>
    private let nextOfAccess: FixedArray<Int>
    /// Ring slots minus one (the ring is a power of two at least 2 x window).
    private let mask: Int
    private let lastSeen: FixedArray<Int>
    private let firstOccurrence: FixedArray<Int>
    /// Accesses read so far, and the oldest one still held.
    public private(set) var filled = 0
    private var start = 0
    public private(set) var ended = false
    /// True once the trace was longer than the reach: some next uses may have been reported as `never`, so
    /// Belady's hit rate may be understated (never overstated).
    public private(set) var reachExceeded = false

    public init(stream: AccessStream, keySpace: Int, window: Int = FutureAccesses.defaultWindow) throws {
        self.stream = stream
        // `prepare` runs between passes, so the reach must cover at least one pass (every expert of every layer).
        self.window = max(window, keySpace)
        var slots = 1
        while slots < self.window * 2 { slots <<= 1 }
        mask = slots - 1
        keys = FixedArray(repeating: -1, count: slots)
        nextOfAccess = FixedArray(repeating: FutureAccesses.never, count: slots)
        lastSeen = FixedArray(repeating: -1, count: keySpace)
        firstOccurrence = FixedArray(repeating: FutureAccesses.never, count: keySpace)
        try prepare(runPosition: 0)
    }

    /// Forgets accesses before `runPosition` (the run's next access) and reads ahead to `runPosition + window`.
    /// Reading may hit a bad trace line, which is reported here, outside the policies.
    public func prepare(runPosition: Int) throws {
        start = max(start, runPosition)
        // The ring holds 2 x window slots, so a pass of up to `window` accesses fits behind the look-ahead.
        while !ended && filled < start + window {
            guard let key = try stream.next() else { ended = true; break }
            if filled >= window { reachExceeded = true }
            let slot = filled & mask
            keys[slot] = Int32(key)
            nextOfAccess[slot] = FutureAccesses.never
            let previous = lastSeen[key]
            if previous >= 0 && filled - previous < keys.count {
                nextOfAccess[previous & mask] = filled
            }
            if previous < 0 { firstOccurrence[key] = filled }
            lastSeen[key] = filled
            filled += 1
        }
    }

    /// When the key of access `time` is used next (`never` if not within reach). The run and the look-ahead must
    /// agree on every access; a mismatch is a bug in moe-sim and stops it.
    public func nextUse(afterAccess time: Int, key: Int) -> Int {
        precondition(time >= filled - keys.count && time < filled && Int(keys[time & mask]) == key,
                     "internal error: the look-ahead pass and the run disagree at access \(time) (key \(key)); gating must be deterministic")
        return nextOfAccess[time & mask]
    }

    /// Keeps `window` accesses read beyond `time` (one read per call once primed): the per-access form of
    /// `prepare`, for a replay that reads its own accesses from here.
    @inline(__always) public func readAhead(of time: Int) throws {
        if !ended && filled < time + window { try prepare(runPosition: time) }
    }

    /// The key of access `time`, which must have been read and not yet dropped from the ring.
    @inline(__always) public func key(at time: Int) -> Int {
        precondition(time >= filled - keys.count && time < filled, "internal error: access \(time) is outside the look-ahead ring")
        return Int(keys[time & mask])
    }

    /// The first access to `key` in the whole stream (`never` if not within the first window): for the initial fill.
    public func firstUse(of key: Int) -> Int { firstOccurrence[key] }
}
