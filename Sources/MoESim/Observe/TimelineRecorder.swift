/// One bar of the schedule timeline: something a resource did from `start` to `end` (simulated seconds).
public struct TimelineSlice: Sendable {
    /// The resource rows of the timeline, in display order.
    public enum Track: Int, Sendable, CaseIterable {
        case passes, gpu, h2d, d2h, cpu
    }

    public enum Kind: Sendable, Equatable {
        case pass
        case compute(GPUWorkKind)
        case stall(StallCause)
        case transfer(TransferCause)
        /// An expert a miss policy ran on the CPU.
        case cpuExpert
    }

    public var track: Track
    public var kind: Kind
    public var name: String
    public var start: Double
    public var end: Double
    /// The pass running when it started, and that pass's request.
    public var pass: Int
    public var requestID: String
    /// MoE layer (dense layers: -1 - index); nil for the per-pass step and pass slices.
    public var layer: Int?
    public var expert: Int?
    /// Transfer part (with sub-matrix pipelining).
    public var part: Int?
    public var tokens: Int?
    /// Bytes a transfer moved (a preempted one: the bytes moved before it was suspended).
    public var bytes: Int?
    public var speculative = false
    public var preempted = false

    public var seconds: Double { end - start }
}

/// Records the schedule of the passes in `range`: every GPU slice and stall, every transfer that starts while a
/// recorded pass runs (or after the last one, as outstanding write-backs drain), one slice per pass.
public final class TimelineRecorder: SimulationObserver {
    public let range: PassRange
    public private(set) var slices: [TimelineSlice] = []
    /// Passes the run made in all (recorded or not).
    public private(set) var passesSeen = 0
    /// How the offload link's directions map to copy engines.
    public enum LinkLayout: Sendable { case separateD2H, oneCopyEngine, storage }
    public let linkLayout: LinkLayout
    /// Display names of the tracks present (D2H is absent when one copy engine carries both directions).
    public let trackNames: [(track: TimelineSlice.Track, name: String)]
    /// What was simulated, for the file's metadata.
    public let title: String
    public let expertBytes: Int
    let experts: Int
    let parts: Int

    private var recording = false
    private var pass = -1
    private var requestID = ""
    private var openTransfer: [Int?] = [nil, nil]
    private var passSlice: Int?
    /// Keys whose on-demand load in progress is a low-precision copy (for transfer names).
    private var lowPrecisionLoad = Set<Int>()

    public init(simulation sim: Simulation, range: PassRange) {
        self.range = range
        experts = sim.experts
        parts = sim.parts
        expertBytes = sim.costs.expertBytes
        let config = sim.config
        title = "\(config.model.name) \(config.quantization.name) on \(config.hardware.name): cache \(config.cache.text), "
            + "gating \(config.gating), prefetch \(config.prefetch), runtime \(config.runtime.name)"
        var names: [(TimelineSlice.Track, String)] = [(.passes, "passes"), (.gpu, "GPU compute")]
        if config.hardware.offloadTier == .storage {
            linkLayout = .storage
            names.append((.h2d, "storage read (\(sim.linkName))"))
        } else if sim.channels.count > 1 {
            linkLayout = .separateD2H
            names.append((.h2d, "H2D link (\(sim.linkName))"))
            names.append((.d2h, "D2H link"))
        } else {
            linkLayout = .oneCopyEngine
            names.append((.h2d, "H2D + D2H link (\(sim.linkName), one copy engine)"))
        }
        // Filled by experts a miss policy runs on the CPU (`--miss fiddler`, `hybrimoe`).
        names.append((.cpu, "CPU"))
        trackNames = names
    }

    /// A track's name in a few characters (SVG row labels).
    public func shortName(_ track: TimelineSlice.Track) -> String {
        switch track {
        case .passes: return "passes"
        case .gpu: return "GPU"
        case .h2d: return linkLayout == .storage ? "storage read" : (linkLayout == .oneCopyEngine ? "H2D + D2H" : "H2D")
        case .d2h: return "D2H"
        case .cpu: return "CPU"
        }
    }

    /// The recorded passes' slices on one track, in time order.
    public func slices(on track: TimelineSlice.Track) -> [TimelineSlice] { slices.filter { $0.track == track } }

    /// The passes actually recorded (empty when the run had fewer passes than `range.first`).
    public var recordedPasses: PassRange? {
        let last = min(range.last, passesSeen - 1)
        return last >= range.first ? PassRange(first: range.first, last: last) : nil
    }

    func layerName(_ layer: Int) -> String { layer >= 0 ? "L\(layer)" : "dense L\(-1 - layer)" }

    func expertName(key: Int) -> String { "L\(key / experts)/E\(key % experts)" }

    func partSuffix(_ part: Int) -> String { parts > 1 ? " part \(part + 1)/\(parts)" : "" }

    public func observe(_ event: SimulationEvent) {
        switch event {
        case let .passStarted(info):
            passesSeen = info.pass + 1
            recording = range.contains(info.pass)
            pass = info.pass
            requestID = info.requestID
            guard recording else { return }
            passSlice = slices.count
            let what = info.phase == .decode ? "decode" : "prefill \(info.tokens) tokens"
            slices.append(TimelineSlice(track: .passes, kind: .pass, name: "pass \(info.pass) (\(what), \(info.requestID))",
                                        start: info.time, end: info.time, pass: info.pass, requestID: info.requestID, tokens: info.tokens))
        case let .passEnded(_, _, end):
            guard recording, let i = passSlice else { return }
            slices[i].end = end
            passSlice = nil
        case let .compute(work):
            guard recording else { return }
            let name: String
            switch work.kind {
            case .attention: name = "attention \(layerName(work.layer))"
            case .denseFFN: name = "dense FFN \(layerName(work.layer))"
            case .sharedExperts: name = "shared experts \(layerName(work.layer))"
            case .expert:
                name = "expert L\(work.layer)/E\(work.expert)" + partSuffix(work.part)
                    + (work.substituteFor >= 0 ? " (in place of E\(work.substituteFor))" : "") + (work.lowPrecision ? " (low precision)" : "")
            case .passOverhead: name = "LM head + pass overhead"
            }
            slices.append(TimelineSlice(track: .gpu, kind: .compute(work.kind), name: name, start: work.start, end: work.end, pass: pass,
                                        requestID: requestID, layer: work.kind == .passOverhead ? nil : work.layer,
                                        expert: work.kind == .expert ? work.expert : nil, part: work.kind == .expert && parts > 1 ? work.part : nil,
                                        tokens: work.tokens))
        case let .stall(start, end, layer, expert, cause):
            guard recording else { return }
            let name: String
            switch cause {
            case .weights: name = "stall: waiting for L\(layer)/E\(expert)"
            case .previousPrefetches: name = "stall: waiting for the prefetches issued before L\(layer)"
            case .cpu: name = "stall: waiting for the CPU's experts of L\(layer)"
            case .host: name = layer >= 0 ? "idle: waiting for the host to issue L\(layer)" : "idle: waiting for the host"
            case .stream: name = "stall: copies queued before L\(layer) on the one stream"
            }
            slices.append(TimelineSlice(track: .gpu, kind: .stall(cause), name: name, start: start, end: end, pass: pass, requestID: requestID,
                                        layer: layer, expert: expert >= 0 ? expert : nil))
        case let .transferStarted(channel, transfer, start, end):
            guard recording else { return }
            let key = Int(transfer.key)
            let verb: String
            switch transfer.cause {
            case .onDemand: verb = "load"
            case .prefetch: verb = "prefetch"
            case .writeBack: verb = "write-back"
            }
            openTransfer[channel] = slices.count
            let low = transfer.cause == .onDemand && lowPrecisionLoad.contains(key)
            slices.append(TimelineSlice(track: channel == 0 ? .h2d : .d2h, kind: .transfer(transfer.cause),
                                        name: "\(verb) \(expertName(key: key))" + partSuffix(Int(transfer.part)) + (low ? " (low precision)" : ""), start: start, end: end,
                                        pass: pass, requestID: requestID, layer: key / experts, expert: key % experts,
                                        part: parts > 1 && !transfer.toHost ? Int(transfer.part) : nil, bytes: transfer.bytes,
                                        speculative: transfer.speculative))
        case let .cpuCompute(work):
            guard recording else { return }
            slices.append(TimelineSlice(track: .cpu, kind: .cpuExpert, name: "CPU expert L\(work.layer)/E\(work.expert)", start: work.start,
                                        end: work.end, pass: pass, requestID: requestID, layer: work.layer, expert: work.expert, tokens: work.tokens))
        case let .missServed(layer, expert, action, _, _) where action == .lowPrecision:
            lowPrecisionLoad.insert(layer * experts + expert)
        case let .transferEnded(channel, transfer, time, bytesMoved, preempted):
            if !preempted && !transfer.toHost && Int(transfer.part) == parts - 1 { lowPrecisionLoad.remove(Int(transfer.key)) }
            guard let i = openTransfer[channel] else { return }
            openTransfer[channel] = nil
            slices[i].end = time
            slices[i].bytes = bytesMoved
            if preempted {
                slices[i].preempted = true
                slices[i].name += " (preempted)"
            }
        default:
            return
        }
    }
}
