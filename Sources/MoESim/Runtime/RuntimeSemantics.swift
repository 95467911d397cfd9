/// What a software stack does with the machine, declared in its runtime profile (`RuntimeProfile`) so that the
/// executor never branches on a runtime's name. Each is a physical or programmatic property of the stack: which
/// CUDA streams it uses, where its host thread waits for the GPU, and how it orders a swap's two copies.

/// The CUDA streams a runtime issues work on.
public enum StreamLayout: String, Codable, Sendable, CaseIterable {
    /// One stream (PyTorch's default stream): copies and kernels run one after another in the order the host issued
    /// them, and both copy directions share that order. mixtral-offloading's released code issues its
    /// `copy_(..., non_blocking=True)` swaps on the default stream (`src/expert_cache.py`), so its copies never
    /// overlap its kernels.
    case single
    /// A compute stream plus copy streams (one per direction): copies overlap kernels and each other, and a kernel
    /// waits only for the copies of the weights it reads.
    case computeAndCopy = "compute-and-copy"
}

/// Where the host thread that drives inference waits for the GPU (a device-to-host read such as `.tolist()` or
/// `.item()`, or an explicit synchronise). Between sync points the host runs ahead, issuing work the GPU queues.
public enum HostSyncPoints: String, Codable, Sendable, CaseIterable {
    /// Routing is decided on the device (CUDA graphs, device-side expert cache): the host never waits mid-pass.
    case none
    /// Once per MoE layer, to read the router's choice (mixtral-offloading's `.unique().tolist()`).
    case perLayer = "per-layer"
    /// Once per layer and again before each expert (mixtral-offloading's `top_x.tolist()` / `idx.tolist()` in
    /// `src/custom_layers.py`): the host cannot issue an expert before the GPU has finished all work queued before it.
    case perExpert = "per-expert"

    var syncsEachLayer: Bool { self != .none }
    var syncsEachExpert: Bool { self == .perExpert }
}

/// The order a swap issues its two copies in (the missed expert's load and the evicted expert's write-back).
/// On links that re-divide their bandwidth (`LinkDirection`) this matters only on a single stream.
public enum SwapOrder: String, Codable, Sendable, CaseIterable {
    /// The load first, then the write-back (mixtral-offloading's `_swap`).
    case loadFirst = "load-first"
    case writeBackFirst = "write-back-first"
}

// Shown by their JSON spelling (`sim runtime show`).
extension StreamLayout: CustomStringConvertible { public var description: String { rawValue } }
extension HostSyncPoints: CustomStringConvertible { public var description: String { rawValue } }
extension SwapOrder: CustomStringConvertible { public var description: String { rawValue } }
