/// The host thread that drives inference (the Python loop, the C++ scheduler): a resource with its own timeline. It
/// spends the runtime's fixed costs issuing work (`CostModel.host*Seconds`), the GPU cannot start work before it has
/// been issued, and at the runtime's sync points (`HostSyncPoints`) the thread waits for the GPU.
struct HostThread {
    /// When the thread has issued everything so far.
    private(set) var free = 0.0
    let syncs: HostSyncPoints

    init(syncs: HostSyncPoints) { self.syncs = syncs }

    /// Issuing work takes `seconds` of the thread's time.
    @inline(__always) mutating func spend(_ seconds: Double) { free += seconds }

    /// The thread waits (a device-to-host read, a synchronise, an idle loop) until `time`.
    @inline(__always) mutating func wait(until time: Double) { free = max(free, time) }
}
