/// Seconds for the pieces of one batched serving iteration on `gpus` identical devices, from the single-device
/// rooflines of `CostModel`.
///
/// Multi-GPU (eMoE ran 4x A100 40 GB, papers.md §2.2; its layout is unstated, §2.6): attention, router and LM head
/// are tensor-parallel (weights, KV reads and flops split evenly over the devices; the host's fixed per-layer,
/// per-expert and per-pass times, `CostModel.host*Seconds`, are paid once and in series with the GPU work here, as the
/// serving loop has no host timeline of its own yet). Experts are placed whole on one device each (`expert` parallelism:
/// a layer's expert phase lasts as long as its busiest device) or split over all devices (`tensor`). Expert
/// parallelism adds an all-to-all of the routed tokens' hidden states (dispatch and combine) over the peer link;
/// peer traffic uses the host-link bandwidth, an estimate for PCIe boards without NVLink. Every device has its
/// own host link, so loads onto different devices run in parallel. Link rates come from the engine's `LinkModel`
/// (pinned or pageable as the runtime says); serving does not yet model contention or write-backs on it.
public struct ServingCostModel: Sendable {
    public enum Parallelism: String, Sendable, CaseIterable { case expert, tensor }

    public let cost: CostModel
    public let gpus: Int
    public let parallelism: Parallelism
    public let h2dBytesPerSecond: Double
    public let peerBytesPerSecond: Double
    public let transferSetupSeconds: Double
    /// One expert's host-to-device copy onto its device (expert parallel) or, split, onto all of them (tensor).
    public let expertLoadSeconds: Double
    let hiddenBytesPerToken: Double
    let attentionOverheadSeconds: Double

    public init(cost: CostModel, gpus: Int, parallelism: Parallelism) throws {
        guard gpus >= 1 else { throw MoESimError(field: "--gpus", "expected at least 1 device, found \(gpus)") }
        guard cost.hardware.hostLink != nil else {
            throw MoESimError(field: "--hardware", "\(cost.hardware.name) has no host link (unified memory); serving offloads experts over one",
                              hint: "pick a discrete GPU, e.g. a100-40g-pcie")
        }
        self.cost = cost
        self.gpus = gpus
        self.parallelism = parallelism
        // The engine's link model: the pageable rate when the runtime's host copies are not pinned.
        let link = LinkModel(hardware: cost.hardware, pinnedHostCopies: cost.runtime.pinsHostMemory)
        h2dBytesPerSecond = link.h2dBytesPerSecond
        peerBytesPerSecond = link.h2dBytesPerSecond
        transferSetupSeconds = link.setupSeconds
        let n = Double(gpus)
        let bytes = Double(cost.expertBytes)
        expertLoadSeconds = parallelism == .expert || gpus == 1
            ? transferSetupSeconds + bytes / h2dBytesPerSecond
            : transferSetupSeconds + bytes / n / h2dBytesPerSecond
        hiddenBytesPerToken = Double(cost.model.hiddenSize) * CostModel.fp16Bytes
        attentionOverheadSeconds = cost.hostLayerSeconds
    }

    /// Attention, router and norms of one layer (tensor-parallel over the devices).
    @inline(__always) public func attentionSeconds(queryTokens: Int, attendedPositions: Int, kvTokensRead: Int) -> Double {
        let single = cost.attentionSeconds(queryTokens: queryTokens, attendedPositions: attendedPositions, kvTokensRead: kvTokensRead)
        return attentionOverheadSeconds + single / Double(gpus)
    }

    /// One expert applied to `tokens` tokens on its device (expert parallel) or on all devices at once (tensor).
    @inline(__always) public func expertSeconds(tokens: Int) -> Double {
        let single = cost.expertSeconds(tokens: tokens)
        guard parallelism == .tensor, gpus > 1 else { return cost.hostExpertSeconds + single }
        return cost.hostExpertSeconds + single / Double(gpus)
    }

    /// Dispatch and combine of `routedTokens` token-expert pairs over the peer links (expert parallel only):
    /// on average (gpus - 1) / gpus of them leave their device, and each device's share crosses its own link.
    @inline(__always) public func allToAllSeconds(routedTokens: Int) -> Double {
        guard parallelism == .expert, gpus > 1, routedTokens > 0 else { return 0 }
        let n = Double(gpus)
        let bytesPerDevice = 2 * Double(routedTokens) * hiddenBytesPerToken * (n - 1) / n / n
        return bytesPerDevice / peerBytesPerSecond
    }

    /// LM head for the tokens that produce logits, plus the per-pass overhead (tensor-parallel).
    @inline(__always) public func passSeconds(logitTokens: Int) -> Double {
        cost.hostPassSeconds + cost.lmHeadSeconds(logitTokens: logitTokens) / Double(gpus)
    }

    /// Which host link carries a load of an expert placed on `device` (one shared, n-times-wider link when split).
    @inline(__always) public func link(forDevice device: Int) -> Int { parallelism == .expert ? device : 0 }
}
