/// The link offloaded experts travel over, as rates per direction: what each direction gets, given what the other is
/// doing. Built once per run from the hardware preset (and whether the runtime's host copies are pinned); the copy
/// engines that queue transfers on it are `TransferChannel`s.
///
/// Directions that share bandwidth (`bidirectionalContention`): H2D slows to `h2dBytesPerSecondDuringD2H` while a D2H
/// runs and recovers when it ends (nvbandwidth #53, peers.md §3.2: Gen4 H2D about 11 GB/s while D2H keeps about 25).
/// D2H keeps its rate: no source reports it slowing. The engine re-divides at every start and end (`TransferChannel.rerate`).
public struct LinkModel: Sendable {
    public let name: String
    /// Fixed cost of one transfer (driver call, DMA setup; a storage read's latency).
    public let setupSeconds: Double
    /// H2D with the other direction idle: pinned, or pageable when the runtime's host copies are not pinned.
    public let h2dBytesPerSecond: Double
    public let d2hBytesPerSecond: Double
    /// H2D while a D2H runs, never above `h2dBytesPerSecond` (nil: the directions do not share bandwidth).
    public let h2dBytesPerSecondDuringD2H: Double?
    /// Independent copy engines: with fewer than 2, both directions queue on one.
    public let copyEngines: Int
    /// Offloaded experts are read from storage (unified memory): nothing is written back over it.
    public let isStorage: Bool

    public init(hardware: HardwareProfile, pinnedHostCopies: Bool) {
        switch hardware.offloadTier {
        case .host:
            let link = hardware.hostLink!
            name = link.name
            setupSeconds = link.setupLatencySeconds.value
            let h2d = link.h2dBytesPerSecond(pinned: pinnedHostCopies)
            h2dBytesPerSecond = h2d
            d2hBytesPerSecond = link.d2hBytesPerSecond.value
            h2dBytesPerSecondDuringD2H = link.bidirectionalContention.value ? link.h2dBytesPerSecondDuringD2H.map { min($0.value, h2d) } : nil
            copyEngines = Int(link.copyEngines.value)
            isStorage = false
        case .storage:
            let storage = hardware.storage!
            name = storage.name
            setupSeconds = storage.setupLatencySeconds.value
            h2dBytesPerSecond = storage.readBytesPerSecond.value
            d2hBytesPerSecond = storage.readBytesPerSecond.value
            h2dBytesPerSecondDuringD2H = nil
            copyEngines = 1
            isStorage = true
        }
    }

    /// Whether the H2D rate changes with D2H traffic (two engines on a link whose directions share bandwidth).
    public var h2dDependsOnD2H: Bool {
        copyEngines >= 2 && h2dBytesPerSecondDuringD2H != nil && h2dBytesPerSecondDuringD2H != h2dBytesPerSecond
    }

    /// The H2D rate while the D2H engine is busy or idle.
    @inline(__always) public func h2dRate(d2hBusy: Bool) -> Double {
        if d2hBusy, let slower = h2dBytesPerSecondDuringD2H { return slower }
        return h2dBytesPerSecond
    }

    /// Seconds for `bytes` in one direction with the other idle (setup included): the estimate a policy plans with.
    @inline(__always) public func seconds(bytes: Double, toHost: Bool) -> Double {
        setupSeconds + bytes / (toHost ? d2hBytesPerSecond : h2dBytesPerSecond)
    }
}
