/// eMoE's periodic expert invocation (papers.md §2.4.3): requests are indexed 0, 1, 2, ... and the predictor runs
/// for every p-th (0, p, 2p, ...); the others are served with the experts already resident. eMoE-E invokes it for
/// every request (p = 1). The first request has nothing to predict from and loads all experts.
public struct PeriodicInvocation: Sendable, Equatable {
    public let period: Int

    public init(period: Int) throws {
        guard period >= 1 else { throw MoESimError(field: "--period", "expected at least 1 request, found \(period)") }
        self.period = period
    }

    @inline(__always) public func fires(requestIndex: Int) -> Bool { requestIndex % period == 0 }
}

/// The eMoE variants (papers.md §2.4.2).
public enum EMoEVariant: String, Sendable, CaseIterable {
    /// All layers of the next request at once, from the previous request's routing (Eq. 1).
    case allLayers = "emoe-a"
    /// Layer i from layer i-1 of the same request (layer 1 from the previous request's layer 1).
    case layerByLayer = "emoe-l"
    /// eMoE-A invoked for every request (the paper's ablation).
    case everyRequest = "emoe-e"
}

/// eMoE's published constants, each with its source.
public enum EMoEConstants {
    public static let period = Sourced(40, source: "papers.md §2.4.3: p = 40, chosen from Fig. 10 (perplexity flat for p = 20, 40; rising from 60)")
    /// Seconds per predictor call (prediction plus moving the predicted experts to the GPUs), Mixtral-8x7B.
    public static let callSecondsAllLayers = Sourced(0.334, source: "papers.md §2.4.3: eMoE-A, Mixtral-8x7B, ~0.334 s per call (prediction + moving experts)")
    public static let callSecondsLayerByLayer = Sourced(4.211, source: "papers.md §2.4.3: eMoE-L, Mixtral-8x7B, ~4.211 s per call (prediction + moving experts)")
    /// The paper measured call costs on Mixtral-8x7B (and OpenMoE) only; other models get these with a note.
    public static let callCostModel = "mixtral-8x7b"
    /// BERT-XLNet predictor size (0.108 B parameters), kept in fp16 on the GPU (0.24-1.3 % of the MoE model's memory).
    public static let predictorParams = Sourced(108_000_000.0, source: "papers.md §2.4.2 Table 2 (BERT-XLNet, 0.108B params) and 'uses only 0.24 %-1.3 % of the MoE model's memory'")
    /// G_i is reset to this fraction of its initial value when it reaches 0 before the request completes.
    public static let remainingResetFraction = Sourced(0.05, source: "papers.md §2.4.5: 'reset to a fraction (e.g. 5 %) of its initial value'")

    public static func callSeconds(_ variant: EMoEVariant) -> Sourced<Double> {
        variant == .layerByLayer ? callSecondsLayerByLayer : callSecondsAllLayers
    }
}
